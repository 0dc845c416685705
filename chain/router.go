package chain

import "net/netip"

// Dialers lists the router's dialers, the default first, each once.
func (r *Router) Dialers() []*Dialer {
	out := []*Dialer{r.Default}
	for _, rule := range r.Rules {
		if rule.Dialer != nil && rule.Dialer != r.Default {
			out = append(out, rule.Dialer)
		}
	}
	return out
}

// IsProxy reports whether dst is the address of a hop of any of the
// router's chains: a program that talks to a proxy itself is let through.
func (r *Router) IsProxy(dst netip.AddrPort) bool {
	for _, d := range r.Dialers() {
		if d.IsProxy(dst) {
			return true
		}
	}
	return false
}
