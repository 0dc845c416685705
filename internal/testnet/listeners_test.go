package testnet

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestListeners, on loopback: one port for UDP and TCP, replies to
// datagrams, at most maxServedConns connections served at once, and close
// ending the connections still open.
func TestListeners(t *testing.T) {
	l, err := listen("", []endpoint{{addr: netip.MustParseAddrPort("127.0.0.1:0"), udp: true, tcp: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	udpAddr, tcpAddr := addrPortOf(l.udp[0].LocalAddr()), addrPortOf(l.tcp[0].Addr())
	if udpAddr != tcpAddr || udpAddr.Port() == 0 {
		t.Fatalf("UDP on %s, TCP on %s: want one port", udpAddr, tcpAddr)
	}
	served := make(chan struct{}, maxServedConns+1)
	l.serve(func(server, from netip.AddrPort, msg []byte) []byte {
		return append([]byte("re: "), msg...)
	}, func(c net.Conn) {
		served <- struct{}{}
		c.Read(make([]byte, 1)) // until the client or close ends it
	})

	u, err := net.Dial("udp", udpAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.SetDeadline(time.Now().Add(5 * time.Second))
	u.Write([]byte("ping"))
	buf := make([]byte, 64)
	if n, err := u.Read(buf); err != nil || !bytes.Equal(buf[:n], []byte("re: ping")) {
		t.Errorf("UDP reply %q, %v", buf[:n], err)
	}

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < maxServedConns+1; i++ {
		c, err := net.DialTimeout("tcp", tcpAddr.String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for i := 0; i < maxServedConns; i++ {
		select {
		case <-served:
		case <-time.After(5 * time.Second):
			t.Fatalf("%d connections served, want %d", i, maxServedConns)
		}
	}
	select {
	case <-served:
		t.Fatalf("more than %d connections served at once", maxServedConns)
	case <-time.After(100 * time.Millisecond):
	}
	if n := l.active(); n != maxServedConns {
		t.Errorf("active() = %d, want %d", n, maxServedConns)
	}
	conns[0].Close() // one ends: the last one is served
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatalf("the connection over the bound was not served once a slot was free")
	}

	start := time.Now()
	l.close()
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("close took %v", el)
	}
	if n := l.active(); n != 0 {
		t.Errorf("active() = %d after close", n)
	}
	conns[1].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conns[1].Read(buf); err == nil {
		t.Errorf("connection still open after close")
	}
}
