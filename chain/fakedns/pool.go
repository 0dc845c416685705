package fakedns

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// Pool defaults.
const (
	// DefaultCapacity is the most names a pool holds at once by default.
	DefaultCapacity = 65536
	// DefaultTTL is the TTL of fake answers by default.
	DefaultTTL = 60 * time.Second
)

// ErrExhausted is returned by [Pool.Assign] when the pool is full and no
// mapping may be recycled yet.
var ErrExhausted = errors.New("fakedns: address pool exhausted")

// ErrInvalidName is returned by [Pool.Assign] for a name that cannot be
// handed to a proxy: empty, longer than 253 bytes, with an empty label, or
// with a byte outside printable ASCII.
var ErrInvalidName = errors.New("fakedns: invalid name")

// DefaultIPv4Pool is the IPv4 range fake addresses come from by default:
// 198.18.0.0/15, reserved for benchmarking (RFC 2544), never routed.
func DefaultIPv4Pool() netip.Prefix { return netip.MustParsePrefix("198.18.0.0/15") }

// DefaultIPv6Pool is the IPv6 range fake addresses come from by default:
// fd63:6861:696e::/64, a unique local prefix ("chain" in its hex digits).
func DefaultIPv6Pool() netip.Prefix { return netip.MustParsePrefix("fd63:6861:696e::/64") }

// PoolConfig configures a [Pool]. The zero value is the defaults.
type PoolConfig struct {
	// IPv4 is the range of fake IPv4 addresses; zero means
	// [DefaultIPv4Pool]. It must be IPv4, not multicast, and hold at least
	// 16 addresses.
	IPv4 netip.Prefix
	// IPv6 is the range of fake IPv6 addresses; zero means
	// [DefaultIPv6Pool]. It must be IPv6, not multicast, and hold at least
	// 16 addresses.
	IPv6 netip.Prefix
	// DisableIPv6 true means names get no fake IPv6 address (AAAA queries
	// get no fake answer).
	DisableIPv6 bool
	// Capacity is the most names held at once; zero means
	// [DefaultCapacity]. It is lowered to what the ranges can hold.
	Capacity int
	// TTL is put in fake answers, and is the least time a mapping must be
	// idle before it may be recycled; zero means [DefaultTTL].
	TTL time.Duration
	// InUse, if not nil, is called only when the pool is full, without the
	// pool's lock held; it returns the fake addresses a live connection
	// still uses, which are never recycled.
	InUse func() map[netip.Addr]bool
	// Now is the clock, for tests; nil means time.Now.
	Now func() time.Time
}

// Pool hands out fake addresses for names. The address of a name is derived
// from a hash of the name, so it is the same in every run unless it
// collides with another name. It is safe for concurrent use.
type Pool struct {
	v4, v6   addrRange
	ipv6     bool
	capacity int
	ttl      time.Duration
	inUse    func() map[netip.Addr]bool
	now      func() time.Time

	mu     sync.Mutex
	byName map[string]*entry
	byAddr map[netip.Addr]*entry
	lru    entryList
}

// entry is one name's mapping, an element of the pool's LRU list.
type entry struct {
	name       string
	v4, v6     netip.Addr
	used       time.Time
	prev, next *entry
}

// NewPool validates cfg and returns an empty pool.
func NewPool(cfg PoolConfig) (*Pool, error) {
	if !cfg.IPv4.IsValid() {
		cfg.IPv4 = DefaultIPv4Pool()
	}
	if !cfg.IPv6.IsValid() {
		cfg.IPv6 = DefaultIPv6Pool()
	}
	p := &Pool{
		ipv6:     !cfg.DisableIPv6,
		capacity: cfg.Capacity,
		ttl:      cfg.TTL,
		inUse:    cfg.InUse,
		now:      cfg.Now,
		byName:   make(map[string]*entry),
		byAddr:   make(map[netip.Addr]*entry),
	}
	var err error
	if p.v4, err = newAddrRange(cfg.IPv4, false); err != nil {
		return nil, err
	}
	if p.ipv6 {
		if p.v6, err = newAddrRange(cfg.IPv6, true); err != nil {
			return nil, err
		}
	}
	switch {
	case p.capacity < 0:
		return nil, fmt.Errorf("fakedns: pool capacity %d is negative", p.capacity)
	case p.capacity == 0:
		p.capacity = DefaultCapacity
	}
	if uint64(p.capacity) > p.v4.size {
		p.capacity = int(p.v4.size)
	}
	if p.ipv6 && uint64(p.capacity) > p.v6.size {
		p.capacity = int(p.v6.size)
	}
	switch {
	case p.ttl < 0:
		return nil, fmt.Errorf("fakedns: pool TTL %v is negative", p.ttl)
	case p.ttl == 0:
		p.ttl = DefaultTTL
	case p.ttl > maxTTL:
		return nil, fmt.Errorf("fakedns: pool TTL %v is longer than %v", p.ttl, maxTTL)
	}
	if p.now == nil {
		p.now = time.Now
	}
	return p, nil
}

// maxTTL is the longest TTL a DNS record may carry (RFC 2181: 2^31-1 s).
const maxTTL = (1<<31 - 1) * time.Second

// Assign returns the fake addresses of name, handing out new ones when the
// name has none. The name is normalised first (ASCII lower case, trailing
// dot removed), so the same name in any case gets the same addresses. v6 is
// the zero Addr when IPv6 is disabled. A full pool recycles its least
// recently used mapping that has been idle longer than the TTL and is not
// in use; when there is none, the error is [ErrExhausted].
func (p *Pool) Assign(name string) (v4, v6 netip.Addr, err error) {
	n, ok := normalizeName(name)
	if !ok {
		return netip.Addr{}, netip.Addr{}, fmt.Errorf("%w: %q", ErrInvalidName, name)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.byName[n]; e != nil {
		p.touchLocked(e)
		return e.v4, e.v6, nil
	}
	if len(p.byName) >= p.capacity {
		if !p.recycleLocked() {
			return netip.Addr{}, netip.Addr{}, fmt.Errorf("fakedns: assigning %s: %w (%d names, none idle for %v)", n, ErrExhausted, len(p.byName), p.ttl)
		}
		// The lock was let go while InUse ran: the name may have come.
		if e := p.byName[n]; e != nil {
			p.touchLocked(e)
			return e.v4, e.v6, nil
		}
	}
	h := fnv1a64(n)
	e := &entry{name: n, used: p.now()}
	e.v4 = p.probeLocked(&p.v4, mix64(h))
	if p.ipv6 {
		e.v6 = p.probeLocked(&p.v6, mix64(h^v6Salt))
	}
	p.byName[n] = e
	p.byAddr[e.v4] = e
	if e.v6.IsValid() {
		p.byAddr[e.v6] = e
	}
	p.lru.pushFront(e)
	return e.v4, e.v6, nil
}

// v6Salt makes a name's IPv6 slot independent of its IPv4 slot.
const v6Salt = 0x9e3779b97f4a7c15

// probeLocked returns the first free address of r at or after slot h
// modulo its size. Capacity is at most r.size, so a free slot exists and
// is found within len(p.byName)+1 steps.
func (p *Pool) probeLocked(r *addrRange, h uint64) netip.Addr {
	idx := h % r.size
	for range len(p.byName) + 1 {
		a := r.addr(idx)
		if _, taken := p.byAddr[a]; !taken {
			return a
		}
		if idx++; idx == r.size {
			idx = 0
		}
	}
	// Unreachable while capacity <= r.size; the address is then shared
	// rather than a panic.
	return r.addr(idx)
}

// recycleLocked removes the least recently used mapping that has been idle
// longer than the TTL and is not in use. InUse is called without the lock,
// only when there is a candidate.
func (p *Pool) recycleLocked() bool {
	if !p.idleLocked(p.lru.tail) {
		return false
	}
	var inUse map[netip.Addr]bool
	if p.inUse != nil {
		p.mu.Unlock()
		inUse = p.inUse()
		p.mu.Lock()
		if len(p.byName) < p.capacity {
			return true // another Assign made room meanwhile
		}
	}
	for e := p.lru.tail; p.idleLocked(e); e = e.prev {
		if inUse[e.v4] || (e.v6.IsValid() && inUse[e.v6]) {
			continue
		}
		p.removeLocked(e)
		return true
	}
	return false
}

// idleLocked reports whether e may be recycled by age.
func (p *Pool) idleLocked(e *entry) bool {
	return e != nil && p.now().Sub(e.used) > p.ttl
}

func (p *Pool) removeLocked(e *entry) {
	p.lru.remove(e)
	delete(p.byName, e.name)
	delete(p.byAddr, e.v4)
	if e.v6.IsValid() {
		delete(p.byAddr, e.v6)
	}
}

func (p *Pool) touchLocked(e *entry) {
	e.used = p.now()
	p.lru.moveToFront(e)
}

// Name returns the name a fake address stands for. It accepts IPv4,
// IPv4-mapped IPv6 and IPv6 addresses, and refreshes the mapping's LRU
// position. It does not allocate.
func (p *Pool) Name(addr netip.Addr) (string, bool) {
	a := addr.Unmap().WithZone("")
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.byAddr[a]
	if e == nil {
		return "", false
	}
	p.touchLocked(e)
	return e.name, true
}

// Contains reports whether addr (IPv4-mapped addresses are unmapped) lies
// inside one of the pool's ranges, whether it is mapped or not.
func (p *Pool) Contains(addr netip.Addr) bool {
	a := addr.Unmap().WithZone("")
	return p.v4.prefix.Contains(a) || (p.ipv6 && p.v6.prefix.Contains(a))
}

// Len is the number of names mapped.
func (p *Pool) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.byName)
}

// Capacity is the most names the pool holds at once.
func (p *Pool) Capacity() int { return p.capacity }

// TTL is the TTL of fake answers.
func (p *Pool) TTL() time.Duration { return p.ttl }

// IPv6 reports whether names get fake IPv6 addresses.
func (p *Pool) IPv6() bool { return p.ipv6 }

// Prefixes returns the pool's ranges; v6 is zero when IPv6 is disabled.
func (p *Pool) Prefixes() (v4, v6 netip.Prefix) { return p.v4.prefix, p.v6.prefix }
