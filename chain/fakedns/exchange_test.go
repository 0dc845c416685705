package fakedns

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// fakeNameserver is a DNS server on 127.0.0.1, UDP and TCP on one port.
// udp answers each UDP query (nil: no reply); tcp each TCP one.
type fakeNameserver struct {
	port             uint16
	udpHits, tcpHits atomic.Int32
}

func startNameserver(t *testing.T, udp func(q []byte) [][]byte, tcp func(q []byte) []byte) *fakeNameserver {
	t.Helper()
	var pc *net.UDPConn
	var ln *net.TCPListener
	for range 20 { // find a port free for both, a bounded number of tries
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: c.LocalAddr().(*net.UDPAddr).Port})
		if err != nil {
			c.Close()
			continue
		}
		pc, ln = c, l
		break
	}
	if pc == nil {
		t.Fatal("no port free for both UDP and TCP")
	}
	ns := &fakeNameserver{port: uint16(pc.LocalAddr().(*net.UDPAddr).Port)}
	done := make(chan struct{}, 2)
	t.Cleanup(func() { pc.Close(); ln.Close(); <-done; <-done })
	go func() {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 65535)
		for {
			n, src, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			ns.udpHits.Add(1)
			for _, r := range udp(append([]byte(nil), buf[:n]...)) {
				pc.WriteToUDPAddrPort(r, src)
			}
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ns.tcpHits.Add(1)
			c.SetDeadline(time.Now().Add(5 * time.Second))
			q, err := readTCPMsg(c, nil)
			if err == nil {
				r := tcp(q)
				c.Write(append([]byte{byte(len(r) >> 8), byte(len(r))}, r...))
			}
			c.Close()
		}
	}()
	return ns
}

func reply(t *testing.T, q []byte, rcode dnsmessage.RCode, data ...string) []byte {
	t.Helper()
	b, err := upstreamReply(q, rcode, data...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testSystem(t *testing.T, resolvConf string, port uint16) *systemExchanger {
	ex := NewSystemExchanger(writeFile(t, "resolv.conf", resolvConf)).(*systemExchanger)
	ex.port = port
	ex.timeout = 300 * time.Millisecond
	return ex
}

func TestSystemExchangerUDP(t *testing.T) {
	ns := startNameserver(t, func(q []byte) [][]byte {
		wrongID := reply(t, q, 0, "203.0.113.66")
		wrongID[0] ^= 0xff
		return [][]byte{wrongID, reply(t, q, 0, "203.0.113.1")}
	}, func(q []byte) []byte { return reply(t, q, 0, "203.0.113.2") })
	ex := testSystem(t, "# comment\noptions ndots:1\nnameserver 127.0.0.1\n", ns.port)
	got, err := ex.Exchange(context.Background(), makeQuery(t, 42, "a.example.", dnsmessage.TypeA, false))
	if err != nil {
		t.Fatal(err)
	}
	m := parseMsg(t, got)
	if m.Header.ID != 42 || strings.Join(answerTexts(m), ",") != "203.0.113.1" {
		t.Errorf("reply %+v: want ID 42 and the UDP answer (the wrong ID skipped)", m)
	}
	if ns.tcpHits.Load() != 0 {
		t.Error("TCP used for an untruncated reply")
	}
}

func TestSystemExchangerTruncatedFallsBackToTCP(t *testing.T) {
	ns := startNameserver(t, func(q []byte) [][]byte {
		r := reply(t, q, 0)
		r[2] |= 0x02 // TC
		return [][]byte{r}
	}, func(q []byte) []byte { return reply(t, q, 0, "203.0.113.2", "203.0.113.3") })
	ex := testSystem(t, "nameserver 127.0.0.1\n", ns.port)
	got, err := ex.Exchange(context.Background(), makeQuery(t, 43, "big.example.", dnsmessage.TypeA, false))
	if err != nil {
		t.Fatal(err)
	}
	if m := parseMsg(t, got); m.Header.Truncated || strings.Join(answerTexts(m), ",") != "203.0.113.2,203.0.113.3" {
		t.Errorf("reply %+v: want the TCP answer", m)
	}
	if ns.udpHits.Load() != 1 || ns.tcpHits.Load() != 1 {
		t.Errorf("%d UDP and %d TCP queries, want 1 each", ns.udpHits.Load(), ns.tcpHits.Load())
	}
}

func TestSystemExchangerNextServer(t *testing.T) {
	// The first server (127.0.0.2, nothing listening: ECONNREFUSED) and
	// the second (SERVFAIL) give way to the third.
	var calls atomic.Int32
	var allFail atomic.Bool
	ns := startNameserver(t, func(q []byte) [][]byte {
		if calls.Add(1) == 1 || allFail.Load() {
			return [][]byte{reply(t, q, dnsmessage.RCodeServerFailure)}
		}
		return [][]byte{reply(t, q, 0, "203.0.113.9")}
	}, nil)
	ex := testSystem(t, "nameserver 127.0.0.2\nnameserver 127.0.0.1\nnameserver 127.0.0.1\nnameserver 127.0.0.3\n", ns.port)
	got, err := ex.Exchange(context.Background(), makeQuery(t, 44, "a.example.", dnsmessage.TypeA, false))
	if err != nil {
		t.Fatal(err)
	}
	if m := parseMsg(t, got); m.Header.RCode != 0 || answerTexts(m)[0] != "203.0.113.9" {
		t.Errorf("reply %+v", m)
	}

	// Only SERVFAIL: it is the answer.
	allFail.Store(true)
	ex = testSystem(t, "nameserver 127.0.0.1\n", ns.port)
	got, err = ex.Exchange(context.Background(), makeQuery(t, 45, "a.example.", dnsmessage.TypeA, false))
	if err != nil || parseMsg(t, got).Header.RCode != dnsmessage.RCodeServerFailure {
		t.Errorf("only SERVFAIL: %v", err)
	}
}

func TestSystemExchangerTimeout(t *testing.T) {
	ns := startNameserver(t, func([]byte) [][]byte { return nil }, nil)
	ex := testSystem(t, "nameserver 127.0.0.1\nnameserver 127.0.0.1\n", ns.port)
	start := time.Now()
	_, err := ex.Exchange(context.Background(), makeQuery(t, 46, "a.example.", dnsmessage.TypeA, false))
	if err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want a timeout", err)
	}
	if el := time.Since(start); el < 500*time.Millisecond || el > 3*time.Second {
		t.Errorf("two servers of 300 ms took %v", el)
	}
	if ns.udpHits.Load() != 2 {
		t.Errorf("%d queries, want one per server", ns.udpHits.Load())
	}
	// The caller's context bounds it too.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := ex.Exchange(ctx, makeQuery(t, 47, "a.example.", dnsmessage.TypeA, false)); err == nil || time.Since(start) > time.Second {
		t.Errorf("cancelled: err %v after %v", err, time.Since(start))
	}
}

func TestReadNameservers(t *testing.T) {
	p := writeFile(t, "resolv.conf", "search lan\nnameserver 10.0.0.1\nnameserver bogus\nnameserver fe80::1%eth0\n nameserver ::ffff:10.0.0.2\nnameserver 10.0.0.3\nnameserver 10.0.0.4\n")
	got, err := readNameservers(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.1", "fe80::1%eth0", "10.0.0.2"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("server %d = %v, want %v", i, got[i], want[i])
		}
	}
	empty, err := readNameservers(writeFile(t, "resolv.conf", "search lan\n"))
	if err != nil || len(empty) != 2 || !empty[0].IsLoopback() || !empty[1].IsLoopback() {
		t.Errorf("no nameserver: %v %v, want the loopback addresses", empty, err)
	}
}

func TestTCPExchanger(t *testing.T) {
	ns := startNameserver(t, nil, func(q []byte) []byte { return reply(t, q, 0, "203.0.113.4") })
	dialed := 0
	ex := &TCPExchanger{Dial: func(ctx context.Context) (net.Conn, error) {
		dialed++
		var d net.Dialer
		return d.DialContext(ctx, "tcp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), ns.port).String())
	}}
	for id := range uint16(3) {
		got, err := ex.Exchange(context.Background(), makeQuery(t, id, "t.example.", dnsmessage.TypeA, false))
		if err != nil {
			t.Fatal(err)
		}
		if m := parseMsg(t, got); m.Header.ID != id || answerTexts(m)[0] != "203.0.113.4" {
			t.Errorf("reply %+v", m)
		}
	}
	if dialed != 3 {
		t.Errorf("%d dials for 3 queries, want one each", dialed)
	}

	// A server that never answers: the context bounds the wait.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	silent := &TCPExchanger{Dial: func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", ln.Addr().String())
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := silent.Exchange(ctx, makeQuery(t, 9, "t.example.", dnsmessage.TypeA, false)); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("silent server: %v after %v", err, time.Since(start))
	}

	// Replies that are not ours.
	for name, bad := range map[string]func([]byte) []byte{
		"wrong ID": func(q []byte) []byte { r := reply(t, q, 0); r[1] ^= 1; return r },
		"no QR":    func(q []byte) []byte { r := reply(t, q, 0); r[2] &^= 0x80; return r },
		"short":    func([]byte) []byte { return []byte{1, 2, 3} },
	} {
		c1, c2 := net.Pipe()
		go func() {
			defer c2.Close()
			c2.SetDeadline(time.Now().Add(2 * time.Second))
			q, err := readTCPMsg(c2, nil)
			if err != nil {
				return
			}
			r := bad(q)
			c2.Write(append([]byte{byte(len(r) >> 8), byte(len(r))}, r...))
		}()
		ex := &TCPExchanger{Dial: func(context.Context) (net.Conn, error) { return c1, nil }}
		if _, err := ex.Exchange(context.Background(), makeQuery(t, 5, "t.example.", dnsmessage.TypeA, false)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := (&TCPExchanger{}).Exchange(context.Background(), nil); err == nil {
		t.Error("no Dial: accepted")
	}
}
