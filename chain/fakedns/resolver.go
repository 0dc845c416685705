package fakedns

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// Mode says how names that are not local get answered.
type Mode string

// The modes of remote DNS.
const (
	// ModeRemote answers A and AAAA with fake addresses; the proxy at the
	// end of the chain resolves the name.
	ModeRemote Mode = "remote"
	// ModeTunnel forwards every query over DNS-over-TCP through the chain
	// to a configured server, for real answers.
	ModeTunnel Mode = "tunnel"
	// ModeTorResolve resolves A and AAAA with Tor's SOCKS RESOLVE
	// extension through the chain, for real answers.
	ModeTorResolve Mode = "tor-resolve"
)

// ParseMode returns the mode named s; "" is ModeRemote.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case "":
		return ModeRemote, nil
	case ModeRemote, ModeTunnel, ModeTorResolve:
		return m, nil
	}
	return "", fmt.Errorf("fakedns: unknown DNS mode %q (want remote, tunnel or tor-resolve)", s)
}

// Config configures a [Resolver].
type Config struct {
	// Mode is how names that are not local get answered; "" means
	// ModeRemote.
	Mode Mode
	// Pool hands out the fake addresses; nil means a pool with the
	// defaults.
	Pool *Pool
	// Local reports the names that must get real answers from this
	// machine's own resolvers (the profile's direct rules). It is given the
	// name in lower case without the trailing dot. nil means none.
	Local func(name string) bool
	// System is this machine's nameservers; nil means
	// NewSystemExchanger("/etc/resolv.conf").
	System Exchanger
	// Tunnel is DNS-over-TCP through the proxy chain to a configured
	// server; nil when none is configured.
	Tunnel Exchanger
	// TorResolve resolves a name with SOCKS RESOLVE (Tor's 0xF0) through
	// the chain. Needed by ModeTorResolve.
	TorResolve func(ctx context.Context, name string) (netip.Addr, error)
	// TorResolvePTR resolves an address with SOCKS RESOLVE_PTR (Tor's 0xF1)
	// through the chain; nil means PTR questions are handled as in remote
	// mode.
	TorResolvePTR func(ctx context.Context, addr netip.Addr) (string, error)
	// HostsFile is read once by NewResolver; "" means /etc/hosts. A missing
	// file is an empty one.
	HostsFile string
	// HostsOnDemand defers reading HostsFile from NewResolver to the first
	// question, for a caller whose program may never ask one. A file that
	// cannot be read then fails every question (SERVFAIL, with the error
	// in its Event) instead of NewResolver.
	HostsOnDemand bool
	// Timeout bounds the upstream work of one query; zero means 5 s.
	Timeout time.Duration
	// Log, if not nil, is called with one event per answered question. It
	// is called from many goroutines at once.
	Log func(Event)
}

// Defaults of Config.
const (
	DefaultTimeout    = 5 * time.Second
	DefaultHosts      = "/etc/hosts"
	DefaultResolvConf = "/etc/resolv.conf"
)

// Resolver answers the DNS queries of traced programs. It is safe for
// concurrent use.
type Resolver struct {
	mode          Mode
	pool          *Pool
	local         func(string) bool
	system        Exchanger
	tunnel        Exchanger
	torResolve    func(context.Context, string) (netip.Addr, error)
	torResolvePTR func(context.Context, netip.Addr) (string, error)
	timeout       time.Duration
	log           func(Event)
	real          *realNames

	// hosts is the parsed hosts file, set by readHosts through hostsOnce
	// (in NewResolver, or at the first question with HostsOnDemand);
	// hostsErr is why it could not be read.
	hostsFile string
	hostsOnce sync.Once
	hosts     *hostsTable
	hostsErr  error
}

// NewResolver checks cfg, reads the hosts file (unless cfg.HostsOnDemand)
// and returns a Resolver.
func NewResolver(cfg Config) (*Resolver, error) {
	mode, err := ParseMode(string(cfg.Mode))
	if err != nil {
		return nil, err
	}
	if mode == ModeTorResolve && cfg.TorResolve == nil {
		return nil, fmt.Errorf("fakedns: DNS mode %s needs a TorResolve function", mode)
	}
	r := &Resolver{
		mode:          mode,
		pool:          cfg.Pool,
		local:         cfg.Local,
		system:        cfg.System,
		tunnel:        cfg.Tunnel,
		torResolve:    cfg.TorResolve,
		torResolvePTR: cfg.TorResolvePTR,
		timeout:       cfg.Timeout,
		log:           cfg.Log,
		real:          newRealNames(DefaultRealNames),
	}
	if r.pool == nil {
		if r.pool, err = NewPool(PoolConfig{}); err != nil {
			return nil, err
		}
	}
	if r.system == nil {
		r.system = NewSystemExchanger(DefaultResolvConf)
	}
	switch {
	case r.timeout < 0:
		return nil, fmt.Errorf("fakedns: DNS timeout %v is negative", r.timeout)
	case r.timeout == 0:
		r.timeout = DefaultTimeout
	}
	r.hostsFile = cfg.HostsFile
	if r.hostsFile == "" {
		r.hostsFile = DefaultHosts
	}
	if !cfg.HostsOnDemand {
		if err := r.loadHosts(); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// loadHosts reads the hosts file the first time it is called; after it
// returns without error, r.hosts is set.
func (r *Resolver) loadHosts() error {
	r.hostsOnce.Do(func() {
		r.hosts, r.hostsErr = readHosts(r.hostsFile)
	})
	return r.hostsErr
}

// Pool is the pool the resolver hands fake addresses from.
func (r *Resolver) Pool() *Pool { return r.pool }

// Mode is the resolver's mode.
func (r *Resolver) Mode() Mode { return r.mode }

// NameOf returns the name behind addr: for an address inside the fake
// pools, the name it was handed out for (fake is true; ok is false when it
// is unmapped); for a real address, the name whose local, tunnel or Tor
// answer gave it, when it is still remembered.
func (r *Resolver) NameOf(addr netip.Addr) (name string, fake bool, ok bool) {
	if r.pool.Contains(addr) {
		name, ok = r.pool.Name(addr)
		return name, true, ok
	}
	name, ok = r.real.get(addr)
	return name, false, ok
}
