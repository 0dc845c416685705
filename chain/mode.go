package chain

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Mode says which hops of the list a connection goes through.
type Mode int

// The chain modes (proxychains' strict_chain, dynamic_chain, random_chain
// and round_robin_chain).
const (
	// Strict uses every hop, in order; any failure fails the connection.
	Strict Mode = iota
	// Dynamic uses every hop in order, skipping hops that are down; a
	// hop that failed is tried again after a back-off.
	Dynamic
	// Random uses ChainLen hops picked at random, skipping hops that are down.
	Random
	// RoundRobin uses ChainLen hops starting after the last one used,
	// skipping hops that are down.
	RoundRobin
)

// modeNames are the modes' names, by mode: an array, which needs no code
// at package initialisation, unlike a map.
var modeNames = [...]string{Strict: "strict", Dynamic: "dynamic", Random: "random", RoundRobin: "round-robin"}

// String is the mode's name as the flag and config take it.
func (m Mode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// ParseMode reads a mode name: strict, dynamic, random, round-robin (also
// proxychains' spellings strict_chain, round_robin_chain, …).
func ParseMode(s string) (Mode, error) {
	norm := strings.TrimSuffix(strings.ReplaceAll(strings.ToLower(s), "_", "-"), "-chain")
	for m, name := range modeNames {
		if norm == name {
			return Mode(m), nil
		}
	}
	return Strict, fmt.Errorf("unknown chain mode %q (want strict, dynamic, random or round-robin)", s)
}

// Back-off for a hop that failed: doubles from backoffMin to backoffMax.
const (
	backoffMin = time.Second
	backoffMax = time.Minute
)

// hopHealth is what the dialer remembers about the hops, shared by every
// connection of the traced tree.
type hopHealth struct {
	mu       sync.Mutex
	down     map[*Proxy]downState
	nextRR   int // round-robin: index of the hop to start with next
	randSeed *rand.Rand
}

type downState struct {
	until   time.Time
	backoff time.Duration
}

func (h *hopHealth) isDown(p *Proxy, now time.Time) bool {
	s, ok := h.down[p]
	return ok && now.Before(s.until)
}

// markDown records a failure of p: it is skipped until its back-off ends.
func (h *hopHealth) markDown(p *Proxy, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.down[p]
	switch {
	case s.backoff == 0:
		s.backoff = backoffMin
	case s.backoff < backoffMax:
		s.backoff = min(2*s.backoff, backoffMax)
	}
	s.until = now.Add(s.backoff)
	h.down[p] = s
}

// markUp records that p worked.
func (h *hopHealth) markUp(p *Proxy) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.down, p)
}

// pick chooses the hops for one attempt, leaving out those in exclude
// (hops that failed earlier in this connection).
func (d *Dialer) pick(exclude map[*Proxy]bool) ([]*Proxy, error) {
	if d.Mode == Strict {
		return d.Chain, nil
	}
	h := d.health()
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	var alive []*Proxy
	var aliveIdx []int
	for i, p := range d.Chain {
		if !exclude[p] && !h.isDown(p, now) {
			alive = append(alive, p)
			aliveIdx = append(aliveIdx, i)
		}
	}
	if len(alive) == 0 {
		// Everything is backing off: try the hops this connection has
		// not tried yet anyway rather than fail without a try.
		for i, p := range d.Chain {
			if !exclude[p] {
				alive = append(alive, p)
				aliveIdx = append(aliveIdx, i)
			}
		}
	}
	if len(alive) == 0 {
		return nil, errNoHopLeft
	}
	n := d.chainLen()
	switch d.Mode {
	case Dynamic:
		return alive, nil
	case Random:
		n = min(n, len(alive))
		perm := h.randSeed.Perm(len(alive))[:n]
		out := make([]*Proxy, n)
		for i, j := range perm {
			out[i] = alive[j]
		}
		return out, nil
	case RoundRobin:
		n = min(n, len(alive))
		// Start at the first alive hop at or after the saved position.
		start := 0
		for i, idx := range aliveIdx {
			if idx >= h.nextRR {
				start = i
				break
			}
		}
		out := make([]*Proxy, n)
		for i := range out {
			out[i] = alive[(start+i)%len(alive)]
		}
		h.nextRR = (aliveIdx[(start+n-1)%len(alive)] + 1) % len(d.Chain)
		return out, nil
	}
	return nil, fmt.Errorf("unknown chain mode %v", d.Mode)
}

func (d *Dialer) chainLen() int {
	if d.ChainLen > 0 {
		return d.ChainLen
	}
	if d.Mode == Random || d.Mode == RoundRobin {
		return min(2, len(d.Chain)) // proxychains' default chain_len
	}
	return len(d.Chain)
}

func (d *Dialer) health() *hopHealth {
	d.once.Do(func() {
		d.state = &hopHealth{down: map[*Proxy]downState{}, randSeed: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
	})
	return d.state
}
