package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"time"

	"github.com/chainrun/chainrun/chain"
)

// Selection is the profile a run uses and why.
type Selection struct {
	Profile *Profile
	// Why says what picked it: "-p", "$CHAINRUN_PROFILE", "commands of
	// profile git", "default_profile", "the only profile".
	Why string
}

// Select picks the profile for a run of argv0: the one named by flag (-p),
// else by env ($CHAINRUN_PROFILE), else the first profile in file order
// whose commands hold argv0's base name, else default_profile, else the
// only profile there is.
func (c *Config) Select(flag, env, argv0 string) (Selection, error) {
	pick := func(name, why string) (Selection, error) {
		p := c.Profiles[name]
		if p == nil && why != "default_profile" {
			if b := Builtin(name); b != nil {
				return Selection{Profile: b, Why: why + ", built in"}, nil
			}
		}
		if p == nil {
			return Selection{}, fmt.Errorf("%s: unknown profile %q (%s names it)%s", c.Path, name, why, suggest(name, c.Order))
		}
		if err := c.Usable(p); err != nil {
			return Selection{}, fmt.Errorf("profile %s: %w", name, err)
		}
		return Selection{Profile: p, Why: why}, nil
	}
	switch {
	case flag != "":
		return pick(flag, "-p")
	case env != "":
		return pick(env, "$CHAINRUN_PROFILE")
	}
	if name := c.Claimant(filepath.Base(argv0)); name != "" {
		return pick(name, "commands of profile "+name)
	}
	switch {
	case c.DefaultProfile != "":
		return pick(c.DefaultProfile, "default_profile")
	case len(c.Order) == 1:
		return pick(c.Order[0], "the only profile")
	}
	return Selection{}, fmt.Errorf("%s: no profile for %s: set default_profile, list it in a profile's commands, or pass -p NAME", c.Path, filepath.Base(argv0))
}

// Claimant returns the first profile, in file order, whose commands hold
// program (a base name), or "".
func (c *Config) Claimant(program string) string {
	for _, name := range c.Order {
		if slices.Contains(c.Profiles[name].Commands, program) {
			return name
		}
	}
	return ""
}

// Overrides are settings from the command line that win over the profile.
type Overrides struct {
	Chain          []*chain.Proxy // -x: replaces the profile's chain
	Mode           *chain.Mode
	ChainLen       int
	ConnectTimeout time.Duration
	ReadTimeout    time.Duration
	Timeout        time.Duration
	Pipeline       bool // --pipeline: on for every dialer
}

// Router builds the routing of a profile with the command line's
// overrides: block, then direct, then the rules in order, then the chain.
// Rules with a chain of their own use the profile's mode and timeouts.
func (p *Profile) Router(o Overrides) *chain.Router {
	mk := func(hops []*chain.Proxy) *chain.Dialer {
		d := &chain.Dialer{Chain: hops, Mode: p.Mode, ChainLen: p.ChainLen,
			ConnectTimeout: p.ConnectTimeout, ReadTimeout: p.ReadTimeout, Budget: p.Timeout,
			Pipeline: p.Pipeline || o.Pipeline}
		if o.Mode != nil {
			d.Mode = *o.Mode
		}
		if o.ChainLen != 0 {
			d.ChainLen = o.ChainLen
		}
		if o.ConnectTimeout != 0 {
			d.ConnectTimeout = o.ConnectTimeout
		}
		if o.ReadTimeout != 0 {
			d.ReadTimeout = o.ReadTimeout
		}
		if o.Timeout != 0 {
			d.Budget = o.Timeout
		}
		if d.ChainLen > len(hops) {
			d.ChainLen = len(hops)
		}
		return d
	}
	defaultHops := p.Chain
	if len(o.Chain) > 0 {
		defaultHops = o.Chain
	}
	r := &chain.Router{Default: mk(defaultHops)}
	if len(p.Block) > 0 {
		r.Rules = append(r.Rules, chain.RouteRule{Name: "block", Patterns: p.Block, Action: chain.ActionBlock})
	}
	if len(p.Direct) > 0 {
		r.Rules = append(r.Rules, chain.RouteRule{Name: "direct", Patterns: p.Direct, Action: chain.ActionDirect})
	}
	for i, rule := range p.Rules {
		rr := chain.RouteRule{Name: fmt.Sprintf("rules[%d]", i), Patterns: rule.Patterns, Action: rule.Action}
		if rule.Action == chain.ActionProxy {
			rr.Dialer = mk(rule.Chain)
		}
		r.Rules = append(r.Rules, rr)
	}
	return r
}

// Rewrite applies the profile's dnat entries to a destination.
func (p *Profile) Rewrite(dst netip.AddrPort) netip.AddrPort {
	for _, d := range p.DNAT {
		if d.From.Addr() != dst.Addr().Unmap() || (d.From.Port() != 0 && d.From.Port() != dst.Port()) {
			continue
		}
		port := d.To.Port()
		if port == 0 {
			port = dst.Port()
		}
		return netip.AddrPortFrom(d.To.Addr(), port)
	}
	return dst
}
