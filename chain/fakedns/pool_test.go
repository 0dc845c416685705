package fakedns

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func mustPool(t *testing.T, cfg PoolConfig) *Pool {
	t.Helper()
	p, err := NewPool(cfg)
	if err != nil {
		t.Fatalf("NewPool(%+v): %v", cfg, err)
	}
	return p
}

func TestPoolDeterministic(t *testing.T) {
	a, b := mustPool(t, PoolConfig{}), mustPool(t, PoolConfig{})
	names := []string{"example.com", "www.example.org", "a.b.c.d.e", "x", "xn--bcher-kva.example"}
	// b gets the names in the other order: the addresses must not depend
	// on it (no collisions in a /15).
	for i := len(names) - 1; i >= 0; i-- {
		if _, _, err := b.Assign(names[i]); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range names {
		a4, a6, err := a.Assign(n)
		if err != nil {
			t.Fatal(err)
		}
		b4, b6, _ := b.Assign(n)
		if a4 != b4 || a6 != b6 {
			t.Errorf("%s: %v %v in one pool, %v %v in another", n, a4, a6, b4, b6)
		}
		if !DefaultIPv4Pool().Contains(a4) || !DefaultIPv6Pool().Contains(a6) {
			t.Errorf("%s: %v %v outside the pools", n, a4, a6)
		}
		for _, addr := range []netip.Addr{a4, a6, netip.AddrFrom16(a4.As16())} {
			if got, ok := a.Name(addr); !ok || got != n {
				t.Errorf("Name(%v) = %q, %v; want %q", addr, got, ok, n)
			}
		}
	}
	// The hash is part of the contract (stable across releases): pin one.
	v4, v6, _ := a.Assign("example.com")
	if want4, want6 := golden4, golden6; v4.String() != want4 || v6.String() != want6 {
		t.Errorf("example.com -> %v %v, want %v %v", v4, v6, want4, want6)
	}
}

// The addresses of example.com in the default pools.
const (
	golden4 = "198.18.117.224"
	golden6 = "fd63:6861:696e:0:9902:ed34:ff6b:419"
)

func TestPoolNormalises(t *testing.T) {
	p := mustPool(t, PoolConfig{})
	v4, v6, err := p.Assign("WWW.Example.COM.")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"www.example.com", "www.example.com.", "Www.EXAMPLE.com"} {
		a4, a6, err := p.Assign(n)
		if err != nil || a4 != v4 || a6 != v6 {
			t.Errorf("Assign(%q) = %v %v %v, want %v %v", n, a4, a6, err, v4, v6)
		}
	}
	if got, _ := p.Name(v4); got != "www.example.com" {
		t.Errorf("Name = %q, want the normalised name", got)
	}
	if p.Len() != 1 {
		t.Errorf("Len = %d, want 1", p.Len())
	}
	for _, bad := range []string{"", ".", "a..b", ".a", "a b", "caf\xc3\xa9.fr", string(make([]byte, 254)), fmt.Sprintf("%064d.com", 0)} {
		if _, _, err := p.Assign(bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Assign(%q) error = %v, want ErrInvalidName", bad, err)
		}
	}
}

func TestPoolCollisionsOnTinyPrefix(t *testing.T) {
	prefix := netip.MustParsePrefix("10.99.0.16/28")
	p := mustPool(t, PoolConfig{IPv4: prefix, IPv6: netip.MustParsePrefix("fd00:1::/124")})
	if p.Capacity() != 14 {
		t.Fatalf("Capacity = %d, want 14 (16 addresses less the first and last)", p.Capacity())
	}
	seen := map[netip.Addr]string{}
	probed := 0
	for i := range 14 {
		n := fmt.Sprintf("host%d.test", i)
		v4, v6, err := p.Assign(n)
		if err != nil {
			t.Fatalf("Assign(%s): %v", n, err)
		}
		if !prefix.Contains(v4) || v4 == netip.MustParseAddr("10.99.0.16") || v4 == netip.MustParseAddr("10.99.0.31") {
			t.Errorf("%s got %v: outside the range or its first/last address", n, v4)
		}
		if v6 == netip.MustParseAddr("fd00:1::") || v6 == netip.MustParseAddr("fd00:1::f") {
			t.Errorf("%s got the first or last IPv6 address %v", n, v6)
		}
		for _, a := range []netip.Addr{v4, v6} {
			if other, dup := seen[a]; dup {
				t.Errorf("%s and %s share %v", n, other, a)
			}
			seen[a] = n
		}
		if want := p.v4.addr(mix64(fnv1a64(n)) % p.v4.size); want != v4 {
			probed++
		}
	}
	if probed == 0 {
		t.Error("14 names in 14 slots and no collision: probing untested")
	}
	for a, n := range seen {
		if got, ok := p.Name(a); !ok || got != n {
			t.Errorf("Name(%v) = %q, %v; want %q", a, got, ok, n)
		}
	}
}

func TestPoolRecycling(t *testing.T) {
	clock := newClock()
	p := mustPool(t, PoolConfig{Capacity: 3, TTL: time.Minute, Now: clock.Now})
	a4, _, _ := p.Assign("a.test")
	clock.Advance(time.Second)
	p.Assign("b.test")
	clock.Advance(time.Second)
	p.Assign("c.test")
	if _, _, err := p.Assign("d.test"); !errors.Is(err, ErrExhausted) {
		t.Fatalf("full pool, nothing idle: err = %v, want ErrExhausted", err)
	}
	// a.test has been idle exactly the TTL: not yet. Then a lookup of
	// a.test makes b.test the least recently used.
	clock.Advance(time.Minute - 2*time.Second)
	if _, _, err := p.Assign("d.test"); !errors.Is(err, ErrExhausted) {
		t.Fatalf("idle exactly the TTL: err = %v, want ErrExhausted", err)
	}
	clock.Advance(500 * time.Millisecond)
	if _, ok := p.Name(a4); !ok {
		t.Fatal("a.test lost")
	}
	clock.Advance(time.Second)
	if _, _, err := p.Assign("d.test"); err != nil {
		t.Fatalf("b.test idle past the TTL: %v", err)
	}
	if _, ok := p.byName["b.test"]; ok {
		t.Error("b.test kept, want it recycled (least recently used)")
	}
	for _, n := range []string{"a.test", "c.test", "d.test"} {
		if _, ok := p.byName[n]; !ok {
			t.Errorf("%s recycled", n)
		}
	}
	if p.Len() != 3 {
		t.Errorf("Len = %d, want 3", p.Len())
	}
}

func TestPoolInUseProtects(t *testing.T) {
	clock := newClock()
	var inUse map[netip.Addr]bool
	calls := 0
	p := mustPool(t, PoolConfig{Capacity: 2, TTL: time.Second, Now: clock.Now,
		InUse: func() map[netip.Addr]bool { calls++; return inUse }})
	a4, _, _ := p.Assign("a.test")
	_, b6, _ := p.Assign("b.test")
	if calls != 0 {
		t.Errorf("InUse called %d times before the pool was full", calls)
	}
	clock.Advance(time.Hour)
	inUse = map[netip.Addr]bool{a4: true, b6: true}
	if _, _, err := p.Assign("c.test"); !errors.Is(err, ErrExhausted) {
		t.Fatalf("every mapping in use: err = %v, want ErrExhausted", err)
	}
	if calls != 1 {
		t.Errorf("InUse called %d times, want 1", calls)
	}
	inUse = map[netip.Addr]bool{a4: true}
	if _, _, err := p.Assign("c.test"); err != nil {
		t.Fatal(err)
	}
	if got, ok := p.Name(a4); !ok || got != "a.test" {
		t.Errorf("in-use a.test recycled: Name = %q, %v", got, ok)
	}
	if _, ok := p.Name(b6); ok {
		t.Error("b.test not recycled")
	}
}

func TestPoolContains(t *testing.T) {
	p := mustPool(t, PoolConfig{})
	for a, want := range map[string]bool{
		"198.18.0.0": true, "198.19.255.255": true, "198.20.0.1": false, "::ffff:198.18.3.4": true,
		"fd63:6861:696e::1": true, "fd63:6861:696f::1": false, "8.8.8.8": false, "fd63:6861:696e::1%eth0": true,
	} {
		if got := p.Contains(netip.MustParseAddr(a)); got != want {
			t.Errorf("Contains(%s) = %v, want %v", a, got, want)
		}
	}
	if _, ok := p.Name(netip.MustParseAddr("198.18.0.1")); ok {
		t.Error("Name of an unmapped address is ok")
	}
	off := mustPool(t, PoolConfig{DisableIPv6: true})
	v4, v6, err := off.Assign("a.test")
	if err != nil || !v4.IsValid() || v6.IsValid() {
		t.Errorf("IPv6 disabled: Assign = %v %v %v", v4, v6, err)
	}
	if off.Contains(netip.MustParseAddr("fd63:6861:696e::1")) {
		t.Error("IPv6 disabled, yet Contains an IPv6 fake")
	}
}

func TestPoolConfigErrors(t *testing.T) {
	for _, cfg := range []PoolConfig{
		{IPv4: netip.MustParsePrefix("10.0.0.0/29")},
		{IPv4: netip.MustParsePrefix("fd00::/64")},
		{IPv4: netip.MustParsePrefix("::ffff:10.0.0.0/104")},
		{IPv4: netip.MustParsePrefix("224.0.0.0/8")},
		{IPv6: netip.MustParsePrefix("10.0.0.0/8")},
		{IPv6: netip.MustParsePrefix("ff02::/64")},
		{IPv6: netip.MustParsePrefix("fd00::/125")},
		{Capacity: -1},
		{TTL: -time.Second},
	} {
		if _, err := NewPool(cfg); err == nil {
			t.Errorf("NewPool(%+v) accepted", cfg)
		}
	}
	// A bad IPv6 prefix does not matter when IPv6 is disabled.
	if _, err := NewPool(PoolConfig{IPv6: netip.MustParsePrefix("ff02::/64"), DisableIPv6: true}); err != nil {
		t.Errorf("IPv6 disabled: %v", err)
	}
	// An unmasked prefix is masked.
	p := mustPool(t, PoolConfig{IPv4: netip.MustParsePrefix("10.1.2.3/16")})
	if v4, _ := p.Prefixes(); v4.String() != "10.1.0.0/16" {
		t.Errorf("prefix %v, want 10.1.0.0/16", v4)
	}
}

func TestPoolNameDoesNotAllocate(t *testing.T) {
	p := mustPool(t, PoolConfig{})
	v4, v6, _ := p.Assign("example.com")
	mapped := netip.AddrFrom16(v4.As16())
	allocs := testing.AllocsPerRun(100, func() {
		p.Name(v4)
		p.Name(v6)
		p.Name(mapped)
		p.Contains(mapped)
	})
	if allocs != 0 {
		t.Errorf("Name/Contains allocate %v times", allocs)
	}
}

func TestPoolConcurrent(t *testing.T) {
	p := mustPool(t, PoolConfig{Capacity: 64})
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 500 {
				v4, _, err := p.Assign(fmt.Sprintf("n%d.test", (g*7+i)%64))
				if err != nil {
					t.Error(err)
					return
				}
				p.Name(v4)
				p.Contains(v4)
			}
		}()
	}
	for range 4 {
		<-done
	}
	if p.Len() != 64 {
		t.Errorf("Len = %d, want 64", p.Len())
	}
}

func BenchmarkPoolName(b *testing.B) {
	p, _ := NewPool(PoolConfig{})
	v4, _, _ := p.Assign("example.com")
	b.ReportAllocs()
	for b.Loop() {
		p.Name(v4)
	}
}
