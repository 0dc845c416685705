package testnet

import (
	"bufio"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestSinks(t *testing.T) {
	tp := New(t)
	s := tp.StartSinks(t, []int{9999}, []int{9999})
	sink4 := netip.AddrPortFrom(ProxyClientSideIP, 9999).String()
	sink6 := netip.AddrPortFrom(ProxyClientSideIP6, 9999).String()

	// A TCP connection straight from the client: recorded with the
	// client's address and what it sent, answered SinkReply.
	c, err := tp.DialFrom(tp.Client, sink6, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("hello\nrest"))
	reply, err := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if err != nil || reply != SinkReply {
		t.Errorf("reply %q, %v; want %q", reply, err, SinkReply)
	}
	// A datagram from the client.
	err = InNS(tp.Client, func() error {
		u, err := net.Dial("udp", sink4)
		if err != nil {
			return err
		}
		defer u.Close()
		_, err = u.Write([]byte("dgram"))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// A connection made inside the proxy namespace: as a proxy there would.
	c, err = tp.DialFrom(tp.Proxy, sink4, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()

	if !s.Wait(3, 5*time.Second) {
		t.Fatalf("arrivals: %v, want 3", s.Arrivals())
	}
	s.Settle(5 * time.Second)
	got := s.Take()
	if len(got) != 3 {
		t.Fatalf("Take: %v, want 3 arrivals", got)
	}
	byTransport := map[string][]Arrival{}
	for _, a := range got {
		byTransport[a.Transport] = append(byTransport[a.Transport], a)
	}
	u := byTransport["udp"]
	if len(u) != 1 || !u[0].FromClient() || u[0].FromProxy() || u[0].Data != "dgram" || u[0].Sink.String() != sink4 || u[0].Source.Addr() != ClientIP {
		t.Errorf("udp arrivals %v", u)
	}
	var fromClient, fromProxy int
	for _, a := range byTransport["tcp"] {
		switch {
		case a.FromClient() && a.Source.Addr() == ClientIP6 && strings.HasPrefix(a.Data, "hello\n") && a.Sink.String() == sink6:
			fromClient++
		case a.FromProxy() && !a.FromClient() && a.Sink.String() == sink4:
			fromProxy++
		default:
			t.Errorf("unexpected arrival %v", a)
		}
	}
	if fromClient != 1 || fromProxy != 1 {
		t.Errorf("tcp arrivals %v: want one from the client, one from the proxy", byTransport["tcp"])
	}
	if again := s.Take(); len(again) != 0 {
		t.Errorf("second Take: %v", again)
	}
	if all := s.Arrivals(); len(all) != 3 {
		t.Errorf("Arrivals: %v", all)
	}
}
