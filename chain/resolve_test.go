package chain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chainrun/chainrun/internal/socksserver"
	"github.com/chainrun/chainrun/socks"
)

// mapResolver answers RESOLVE and RESOLVE_PTR from maps, as a Tor exit
// would; anything else is "no such host".
type mapResolver struct {
	ips   map[string][]netip.Addr
	names map[string][]string
}

func (r *mapResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if ips, ok := r.ips[host]; ok {
		return ips, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (r *mapResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	if names, ok := r.names[addr]; ok {
		return names, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}
}

// lines collects a server's log lines.
type lines struct {
	mu  sync.Mutex
	all []string
}

func (l *lines) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, fmt.Sprintf(format, args...))
}

// waitFor waits until a line contains all of want and returns it.
func (l *lines) waitFor(t *testing.T, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		for _, line := range l.all {
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(line, w)
			}
			if ok {
				l.mu.Unlock()
				return line
			}
		}
		l.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Fatalf("no log line with %q; lines:\n%s", want, strings.Join(l.all, "\n"))
	return ""
}

// startSOCKS runs an in-process chainrun serve engine on loopback and
// returns its address and log.
func startSOCKS(t *testing.T, s *socksserver.Server) (string, *lines) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log := &lines{}
	s.Logf = log.logf
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("server did not stop")
		}
	})
	return ln.Addr().String(), log
}

func mustProxy(t *testing.T, raw string) *Proxy {
	t.Helper()
	p, err := ParseProxy(raw)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// openSockets counts this process's open sockets.
func openSockets(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n
}

// TestResolveTwoHops resolves through a chain of two in-process servers:
// the first connects onward, the second (the "Tor" hop, with credentials)
// answers RESOLVE and RESOLVE_PTR.
func TestResolveTwoHops(t *testing.T) {
	res := &mapResolver{
		ips: map[string][]netip.Addr{
			"host.test": {netip.MustParseAddr("2001:db8::7"), netip.MustParseAddr("192.0.2.7")},
			"v6.test":   {netip.MustParseAddr("2001:db8::8")},
		},
		names: map[string][]string{"192.0.2.7": {"host.test."}},
	}
	hop1, log1 := startSOCKS(t, &socksserver.Server{})
	hop2, log2 := startSOCKS(t, &socksserver.Server{
		Resolver: res,
		Auth: &socks.ServerConfig{
			Credentials: func(u, p string) bool { return u == "tor" && p == "isolate" },
			RequireAuth: true,
		},
	})
	d := &Dialer{Chain: []*Proxy{
		mustProxy(t, "socks5://"+hop1),
		mustProxy(t, "socks5h://tor:isolate@"+hop2),
	}}
	ctx := context.Background()
	fds := openSockets(t)

	ip, err := d.Resolve(ctx, "host.test")
	if err != nil || ip != netip.MustParseAddr("192.0.2.7") {
		t.Fatalf("Resolve(host.test) = %v, %v; want 192.0.2.7", ip, err)
	}
	log2.waitFor(t, "user=tor", "dst=host.test", `result="RESOLVE ok: 192.0.2.7"`)
	log1.waitFor(t, "dst="+hop2, `result="ok"`) // hop 1 relayed to hop 2

	if ip, err := d.Resolve(ctx, "v6.test"); err != nil || ip != netip.MustParseAddr("2001:db8::8") {
		t.Errorf("Resolve(v6.test) = %v, %v; want 2001:db8::8", ip, err)
	}
	if name, err := d.ResolvePTR(ctx, netip.MustParseAddr("192.0.2.7")); err != nil || name != "host.test" {
		t.Errorf("ResolvePTR(192.0.2.7) = %q, %v; want host.test", name, err)
	}
	log2.waitFor(t, "dst=192.0.2.7", `result="RESOLVE_PTR ok: host.test"`)

	// A name the last hop cannot resolve: its refusal, naming it.
	_, err = d.Resolve(ctx, "missing.test")
	var re *socks.ReplyError
	if !errors.As(err, &re) || re.Reply != socks.StatusHostUnreachable || Errno(err) != syscall.EHOSTUNREACH {
		t.Errorf("Resolve(missing.test): %v, want reply 0x04 (EHOSTUNREACH)", err)
	}
	if err != nil && !strings.HasPrefix(err.Error(), "hop 2 (socks5h://tor:***@") {
		t.Errorf("error %q should name hop 2 and hide its password", err)
	}
	if _, err := d.ResolvePTR(ctx, netip.MustParseAddr("192.0.2.99")); Errno(err) != syscall.EHOSTUNREACH {
		t.Errorf("ResolvePTR(192.0.2.99): %v, want EHOSTUNREACH", err)
	}

	// Every socket of its own is closed again (and the servers' ones).
	deadline := time.Now().Add(5 * time.Second)
	for openSockets(t) > fds && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // the servers' side closes as they log
	}
	if n := openSockets(t); n > fds {
		t.Errorf("%d sockets open after the lookups, %d before", n, fds)

	}
}

// TestResolveLocalhostThroughChain has the last hop use its default
// resolver on "localhost", which /etc/hosts answers.
func TestResolveLocalhostThroughChain(t *testing.T) {
	hop1, _ := startSOCKS(t, &socksserver.Server{})
	hop2, _ := startSOCKS(t, &socksserver.Server{})
	d := &Dialer{Chain: []*Proxy{mustProxy(t, "socks5://"+hop1), mustProxy(t, "socks5://"+hop2)}}
	ip, err := d.Resolve(context.Background(), "localhost")
	if err != nil || !ip.IsLoopback() {
		t.Fatalf("Resolve(localhost) = %v, %v; want a loopback address", ip, err)
	}
}

func TestResolveNeedsSOCKS5LastHop(t *testing.T) {
	hop1, log1 := startSOCKS(t, &socksserver.Server{})
	for _, last := range []string{"http://127.0.0.1:3128", "socks4a://127.0.0.1:1081", "socks4://127.0.0.1:1082"} {
		d := &Dialer{Chain: []*Proxy{mustProxy(t, "socks5://"+hop1), mustProxy(t, last)}}
		scheme := last[:strings.Index(last, ":")]
		_, err := d.Resolve(context.Background(), "host.test")
		if !errors.Is(err, syscall.EPROTONOSUPPORT) || Errno(err) != syscall.EPROTONOSUPPORT {
			t.Errorf("%s last: err = %v, want EPROTONOSUPPORT", scheme, err)
		}
		want := "dns = tor-resolve needs a SOCKS5 last hop (Tor's SocksPort), hop 2 is " + scheme + " (" + last + ")"
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s last: err = %v, want it to start with %q", scheme, err, want)
		}
		if _, err := d.ResolvePTR(context.Background(), netip.MustParseAddr("192.0.2.7")); !errors.Is(err, syscall.EPROTONOSUPPORT) {
			t.Errorf("%s last: ResolvePTR err = %v, want EPROTONOSUPPORT", scheme, err)
		}
	}
	// Refused before any connection: the first hop never saw a client.
	time.Sleep(50 * time.Millisecond)
	log1.mu.Lock()
	defer log1.mu.Unlock()
	if len(log1.all) != 0 {
		t.Errorf("hop 1 was contacted: %q", log1.all)
	}
}

func TestResolveInvalidArguments(t *testing.T) {
	d := &Dialer{Chain: []*Proxy{mustProxy(t, "socks5://127.0.0.1:9")}}
	for _, name := range []string{"", strings.Repeat("a", 256)} {
		if _, err := d.Resolve(context.Background(), name); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("Resolve(%d bytes): %v, want EINVAL", len(name), err)
		}
	}
	if _, err := d.ResolvePTR(context.Background(), netip.Addr{}); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("ResolvePTR(invalid): %v, want EINVAL", err)
	}
	if _, err := (&Dialer{}).Resolve(context.Background(), "host.test"); Errno(err) != syscall.ECONNREFUSED {
		t.Errorf("Resolve without a chain: %v, want ECONNREFUSED", err)
	}
}

// TestResolveModes checks that a lookup goes through the chain as a
// connection would: strict fails at a hop that is down, dynamic skips it.
func TestResolveModes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close() // nobody listens there now
	res := &mapResolver{ips: map[string][]netip.Addr{"host.test": {netip.MustParseAddr("192.0.2.7")}}}
	tor, _ := startSOCKS(t, &socksserver.Server{Resolver: res})
	chain := func() []*Proxy {
		return []*Proxy{mustProxy(t, "socks5://"+down), mustProxy(t, "socks5://"+tor)}
	}

	strict := &Dialer{Chain: chain()}
	if _, err := strict.Resolve(context.Background(), "host.test"); Errno(err) != syscall.ECONNREFUSED ||
		!strings.HasPrefix(err.Error(), "hop 1 (socks5://"+down+")") {
		t.Errorf("strict with hop 1 down: %v, want hop 1 and ECONNREFUSED", err)
	}

	dynamic := &Dialer{Chain: chain(), Mode: Dynamic}
	for i := range 2 { // the second time, hop 1 is known to be down
		if ip, err := dynamic.Resolve(context.Background(), "host.test"); err != nil || ip != netip.MustParseAddr("192.0.2.7") {
			t.Errorf("dynamic #%d with hop 1 down: %v, %v; want 192.0.2.7", i+1, ip, err)
		}
	}
}

// TestResolveTimeouts checks that a mute last hop is bounded by
// ReadTimeout, and a cancelled ctx ends the lookup.
func TestResolveTimeouts(t *testing.T) {
	hop1, _ := startSOCKS(t, &socksserver.Server{})
	mute := startFake(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	d := &Dialer{
		Chain:       []*Proxy{mustProxy(t, "socks5://"+hop1), mustProxy(t, "socks5://"+mute.addr.String())},
		ReadTimeout: 300 * time.Millisecond,
	}
	start := time.Now()
	_, err := d.Resolve(context.Background(), "host.test")
	if Errno(err) != syscall.ETIMEDOUT || !strings.HasPrefix(fmt.Sprint(err), "hop 2 ") {
		t.Errorf("mute last hop: %v (%v), want hop 2 and ETIMEDOUT", err, Errno(err))
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("mute last hop: took %v with a 300ms read timeout", el)
	}

	d.ReadTimeout = 0
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	if _, err := d.ResolvePTR(ctx, netip.MustParseAddr("192.0.2.7")); err == nil || time.Since(start) > 3*time.Second {
		t.Errorf("cancelled: %v after %v", err, time.Since(start))
	}
}
