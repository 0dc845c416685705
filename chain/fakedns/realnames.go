package fakedns

import (
	"container/list"
	"net/netip"
	"sync"
)

// DefaultRealNames is how many real addresses a Resolver remembers the
// names of.
const DefaultRealNames = 4096

// realNames remembers the name behind real addresses that local, tunnel and
// Tor answers gave: a bounded LRU, safe for concurrent use.
type realNames struct {
	limit int

	mu    sync.Mutex
	byIP  map[netip.Addr]*list.Element
	order list.List // of *realName, most recent first
}

type realName struct {
	addr netip.Addr
	name string
}

func newRealNames(limit int) *realNames {
	return &realNames{limit: limit, byIP: make(map[netip.Addr]*list.Element)}
}

// add remembers that addr is name's.
func (r *realNames) add(addr netip.Addr, name string) {
	addr = addr.Unmap().WithZone("")
	r.mu.Lock()
	defer r.mu.Unlock()
	if el, ok := r.byIP[addr]; ok {
		el.Value.(*realName).name = name
		r.order.MoveToFront(el)
		return
	}
	if r.order.Len() >= r.limit {
		old := r.order.Back()
		r.order.Remove(old)
		delete(r.byIP, old.Value.(*realName).addr)
	}
	r.byIP[addr] = r.order.PushFront(&realName{addr: addr, name: name})
}

// get returns the name remembered for addr.
func (r *realNames) get(addr netip.Addr) (string, bool) {
	addr = addr.Unmap().WithZone("")
	r.mu.Lock()
	defer r.mu.Unlock()
	el, ok := r.byIP[addr]
	if !ok {
		return "", false
	}
	r.order.MoveToFront(el)
	return el.Value.(*realName).name, true
}
