package chain

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chainrun/chainrun/internal/socksserver"
	"github.com/chainrun/chainrun/socks"
)

func mustProxies(t *testing.T, urls ...string) []*Proxy {
	t.Helper()
	var out []*Proxy
	for _, u := range urls {
		p, err := ParseProxy(u)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func names(r []*Proxy) string {
	var s []string
	for _, p := range r {
		s = append(s, p.Host)
	}
	return strings.Join(s, ",")
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"strict": Strict, "dynamic_chain": Dynamic, "Random": Random, "round-robin": RoundRobin, "round_robin_chain": RoundRobin} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseMode("zigzag"); err == nil {
		t.Error("zigzag accepted")
	}
}

func TestPick(t *testing.T) {
	hops := mustProxies(t, "socks5://a:1", "socks5://b:1", "socks5://c:1", "socks5://d:1")
	t.Run("strict uses every hop in order, even down ones", func(t *testing.T) {
		d := &Dialer{Chain: hops}
		d.health().markDown(hops[1], time.Now())
		r, _ := d.pick(nil)
		if names(r) != "a,b,c,d" {
			t.Fatal(names(r))
		}
	})
	t.Run("dynamic skips down hops until their back-off ends", func(t *testing.T) {
		d := &Dialer{Chain: hops, Mode: Dynamic}
		now := time.Now()
		d.health().markDown(hops[1], now)
		if r, _ := d.pick(nil); names(r) != "a,c,d" {
			t.Fatal(names(r))
		}
		if r, _ := d.pick(map[*Proxy]bool{hops[0]: true}); names(r) != "c,d" {
			t.Fatal(names(r))
		}
		// Back-off over: b is tried again.
		d.health().down[hops[1]] = downState{until: now.Add(-time.Millisecond), backoff: time.Second}
		if r, _ := d.pick(nil); names(r) != "a,b,c,d" {
			t.Fatal(names(r))
		}
	})
	t.Run("back-off doubles up to its bound and clears on success", func(t *testing.T) {
		d := &Dialer{Chain: hops, Mode: Dynamic}
		h := d.health()
		now := time.Now()
		var got []time.Duration
		for range 9 {
			h.markDown(hops[0], now)
			got = append(got, h.down[hops[0]].backoff)
		}
		if got[0] != backoffMin || got[1] != 2*backoffMin || got[8] != backoffMax {
			t.Fatalf("back-offs %v", got)
		}
		h.markUp(hops[0])
		if h.isDown(hops[0], now) {
			t.Fatal("still down after success")
		}
	})
	t.Run("all down: try anyway", func(t *testing.T) {
		d := &Dialer{Chain: hops[:2], Mode: Dynamic}
		d.health().markDown(hops[0], time.Now())
		d.health().markDown(hops[1], time.Now())
		if r, _ := d.pick(nil); names(r) != "a,b" {
			t.Fatal(names(r))
		}
		if _, err := d.pick(map[*Proxy]bool{hops[0]: true, hops[1]: true}); err == nil {
			t.Fatal("no error with every hop excluded")
		}
	})
	t.Run("random picks chain-len distinct hops, all of them over time", func(t *testing.T) {
		d := &Dialer{Chain: hops, Mode: Random, ChainLen: 2}
		seen := map[string]int{}
		for range 400 {
			r, _ := d.pick(nil)
			if len(r) != 2 || r[0] == r[1] {
				t.Fatalf("route %s", names(r))
			}
			seen[names(r)]++
		}
		if len(seen) != 12 { // 4×3 ordered pairs
			t.Fatalf("only %d of 12 routes in 400 picks: %v", len(seen), seen)
		}
	})
	t.Run("round-robin rotates and skips down hops", func(t *testing.T) {
		d := &Dialer{Chain: hops, Mode: RoundRobin, ChainLen: 2}
		var got []string
		for range 3 {
			r, _ := d.pick(nil)
			got = append(got, names(r))
		}
		if strings.Join(got, " ") != "a,b c,d a,b" {
			t.Fatalf("rotation %v", got)
		}
		d.health().markDown(hops[2], time.Now())
		r, _ := d.pick(nil) // next would start at c: c is down
		if names(r) != "d,a" {
			t.Fatalf("after c went down: %s", names(r))
		}
	})
	t.Run("concurrent picks are safe", func(t *testing.T) {
		d := &Dialer{Chain: hops, Mode: RoundRobin, ChainLen: 1}
		var wg sync.WaitGroup
		counts := make([]int, len(hops))
		var mu sync.Mutex
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 100 {
					r, _ := d.pick(nil)
					mu.Lock()
					for i, h := range hops {
						if r[0] == h {
							counts[i]++
						}
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		for i, c := range counts {
			if c != 200 {
				t.Fatalf("hop %d used %d times of 800, want 200 each: %v", i, c, counts)
			}
		}
	})
}

// startRelay runs a real SOCKS5 server (chainrun serve's engine) on loopback.
func startRelay(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { (&socksserver.Server{}).Serve(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return netip.MustParseAddrPort(ln.Addr().String())
}

// startEcho runs an echo server on loopback.
func startEcho(t *testing.T) netip.AddrPort {
	t.Helper()
	return startFake(t, func(c net.Conn) { io.Copy(c, c) }).addr
}

func closedPort(t *testing.T) netip.AddrPort {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	return a
}

func echoThrough(t *testing.T, fd int) {
	t.Helper()
	msg := []byte("through the chain")
	if _, err := unix.Write(fd, msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	c := &pollConn{fd: fd}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != string(msg) {
		t.Fatalf("echo %q %v", buf, err)
	}
}

// TestChainsOverRealServers dials chains of real SOCKS5 servers on loopback.
func TestChainsOverRealServers(t *testing.T) {
	echo := startEcho(t)
	r1, r2, r3 := startRelay(t), startRelay(t), startRelay(t)
	dead := closedPort(t)
	url := func(a netip.AddrPort) string { return "socks5://" + a.String() }
	cases := []struct {
		name   string
		mode   Mode
		chain  []string
		route  string // hosts:ports of the route used, or "" when it fails
		errno  syscall.Errno
		inErr  string
		reuses int // connections made in a row (state carried over)
	}{
		{"three hops", Strict, []string{url(r1), url(r2), url(r3)}, r1.String() + "," + r2.String() + "," + r3.String(), 0, "", 1},
		{"strict, hop 2 down", Strict, []string{url(r1), url(dead), url(r3)}, "", syscall.ECONNREFUSED, "hop 1 (socks5://" + r1.String() + "): reaching hop 2 (socks5://" + dead.String() + ")", 1},
		{"strict, hop 1 down", Strict, []string{url(dead), url(r2)}, "", syscall.ECONNREFUSED, "hop 1 (socks5://" + dead.String() + "): connect to", 1},
		{"dynamic, hop 1 down", Dynamic, []string{url(dead), url(r2), url(r3)}, r2.String() + "," + r3.String(), 0, "", 2},
		{"dynamic, middle hop down", Dynamic, []string{url(r1), url(dead), url(r3)}, r1.String() + "," + r3.String(), 0, "", 2},
		{"dynamic, last hop down", Dynamic, []string{url(r1), url(r2), url(dead)}, r1.String() + "," + r2.String(), 0, "", 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var chain []*Proxy
			for _, u := range c.chain {
				chain = append(chain, mustProxies(t, u)...)
			}
			d := &Dialer{Chain: chain, Mode: c.mode, ReadTimeout: 2 * time.Second}
			for i := 0; i < c.reuses; i++ {
				fd := programSocket(t, unix.AF_INET, false)
				route, err := d.ConnectSocket(context.Background(), fd, unix.AF_INET, socks.AddrFromAddrPort(echo))
				if c.route == "" {
					if err == nil || Errno(err) != c.errno || !strings.Contains(err.Error(), c.inErr) {
						t.Fatalf("err %v (%v), want %v containing %q", err, Errno(err), c.errno, c.inErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("connection %d: %v", i+1, err)
				}
				var got []string
				for _, p := range route {
					got = append(got, fmt.Sprintf("%s:%d", p.Host, p.Port))
				}
				if strings.Join(got, ",") != c.route {
					t.Fatalf("connection %d: route %s, want %s", i+1, strings.Join(got, ","), c.route)
				}
				echoThrough(t, fd)
			}
			if c.mode == Dynamic && c.route != "" {
				// The dead hop is remembered: it is down now.
				if n := len(d.health().down); n != 1 {
					t.Errorf("%d hops marked down, want 1", n)
				}
			}
		})
	}
}

func TestDialForServe(t *testing.T) {
	echo := startEcho(t)
	r1, r2 := startRelay(t), startRelay(t)
	d := &Dialer{Chain: mustProxies(t, "socks5://"+r1.String(), "socks5://"+r2.String())}
	for _, dst := range []socks.Addr{socks.AddrFromAddrPort(echo), {Name: "localhost", Port: echo.Port()}} {
		c, err := d.Dial(context.Background(), dst)
		if err != nil {
			t.Fatalf("%v: %v", dst, err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte("hi"))
		buf := make([]byte, 2)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hi" {
			t.Fatalf("%v: echo %q %v", dst, buf, err)
		}
		c.Close()
	}
	dead := closedPort(t)
	d = &Dialer{Chain: mustProxies(t, "socks5://"+dead.String())}
	if _, err := d.Dial(context.Background(), socks.AddrFromAddrPort(echo)); Errno(err) != syscall.ECONNREFUSED {
		t.Fatalf("dead proxy: %v", err)
	}
}
