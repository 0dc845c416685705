package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/chainrun/chainrun/chain"
	"github.com/chainrun/chainrun/chain/fakedns"
	"github.com/chainrun/chainrun/socks"
	"github.com/chainrun/chainrun/tracer"
)

// dnsPort is where resolvers send queries, UDP and TCP alike.
const dnsPort = 53

// remoteDNS is a run's resolver: the loopback listeners the program's DNS
// traffic is pointed at, the names behind fake addresses, and which fake
// addresses live connections still use.
type remoteDNS struct {
	resolver *fakedns.Resolver
	server   *fakedns.Server
	tracker  *fakedns.ConnTracker
}

// trackedConnections bounds the sockets remembered for the pool's
// recycling; the oldest are forgotten first.
const trackedConnections = 65536

// startDNS sets up remote DNS for the plan, or returns nil when names are
// left to the program (dns = "local").
func startDNS(plan *runPlan, logger *connLog) (*remoteDNS, error) {
	if plan.dns == "local" {
		return nil, nil
	}
	mode, err := fakedns.ParseMode(plan.dns)
	if err != nil {
		return nil, err
	}
	d := &remoteDNS{tracker: fakedns.NewConnTracker(trackedConnections)}
	pcfg := fakedns.PoolConfig{InUse: d.tracker.Live}
	if p := plan.profile; p != nil {
		pcfg.IPv4, pcfg.IPv6, pcfg.DisableIPv6 = p.FakeIPv4, p.FakeIPv6, p.NoFakeIPv6
	}
	pool, err := fakedns.NewPool(pcfg)
	if err != nil {
		return nil, fmt.Errorf("remote DNS: %w", err)
	}
	router := plan.router
	cfg := fakedns.Config{
		Mode: mode,
		Pool: pool,
		Local: func(name string) bool {
			return router.Decide(chain.Destination{Host: name}).Action == chain.ActionDirect
		},
		Log: logger.dns,
		// A command that asks no DNS question (true, or one given
		// addresses) starts without reading /etc/hosts.
		HostsOnDemand: true,
	}
	if plan.dnsServer.IsValid() {
		server := plan.dnsServer
		cfg.Tunnel = &fakedns.TCPExchanger{Dial: func(ctx context.Context) (net.Conn, error) {
			return dialRouted(ctx, router, server)
		}}
	}
	if mode == fakedns.ModeTorResolve {
		def := router.Default
		if def == nil {
			return nil, errors.New("dns = tor-resolve needs a chain")
		}
		// Lookups carry the run's isolation credentials (which process
		// asks is not known here).
		iso := plan.iso
		cfg.TorResolve = func(ctx context.Context, name string) (netip.Addr, error) {
			return def.Resolve(chain.WithIsolation(ctx, iso.auth(0, name)), name)
		}
		cfg.TorResolvePTR = func(ctx context.Context, addr netip.Addr) (string, error) {
			return def.ResolvePTR(chain.WithIsolation(ctx, iso.auth(0, addr.String())), addr)
		}
	}
	if d.resolver, err = fakedns.NewResolver(cfg); err != nil {
		return nil, fmt.Errorf("remote DNS: %w", err)
	}
	d.server = fakedns.NewServer(d.resolver, logger.debugf)
	return d, nil
}

// close stops the listeners.
func (d *remoteDNS) close() {
	if d != nil {
		d.server.Close()
	}
}

// dialRouted connects chainrun's own socket to dst the way the profile
// routes it (the tunnelled resolver).
func dialRouted(ctx context.Context, router *chain.Router, dst netip.AddrPort) (net.Conn, error) {
	dec := router.Decide(chain.Destination{Addr: dst.Addr(), Port: dst.Port()})
	switch dec.Action {
	case chain.ActionBlock:
		return nil, fmt.Errorf("dns_server %s is blocked by rule %s (%s)", dst, dec.Rule, dec.Pattern)
	case chain.ActionDirect:
		var nd net.Dialer
		return nd.DialContext(ctx, "tcp", dst.String())
	}
	if dec.Dialer == nil {
		return nil, fmt.Errorf("no chain to reach dns_server %s", dst)
	}
	return dec.Dialer.Dial(ctx, socks.AddrFromAddrPort(dst))
}

// udpEndpoint is where a DNS datagram the program addressed to ns goes
// instead, for a socket of the given family.
func (d *remoteDNS) udpEndpoint(ns netip.AddrPort, family int) (netip.AddrPort, error) {
	return d.server.UDPEndpoint(ns, family)
}

// redirectUDP connects the program's UDP socket to the resolver standing
// for nameserver ns.
func (d *remoteDNS) redirectUDP(sock, family int, ns netip.AddrPort) error {
	ep, err := d.udpEndpoint(ns, family)
	if err != nil {
		return err
	}
	sa, err := sockaddrFor(family, ep)
	if err != nil {
		return err
	}
	return unix.Connect(sock, sa)
}

// sockaddrFor is ap as a sockaddr of family.
func sockaddrFor(family int, ap netip.AddrPort) (unix.Sockaddr, error) {
	switch {
	case family == unix.AF_INET && ap.Addr().Unmap().Is4():
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().Unmap().As4()}, nil
	case family == unix.AF_INET6:
		return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}, nil
	}
	return nil, fmt.Errorf("%s on a socket of family %d: %w", ap, family, syscall.EAFNOSUPPORT)
}

// nameOf is the name behind addr, when remote DNS gave it; fake tells
// whether addr is one of the pool's (and then only the name can be
// reached).
func (d *remoteDNS) nameOf(addr netip.Addr) (name string, fake, ok bool) {
	if d == nil {
		return "", false, false
	}
	return d.resolver.NameOf(addr.Unmap())
}

// isFake reports whether addr lies in the fake pools, mapped or not.
func (d *remoteDNS) isFake(addr netip.Addr) bool {
	return d != nil && d.resolver.Pool().Contains(addr.Unmap())
}

// track remembers that the program's socket (by inode) reached the name
// behind fake, so the pool never recycles fake while it lives.
func (d *remoteDNS) track(sock int, fake netip.Addr) {
	var st unix.Stat_t
	if unix.Fstat(sock, &st) == nil {
		d.tracker.Track(st.Ino, fake.Unmap())
	}
}

// lookupLocal resolves name with this machine's resolvers (chainrun is not
// traced), for a destination the profile sends direct, keeping the
// addresses a socket of family can reach.
func lookupLocal(ctx context.Context, name string, family int) ([]netip.Addr, error) {
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", name)
	if err != nil {
		return nil, fmt.Errorf("resolving %s here: %w", name, syscall.EHOSTUNREACH)
	}
	var out []netip.Addr
	for _, a := range addrs {
		if a = a.Unmap(); family == unix.AF_INET6 || a.Is4() {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no address a socket of family %d can reach: %w", name, family, syscall.EHOSTUNREACH)
	}
	return out, nil
}

// dns logs one answered question: every one in -v, failures unless -q.
func (l *connLog) dns(ev fakedns.Event) {
	answer := strings.Join(ev.Answers, ", ")
	switch {
	case ev.RCode != "" && ev.RCode != "NOERROR":
		answer = ev.RCode
	case answer == "":
		answer = "no answer"
	}
	switch {
	case ev.Err != nil && !l.quiet:
		l.out.Printf("dns %s %s -> %s (%s): %v %s", ev.Name, ev.Type, answer, ev.How, ev.Err, msString(ev.Elapsed.Microseconds()))
	case l.verbose:
		l.out.Printf("dns %s %s -> %s (%s) %s", ev.Name, ev.Type, answer, ev.How, msString(ev.Elapsed.Microseconds()))
	}
}

func msString(us int64) string { return fmt.Sprintf("%.1fms", float64(us)/1000) }

// resolverDaemon reports whether path is a local socket through which a
// libc asks a daemon to resolve names (nscd; systemd-resolved's varlink
// API, which glibc's nss-resolve uses): the daemon would look the name up
// outside the chain. With remote DNS a connect to them is refused, and the
// libc falls back to DNS, which chainrun answers (nss-resolve treats the
// refusal as UNAVAIL and goes on to the dns module; glibc does without
// nscd).
func resolverDaemon(path string) bool {
	switch path {
	case "/run/nscd/socket",
		"/var/run/nscd/socket",
		"/run/systemd/resolve/io.systemd.Resolve",
		"/var/run/systemd/resolve/io.systemd.Resolve":
		return true
	}
	return false
}

// ConnectUnix implements tracer.UnixHandler: with remote DNS, resolver
// daemons are out of reach.
func (h *connectHandler) ConnectUnix(c *tracer.UnixCall) tracer.Result {
	if h.dns == nil || !resolverDaemon(c.Path) {
		return tracer.Allow()
	}
	if h.log.verbose {
		h.log.out.Printf("%s[%d] unix %s refused: a resolver daemon would look names up outside the chain (the program falls back to DNS, which chainrun answers)", c.Program(), c.Pid, c.Path)
	}
	return tracer.Fail(syscall.ECONNREFUSED)
}
