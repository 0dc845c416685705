package fakedns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sys/unix"
)

// testServer returns a server over a test resolver; it is closed when the
// test ends.
func testServer(t *testing.T, edit func(*Config)) *Server {
	t.Helper()
	r, _ := testResolver(t, edit)
	s := NewServer(r, t.Logf)
	t.Cleanup(func() { s.Close() })
	return s
}

// hasIPv6Loopback reports whether ::1 can be listened on.
func hasIPv6Loopback() bool {
	c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// udpAsk sends query to ep from a new unconnected loopback socket and
// returns the reply and where it came from.
func udpAsk(t *testing.T, ep netip.AddrPort, query []byte) ([]byte, netip.AddrPort) {
	t.Helper()
	network, local := "udp4", netip.MustParseAddr("127.0.0.1")
	if ep.Addr().Is6() && !ep.Addr().Is4In6() {
		network, local = "udp6", netip.IPv6Loopback()
	}
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.WriteToUDPAddrPort(query, ep); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 65535)
	n, src, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("no reply from %v: %v", ep, err)
	}
	return buf[:n], src
}

func TestServerUDP(t *testing.T) {
	s := testServer(t, nil)
	ns := netip.MustParseAddrPort("192.0.2.53:53") // a key only: nothing is sent there
	ns6 := netip.MustParseAddrPort("[2001:db8::53]:53")
	if _, ok := s.Nameserver(netip.MustParseAddrPort("127.0.0.1:53")); ok {
		t.Error("Nameserver before any listener is ok")
	}
	e4, err := s.UDPEndpoint(ns, unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	e6, err := s.UDPEndpoint(ns, unix.AF_INET6)
	if err != nil {
		t.Fatal(err)
	}
	if e4.Addr() != netip.MustParseAddr("127.0.0.1") || !e6.Addr().Is6() {
		t.Errorf("endpoints %v %v", e4, e6)
	}
	if again, _ := s.UDPEndpoint(ns, unix.AF_INET); again != e4 {
		t.Errorf("same nameserver, new endpoint %v (had %v)", again, e4)
	}
	o4, err := s.UDPEndpoint(ns6, unix.AF_INET)
	if err != nil || o4 == e4 {
		t.Errorf("another nameserver: %v %v, want a listener of its own", o4, err)
	}
	for ep, want := range map[netip.AddrPort]netip.AddrPort{
		e4: ns, e6: ns, o4: ns6,
		netip.AddrPortFrom(netip.AddrFrom16(e4.Addr().As16()), e4.Port()): ns,
	} {
		if got, ok := s.Nameserver(ep); !ok || got != want {
			t.Errorf("Nameserver(%v) = %v %v, want %v", ep, got, ok, want)
		}
	}
	if _, ok := s.Nameserver(netip.AddrPortFrom(e4.Addr(), e4.Port()+1000)); ok {
		t.Error("Nameserver of an unknown port is ok")
	}
	if _, err := s.UDPEndpoint(ns, unix.AF_UNIX); err == nil {
		t.Error("AF_UNIX endpoint")
	}

	eps := []netip.AddrPort{e4, o4}
	if hasIPv6Loopback() {
		eps = append(eps, e6)
	} else {
		t.Log("no ::1: IPv6 endpoint not queried")
	}
	for i, ep := range eps {
		id := uint16(100 + i)
		got, src := udpAsk(t, ep, makeQuery(t, id, "Example.com.", dnsmessage.TypeA, false))
		if src != ep {
			t.Errorf("reply from %v, want the listener %v", src, ep)
		}
		m := parseMsg(t, got)
		if m.Header.ID != id || len(m.Answers) != 1 || answerTexts(m)[0] != fakeOf(t, "example.com", false) {
			t.Errorf("reply %+v", m)
		}
	}
}

func TestServerMaxNameservers(t *testing.T) {
	s := testServer(t, nil)
	for i := range MaxNameservers {
		if _, err := s.UDPEndpoint(netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 53), unix.AF_INET); err != nil {
			t.Fatalf("nameserver %d: %v", i, err)
		}
	}
	if _, err := s.UDPEndpoint(netip.MustParseAddrPort("198.51.100.1:53"), unix.AF_INET); err == nil {
		t.Error("nameserver 65 accepted")
	}
	if _, err := s.UDPEndpoint(netip.MustParseAddrPort("192.0.2.0:53"), unix.AF_INET6); err != nil {
		t.Errorf("a known nameserver after the limit: %v", err)
	}
}

// tcpWrite writes the messages, length-prefixed, in one write.
func tcpWrite(t *testing.T, c net.Conn, msgs ...[]byte) {
	t.Helper()
	var out []byte
	for _, q := range msgs {
		out = binary.BigEndian.AppendUint16(out, uint16(len(q)))
		out = append(out, q...)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
}

// tcpRead reads n replies.
func tcpRead(t *testing.T, c net.Conn, n int) []dnsmessage.Message {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var ms []dnsmessage.Message
	for range n {
		r, err := readTCPMsg(c, nil)
		if err != nil {
			t.Fatalf("reading reply %d: %v", len(ms), err)
		}
		ms = append(ms, parseMsg(t, r))
	}
	return ms
}

// tcpAsk writes the queries in one write and reads as many replies.
func tcpAsk(t *testing.T, c net.Conn, queries ...[]byte) []dnsmessage.Message {
	t.Helper()
	tcpWrite(t, c, queries...)
	return tcpRead(t, c, len(queries))
}

func TestServerTCPPipelined(t *testing.T) {
	s := testServer(t, nil)
	fams := []int{unix.AF_INET}
	if hasIPv6Loopback() {
		fams = append(fams, unix.AF_INET6)
	}
	for _, fam := range fams {
		ep, err := s.TCPEndpoint(fam)
		if err != nil {
			t.Fatal(err)
		}
		if again, _ := s.TCPEndpoint(fam); again != ep {
			t.Errorf("second TCPEndpoint %v, want %v", again, ep)
		}
		c, err := net.Dial("tcp", ep.String())
		if err != nil {
			t.Fatal(err)
		}
		var qs [][]byte
		for i := range 6 {
			qs = append(qs, makeQuery(t, uint16(i+1), fmt.Sprintf("h%d.example.", i), dnsmessage.TypeA, i%2 == 0))
		}
		// A message that is not a query is skipped, not answered.
		resp := makeQuery(t, 99, "x.example.", dnsmessage.TypeA, false)
		resp[2] |= 0x80
		tcpWrite(t, c, qs[0], qs[1], qs[2], resp, qs[3], qs[4], qs[5])
		for i, m := range tcpRead(t, c, len(qs)) {
			if m.Header.ID != uint16(i+1) || answerTexts(m)[0] != fakeOf(t, fmt.Sprintf("h%d.example", i), false) {
				t.Errorf("family %d reply %d: %+v", fam, i, m)
			}
		}
		c.Close()
	}
	if _, err := s.TCPEndpoint(unix.AF_UNIX); err == nil {
		t.Error("AF_UNIX TCP endpoint")
	}
}

func TestServerTCPIdleAndLimit(t *testing.T) {
	s := testServer(t, nil)
	s.idle = 200 * time.Millisecond
	ep, err := s.TCPEndpoint(unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	// An idle connection is closed.
	c, err := net.Dial("tcp", ep.String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := c.Read(make([]byte, 1)); err != io.EOF || time.Since(start) > 3*time.Second {
		t.Errorf("idle connection: %v after %v, want EOF after 200 ms", err, time.Since(start))
	}
	c.Close()

	// A server of its own: idle is read by the serving goroutines.
	s = testServer(t, nil)
	if ep, err = s.TCPEndpoint(unix.AF_INET); err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range maxTCPConns {
		c, err := net.Dial("tcp", ep.String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		tcpAsk(t, c, makeQuery(t, uint16(i), "a.example.", dnsmessage.TypeA, false)) // served
	}
	extra, err := net.Dial("tcp", ep.String())
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	extra.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := extra.Read(make([]byte, 1)); err == nil {
		t.Error("connection 65 served")
	}
}

// bigTunnel answers every query with 60 A records (over 512 bytes).
func bigTunnel(c *Config) {
	var data []string
	for i := range 60 {
		data = append(data, fmt.Sprintf("203.0.113.%d", i))
	}
	c.Tunnel = answering(data...)
}

func TestServerTruncates(t *testing.T) {
	s := testServer(t, bigTunnel)
	ep, err := s.UDPEndpoint(netip.MustParseAddrPort("192.0.2.1:53"), unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := udpAsk(t, ep, makeQuery(t, 1, "big.example.", dnsmessage.TypeMX, false))
	if m := parseMsg(t, got); !m.Header.Truncated || len(m.Answers) != 0 || len(m.Questions) != 1 || m.Header.ID != 1 || len(got) > 512 {
		t.Errorf("UDP without EDNS: %d bytes, %+v; want TC and no answers", len(got), m.Header)
	}
	got, _ = udpAsk(t, ep, makeQuery(t, 2, "big.example.", dnsmessage.TypeMX, true))
	if m := parseMsg(t, got); m.Header.Truncated || len(m.Answers) != 60 {
		t.Errorf("UDP with EDNS 4096: TC %v, %d answers", m.Header.Truncated, len(m.Answers))
	}
	tep, _ := s.TCPEndpoint(unix.AF_INET)
	c, err := net.Dial("tcp", tep.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if m := tcpAsk(t, c, makeQuery(t, 3, "big.example.", dnsmessage.TypeMX, false))[0]; m.Header.Truncated || len(m.Answers) != 60 {
		t.Errorf("TCP: TC %v, %d answers", m.Header.Truncated, len(m.Answers))
	}
}

// blockingTunnel returns a config edit whose tunnel blocks until release
// is closed or the query's context ends.
func blockingTunnel(release chan struct{}) func(*Config) {
	return func(c *Config) {
		c.Tunnel = &fakeExchanger{fn: func(ctx context.Context, q []byte) ([]byte, error) {
			select {
			case <-release:
				return upstreamReply(q, dnsmessage.RCodeSuccess, "203.0.113.1")
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}}
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func TestServerFloodBounded(t *testing.T) {
	release := make(chan struct{})
	s := testServer(t, blockingTunnel(release))
	ep, err := s.UDPEndpoint(netip.MustParseAddrPort("192.0.2.1:53"), unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	baseG, baseHeap := runtime.NumGoroutine(), heapAlloc()

	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const packets = 20000
	deadline := time.Now().Add(20 * time.Second)
	peak := 0
	for i := range packets {
		if time.Now().After(deadline) {
			t.Fatalf("flood too slow: %d packets sent", i)
		}
		// MX goes to the tunnel, which blocks: every query stays in flight.
		if _, err := c.WriteToUDPAddrPort(makeQuery(t, uint16(i), fmt.Sprintf("f%d.example.", i), dnsmessage.TypeMX, false), ep); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 0 {
			peak = max(peak, runtime.NumGoroutine())
		}
	}
	// Let the listener drain its socket buffer.
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end) && len(s.sem) < maxUDPInFlight; {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	peak = max(peak, runtime.NumGoroutine())
	if held := int64(heapAlloc()) - int64(baseHeap); held > 16<<20 {
		t.Errorf("heap holds %d bytes more with the queries in flight", held)
	} else {
		t.Logf("heap holds %d bytes more with the queries in flight", held)
	}
	if peak > baseG+maxUDPInFlight+16 {
		t.Errorf("%d goroutines at the peak, %d before: the in-flight bound does not hold", peak, baseG)
	}
	if s.Drops() == 0 {
		t.Error("no drops counted while the tunnel blocked")
	}
	t.Logf("goroutines %d -> peak %d; %d dropped by the server", baseG, peak, s.Drops())

	close(release)
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end) && len(s.sem) > 0; {
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(s.sem); n != 0 {
		t.Fatalf("%d queries still in flight after the release", n)
	}
	if grown := int64(heapAlloc()) - int64(baseHeap); grown > 8<<20 {
		t.Errorf("heap grew by %d bytes over the flood", grown)
	} else {
		t.Logf("heap %d -> %d bytes", baseHeap, baseHeap+uint64(grown))
	}
	// Still serving.
	if got, _ := udpAsk(t, ep, makeQuery(t, 7, "after.example.", dnsmessage.TypeA, false)); parseMsg(t, got).Header.ID != 7 {
		t.Error("no answer after the flood")
	}
}

func TestServerCloseLeavesNoGoroutines(t *testing.T) {
	base := runtime.NumGoroutine()
	release := make(chan struct{}) // never closed: Close must cancel
	r, _ := testResolver(t, blockingTunnel(release))
	s := NewServer(r, t.Logf)
	ep, err := s.UDPEndpoint(netip.MustParseAddrPort("192.0.2.1:53"), unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	tep, err := s.TCPEndpoint(unix.AF_INET6)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.TCPEndpoint(unix.AF_INET); err != nil {
		t.Fatal(err)
	}
	// A UDP query stuck upstream, and an open TCP connection.
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	c.WriteToUDPAddrPort(makeQuery(t, 1, "stuck.example.", dnsmessage.TypeMX, false), ep)
	tc, err := net.Dial("tcp", tep.String())
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(5 * time.Second); len(s.sem) == 0 && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs")
	}
	c.Close()
	tc.Close()
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.UDPEndpoint(netip.MustParseAddrPort("192.0.2.9:53"), unix.AF_INET); !errors.Is(err, errClosed) {
		t.Errorf("UDPEndpoint after Close: %v", err)
	}
	if _, err := s.TCPEndpoint(unix.AF_INET); !errors.Is(err, errClosed) {
		t.Errorf("TCPEndpoint after Close: %v", err)
	}
	n := 0
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if n = runtime.NumGoroutine(); n <= base {
			return
		}
	}
	buf := make([]byte, 1<<16)
	t.Errorf("%d goroutines after Close, %d before:\n%s", n, base, buf[:runtime.Stack(buf, true)])
}

func TestServerNameserverDoesNotAllocate(t *testing.T) {
	s := testServer(t, nil)
	ep, err := s.UDPEndpoint(netip.MustParseAddrPort("192.0.2.1:53"), unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	mapped := netip.AddrPortFrom(netip.AddrFrom16(ep.Addr().As16()), ep.Port())
	if allocs := testing.AllocsPerRun(100, func() { s.Nameserver(ep); s.Nameserver(mapped) }); allocs != 0 {
		t.Errorf("Nameserver allocates %v times", allocs)
	}
}
