package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chainrun/chainrun/chain"
	"github.com/chainrun/chainrun/chain/config"
	"github.com/chainrun/chainrun/socks"
	"github.com/chainrun/chainrun/syscalls"
	"github.com/chainrun/chainrun/tracer"
)

// startupTimeout bounds resolving the first hop's name before the command starts.
const startupTimeout = 10 * time.Second

// runCommand runs opts.argv under the tracer and returns its exit status.
func runCommand(ctx context.Context, opts *runOptions, stderr io.Writer) int {
	// The releaser's goroutine starts first: the thread the runtime starts
	// for it is made while the configuration is read, and is then idle for
	// the tracer's goroutines, instead of being made on their way.
	mem := &memoryReleaser{}
	memCtx, stopMem := context.WithCancel(ctx)
	defer stopMem()
	go mem.run(memCtx)
	logger := &connLog{out: log.New(stderr, "chainrun: ", 0), verbose: opts.verbose, quiet: opts.quiet}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "chainrun: %v\n", err)
		return exitFailure
	}
	plan, err := planRun(opts, os.Getenv, logger)
	if err != nil {
		return fail(err)
	}
	for _, d := range plan.router.Dialers() {
		if err := resolveHops(ctx, d.Chain, d.Mode, logger); err != nil {
			return fail(err)
		}
	}
	dns, err := startDNS(plan, logger)
	if err != nil {
		return fail(err)
	}
	defer dns.close()
	h := &connectHandler{plan: plan, log: logger, dns: dns, iso: plan.iso, mem: mem}
	t := &tracer.Tracer{Handler: h, Logf: logger.debugf, PtraceOnly: ptraceOnly(os.Getenv)}
	code, err := t.Run(ctx, opts.argv, os.Environ())
	if err != nil {
		return fail(err)
	}
	return code
}

// ptraceOnlyEnv, set to 1, makes every trapped call stop for ptrace, as on
// a kernel without seccomp user notification: for a command that loads a
// seccomp listener of its own (a container runtime), which the kernel
// refuses on a thread whose filters already have one.
const ptraceOnlyEnv = "CHAINRUN_PTRACE_ONLY"

// ptraceOnly reads ptraceOnlyEnv.
func ptraceOnly(getenv func(string) string) bool {
	switch strings.ToLower(getenv(ptraceOnlyEnv)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// runPlan is what a run does with connections: the routing, and the
// profile it came from (nil without a configuration file).
type runPlan struct {
	router  *chain.Router
	profile *config.Profile
	cfg     *config.Config
	// dns is where names are resolved: remote, local, tunnel or
	// tor-resolve; dnsServer the resolver tunnel asks.
	dns       string
	dnsServer netip.AddrPort
	// udp is "block" or "direct"; leaks "block" or "allow"; isolate how
	// connections are kept apart on the last hop.
	udp, leaks, isolate string
	iso                 *isolator // nil without isolation
}

// planRun finds the configuration and the profile and applies the command
// line's overrides; without a configuration file the -x hops are the chain.
func planRun(opts *runOptions, getenv func(string) string, logger *connLog) (*runPlan, error) {
	over := config.Overrides{Chain: opts.proxies, Mode: opts.mode, ChainLen: opts.chainLen,
		ConnectTimeout: opts.connectTimeout, ReadTimeout: opts.readTimeout, Timeout: opts.budget, Pipeline: opts.pipeline}
	path, err := config.Find(opts.configPath, getenv)
	if err != nil {
		return nil, err
	}
	if path == "" && opts.profile == "" && getenv("CHAINRUN_PROFILE") != "" && config.Builtin(getenv("CHAINRUN_PROFILE")) != nil {
		opts.profile = getenv("CHAINRUN_PROFILE")
	}
	if path == "" && opts.profile != "" {
		p := config.Builtin(opts.profile)
		if p == nil {
			return nil, fmt.Errorf("-p %s: no configuration file found (and no built-in profile of that name: tor)", opts.profile)
		}
		logger.debugf("profile %s (built in)", p.Name)
		return profilePlan(p, opts, over, nil)
	}
	if path == "" {
		if len(opts.proxies) == 0 {
			return nil, errors.New("no proxy given: add -x socks5://HOST:PORT, use -p tor, or write a proxychains.toml (see README)")
		}
		d := &chain.Dialer{Chain: opts.proxies, ChainLen: opts.chainLen, ConnectTimeout: opts.connectTimeout,
			ReadTimeout: opts.readTimeout, Budget: opts.budget, Pipeline: opts.pipeline}
		if opts.mode != nil {
			d.Mode = *opts.mode
		}
		dns := opts.dns
		if dns == "" {
			dns = "remote"
		}
		if dns == "tunnel" {
			return nil, errors.New("--dns tunnel needs dns_server, the resolver to ask through the chain: set it in a profile")
		}
		plan := &runPlan{router: &chain.Router{Default: d}, dns: dns,
			udp: orString(opts.udp, "block"), leaks: orString(opts.leaks, "block"), isolate: orString(opts.isolate, "none")}
		plan.iso = newIsolator(plan.isolate)
		return plan, nil
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings {
		logger.warnf("%s", w)
	}
	sel, err := cfg.Select(opts.profile, getenv("CHAINRUN_PROFILE"), opts.argv[0])
	if err != nil {
		return nil, err
	}
	if sel.Profile.Quiet && !opts.verbose {
		logger.quiet = true
	}
	logger.debugf("profile %s (%s, %s; dns %s)", sel.Profile.Name, sel.Why, cfg.Path, orString(opts.dns, sel.Profile.DNS))
	return profilePlan(sel.Profile, opts, over, cfg)
}

// profilePlan is the plan of profile p with the command line's overrides.
func profilePlan(p *config.Profile, opts *runOptions, over config.Overrides, cfg *config.Config) (*runPlan, error) {
	if opts.dns != "" {
		p.DNS = opts.dns
	}
	if p.DNS == "tunnel" && !p.DNSServer.IsValid() {
		return nil, fmt.Errorf("dns tunnel: profile %s has no dns_server, the resolver to ask through the chain", p.Name)
	}
	plan := &runPlan{router: p.Router(over), profile: p, cfg: cfg, dns: p.DNS, dnsServer: p.DNSServer,
		udp: orString(opts.udp, p.UDP), leaks: orString(opts.leaks, p.Leaks), isolate: orString(opts.isolate, p.Isolate)}
	plan.iso = newIsolator(plan.isolate)
	return plan, nil
}

// orString is s, or def when s is empty.
func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// resolveHops looks up the hops that may be reached directly: the first in
// strict mode (a failure is fatal), every hop in the other modes (a hop
// whose name does not resolve here can still be reached through another).
func resolveHops(ctx context.Context, hops []*chain.Proxy, mode chain.Mode, logger *connLog) error {
	want := hops
	if mode == chain.Strict {
		want = hops[:1]
	}
	if !slices.ContainsFunc(want, func(p *chain.Proxy) bool { return len(p.Addrs()) == 0 }) {
		return nil // hops given as addresses: no lookup, and no timer for one
	}
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()
	if mode == chain.Strict {
		return hops[0].Resolve(ctx, net.DefaultResolver)
	}
	resolved := 0
	var firstErr error
	for _, p := range hops {
		if err := p.Resolve(ctx, net.DefaultResolver); err != nil {
			logger.debugf("%v (it can only be reached through another hop)", err)
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		resolved++
	}
	if resolved == 0 {
		return firstErr
	}
	return nil
}

// connectHandler is the tracer's Handler: it routes each connect and
// negotiates the chain on the program's socket; with remote DNS it also
// points the program's DNS traffic at chainrun's resolver.
type connectHandler struct {
	plan *runPlan
	log  *connLog
	dns  *remoteDNS // nil with dns = "local"
	iso  *isolator  // nil without isolation
	mem  *memoryReleaser
}

// destination is where a connect goes once the profile's dnat entries
// have rewritten it.
func (h *connectHandler) destination(c *tracer.Call) netip.AddrPort {
	if h.plan.profile == nil {
		return c.Dst
	}
	return h.plan.profile.Rewrite(c.Dst)
}

// target is what a connect is routed by: its address (after dnat) and,
// when remote DNS gave it, the name behind it. fake says the address is
// one of the pool's: only the name can be reached.
func (h *connectHandler) target(c *tracer.Call) (d chain.Destination, fake bool) {
	dst := h.destination(c)
	d = chain.Destination{Addr: dst.Addr(), Port: dst.Port()}
	if name, isFake, ok := h.dns.nameOf(dst.Addr()); ok {
		d.Host, fake = name, isFake
	} else {
		fake = h.dns.isFake(dst.Addr())
	}
	return d, fake
}

// isDNS reports whether a connect or datagram to dst is DNS that
// chainrun's resolver answers.
func (h *connectHandler) isDNS(dst netip.AddrPort) bool {
	return h.dns != nil && dst.Port() == dnsPort
}

// Route implements tracer.Handler: on the tracer thread, it answers the
// connects that need no network.
func (h *connectHandler) Route(c *tracer.Call) (tracer.Result, bool) {
	dst := h.destination(c)
	switch {
	case c.Info.Type == unix.SOCK_DGRAM && h.isDNS(c.Dst):
		if err := h.dns.redirectUDP(c.Socket, c.Info.Domain, c.Dst); err != nil {
			h.log.fail(c, c.Dst.String(), "to chainrun's resolver", err, syscall.ECONNREFUSED)
			return tracer.Fail(syscall.ECONNREFUSED), true
		}
		h.log.conn(c, "udp", c.Dst.String(), "dns, answered by chainrun")
		return tracer.Return(0).WatchReplies(), true
	case c.Info.Type == unix.SOCK_DGRAM && h.blocksUDP(c.Dst):
		// A UDP connect sends nothing, and libcs make one per address to
		// sort getaddrinfo's answers: refused, but shown only with -v;
		// datagrams the program then tries to send are logged.
		h.log.conn(c, "udp", c.Dst.String(), "connect refused (udp = block) -> EPERM")
		return tracer.Fail(syscall.EPERM), true
	case c.Info.Type == unix.SOCK_DGRAM:
		h.log.conn(c, "udp", c.Dst.String(), "direct ("+h.udpWhy(c.Dst)+")")
		return tracer.Allow(), true
	case c.Info.Type != unix.SOCK_STREAM || (c.Info.Protocol != unix.IPPROTO_TCP && c.Info.Protocol != unix.IPPROTO_MPTCP):
		// A connection-oriented protocol no proxy can carry (SCTP, …):
		// refused rather than let through.
		h.log.fail(c, c.Dst.String(), "refused", fmt.Errorf("socket type %d protocol %d cannot be proxied", c.Info.Type, c.Info.Protocol), syscall.EACCES)
		return tracer.Fail(syscall.EACCES), true
	case h.isDNS(c.Dst):
		return tracer.Result{}, false // to the resolver's TCP listener, in Connect
	case h.plan.router.IsProxy(dst) && dst == c.Dst:
		h.log.conn(c, "tcp", c.Dst.String(), "direct (the proxy itself)")
		return tracer.Allow(), true
	}
	d, fake := h.target(c)
	if fake && d.Host == "" {
		err := fmt.Errorf("%s is a fake address of remote DNS that no name has (any more): %w", dst.Addr(), syscall.ECONNREFUSED)
		h.log.fail(c, c.Dst.String(), "(remote DNS)", err, syscall.ECONNREFUSED)
		return tracer.Fail(syscall.ECONNREFUSED), true
	}
	dec := h.plan.router.Decide(d)
	switch {
	case dec.Action == chain.ActionBlock:
		h.log.fail(c, h.describe(c, d), "blocked by rule "+dec.Rule+" ("+dec.Pattern+")", errors.New("destination blocked by the profile"), syscall.ECONNREFUSED)
		return tracer.Fail(syscall.ECONNREFUSED), true
	case dec.Action == chain.ActionDirect && dst == c.Dst && !fake:
		h.log.conn(c, "tcp", h.describe(c, d), "direct (rule "+dec.Rule+": "+dec.Pattern+")")
		return tracer.Allow(), true
	}
	return tracer.Result{}, false
}

// describe names a connect's destination for logs: "10.0.0.1:80", or
// "intranet.corp:80 (198.18.0.7)" when remote DNS gave the name.
func (h *connectHandler) describe(c *tracer.Call, d chain.Destination) string {
	if d.Host == "" {
		return c.Dst.String()
	}
	return net.JoinHostPort(d.Host, strconv.Itoa(int(d.Port))) + " (" + c.Dst.Addr().String() + ")"
}

// Connect implements tracer.Handler: it negotiates the chain on the
// program's socket (or, for a direct destination that dnat rewrote or
// that remote DNS named, connects it to the real address).
func (h *connectHandler) Connect(ctx context.Context, c *tracer.Call) tracer.Result {
	if h.mem != nil {
		defer h.mem.active()
	}
	if c.Inline {
		// On the tracer thread: wait in place, ended by the program's
		// death; in a goroutine, through the poller with the others.
		ctx = chain.WithWaitInPlace(ctx, c.ProcessFd)
	}
	if h.isDNS(c.Dst) {
		return h.connectResolver(ctx, c)
	}
	dst := h.destination(c)
	d, fake := h.target(c)
	dec := h.plan.router.Decide(d)
	var route chain.Route
	var err error
	// via says how the connection went, for the log line: built only
	// when one is written.
	var via func() string
	switch {
	case dec.Action == chain.ActionDirect && fake:
		var addrs []netip.Addr
		if addrs, err = lookupLocal(ctx, d.Host, c.Info.Domain); err == nil {
			real := netip.AddrPortFrom(addrs[0], d.Port)
			via = func() string { return "direct to " + real.String() }
			err = chain.ConnectDirect(ctx, c.Socket, c.Info.Domain, real)
		} else {
			via = func() string { return "direct" }
		}
	case dec.Action == chain.ActionDirect:
		via = func() string { return "direct to " + dst.String() }
		err = chain.ConnectDirect(ctx, c.Socket, c.Info.Domain, dst)
	default:
		target := socks.AddrFromAddrPort(dst)
		if fake {
			target = socks.Addr{Name: d.Host, Port: d.Port}
		}
		if h.iso != nil {
			ctx = chain.WithIsolation(ctx, h.iso.auth(c.Pid, target.String()))
		}
		route, err = dec.Dialer.ConnectSocket(ctx, c.Socket, c.Info.Domain, target)
		via = func() string {
			if route == nil {
				return "via " + chain.Route(dec.Dialer.Chain).String()
			}
			return "via " + route.String()
		}
	}
	if fake && err == nil {
		h.dns.track(c.Socket, dst.Addr())
	}
	if err == nil && !h.log.verbose {
		return connected(c) // nothing to log: no strings to build
	}
	how := via()
	if dec.Rule != "default" {
		how += " (rule " + dec.Rule + ": " + dec.Pattern + ")"
	}
	what := h.describe(c, d)
	if err != nil {
		errno := chain.Errno(err)
		h.log.fail(c, what, how, err, errno)
		return tracer.Fail(errno)
	}
	h.log.conn(c, "tcp", what, how+" ok")
	return connected(c)
}

// connectResolver connects a program's DNS-over-TCP socket to chainrun's
// resolver.
func (h *connectHandler) connectResolver(ctx context.Context, c *tracer.Call) tracer.Result {
	ep, err := h.dns.server.TCPEndpoint(c.Info.Domain)
	if err == nil {
		err = chain.ConnectDirect(ctx, c.Socket, c.Info.Domain, ep)
	}
	if err != nil {
		errno := chain.Errno(err)
		h.log.fail(c, c.Dst.String(), "to chainrun's resolver", err, errno)
		return tracer.Fail(errno)
	}
	h.log.conn(c, "tcp", c.Dst.String(), "dns, answered by chainrun")
	return connected(c)
}

// connected is what the kernel says for a connect that worked: 0, or for
// a non-blocking socket EINPROGRESS (the socket is already writable with
// SO_ERROR 0 when the program polls it).
func connected(c *tracer.Call) tracer.Result {
	if c.Info.NonBlocking {
		return tracer.Fail(syscall.EINPROGRESS)
	}
	return tracer.Return(0)
}

// Datagram implements tracer.DatagramHandler: DNS queries sent with an
// address go to chainrun's resolver; other datagrams pass (and show in
// -v).
func (h *connectHandler) Datagram(d *tracer.Datagram) tracer.Verdict {
	if d.Info.Type != unix.SOCK_DGRAM {
		return tracer.Pass()
	}
	if h.isDNS(d.Dst) {
		ep, err := h.dns.udpEndpoint(d.Dst, d.Info.Domain)
		if err != nil {
			h.log.failDatagram(d, err, syscall.EPERM)
			return tracer.Refuse(syscall.EPERM)
		}
		h.log.datagram(d, "dns, answered by chainrun")
		return tracer.Redirect(ep)
	}
	if h.blocksUDP(d.Dst) {
		h.log.udpBlocked(d.Program(), d.Pid, d.Dst, d.Trap.Call().String())
		return tracer.Refuse(syscall.EPERM)
	}
	h.log.datagram(d, "direct ("+h.udpWhy(d.Dst)+")")
	return tracer.Pass()
}

// blocksUDP reports whether a datagram to dst is refused: udp = "block"
// (the default) lets only loopback through.
// With dns = "local" the program's own DNS queries pass: the user asked
// for them.
func (h *connectHandler) blocksUDP(dst netip.AddrPort) bool {
	return h.plan.udp != "direct" && !dst.Addr().Unmap().IsLoopback() && !h.localDNS(dst)
}

// localDNS reports whether a datagram to dst is the program's own DNS
// under dns = "local".
func (h *connectHandler) localDNS(dst netip.AddrPort) bool {
	return h.dns == nil && dst.Port() == dnsPort
}

// udpWhy says why a datagram to dst may pass, for -v.
func (h *connectHandler) udpWhy(dst netip.AddrPort) string {
	switch {
	case dst.Addr().Unmap().IsLoopback():
		return "loopback"
	case h.localDNS(dst) && h.plan.udp != "direct":
		return "dns = local"
	}
	return "udp = direct"
}

// Policy implements tracer.PolicyHandler: with leaks = "block" (the
// default), raw and packet sockets are refused with EPERM and
// io_uring_setup with ENOSYS (programs then fall back to the socket calls
// chainrun traps).
func (h *connectHandler) Policy(c *tracer.PolicyCall) tracer.Result {
	var what string
	var errno syscall.Errno
	switch c.Trap.Call() {
	case syscalls.CallIoUringSetup:
		what, errno = "io_uring_setup (io_uring's connect and send would bypass the chain)", syscall.ENOSYS
	case syscalls.CallSocket:
		typ := c.Type & 0xf
		switch {
		case c.Domain == unix.AF_PACKET:
			what = "a packet socket (AF_PACKET)"
		case (c.Domain == unix.AF_INET || c.Domain == unix.AF_INET6) && typ == unix.SOCK_RAW:
			what = fmt.Sprintf("a raw IP socket (protocol %d)", c.Protocol)
		default:
			return tracer.Allow() // i386 socketcall stops every socket()
		}
		errno = syscall.EPERM
	default:
		return tracer.Allow()
	}
	if h.plan.leaks == "allow" {
		h.log.debugf("%s[%d] %s allowed (leaks = allow)", c.Program(), c.Pid, what)
		return tracer.Allow()
	}
	h.log.refused(c.Program(), c.Pid, what+" refused (leaks = block)", errno)
	return tracer.Fail(errno)
}

// Source implements tracer.DatagramHandler: a reply from chainrun's
// resolver shows the nameserver the program asked as its source.
func (h *connectHandler) Source(src netip.AddrPort) (netip.AddrPort, bool) {
	if h.dns == nil {
		return netip.AddrPort{}, false
	}
	return h.dns.server.Nameserver(src)
}

// Exec implements tracer.ExecObserver: in -v, it says when a program that
// another profile claims runs under this run's profile.
func (h *connectHandler) Exec(pid int, program string) {
	h.warnPrivileged(pid, program)
	if h.plan.cfg == nil || !h.log.verbose {
		return
	}
	if other := h.plan.cfg.Claimant(program); other != "" && other != h.plan.profile.Name {
		h.log.out.Printf("%s[%d] runs under profile %s, not %s which claims it: the profile is chosen once for the whole command (start it with -p %s)",
			program, pid, h.plan.profile.Name, other, other)
	}
}

// warnPrivileged says when a program that would gain privileges on exec
// (setuid, setgid, file capabilities) runs under chainrun: no_new_privs,
// which seccomp needs, makes the kernel run it without them, so it may fail
// (ping without its capability, sudo) — it still cannot reach the network
// around the chain.
func (h *connectHandler) warnPrivileged(pid int, program string) {
	exe := "/proc/" + strconv.Itoa(pid) + "/exe"
	var st unix.Stat_t
	if h.log.quiet || unix.Stat(exe, &st) != nil {
		return
	}
	var what []string
	if st.Mode&unix.S_ISUID != 0 {
		what = append(what, fmt.Sprintf("setuid (uid %d)", st.Uid))
	}
	if st.Mode&unix.S_ISGID != 0 {
		what = append(what, fmt.Sprintf("setgid (gid %d)", st.Gid))
	}
	if n, err := unix.Getxattr(exe, "security.capability", nil); err == nil && n > 0 {
		what = append(what, "given file capabilities")
	}
	if len(what) > 0 {
		h.log.warnf("%s[%d] is %s: under chainrun it runs without those privileges (no_new_privs), and may fail for want of them; its connections still go through the chain",
			program, pid, strings.Join(what, " and "))
	}
}

// connLog writes chainrun's lines on stderr: failures unless quiet, every
// connection when verbose.
type connLog struct {
	out            *log.Logger
	verbose, quiet bool

	mu   sync.Mutex
	seen map[string]bool // lines logged once
}

func (l *connLog) conn(c *tracer.Call, proto, dst, what string) {
	if l.verbose {
		l.out.Printf("%s[%d] %s %s %s %s", c.Program(), c.Pid, proto, dst, what, elapsed(c.Start))
	}
}

func (l *connLog) fail(c *tracer.Call, dst, route string, err error, errno syscall.Errno) {
	if l.quiet {
		return
	}
	hint := ""
	if errors.Is(err, socks.ErrAuth) {
		hint = " (check the proxy's user name and password)"
	}
	l.out.Printf("%s[%d] tcp %s %s failed: %v%s -> %s %s", c.Program(), c.Pid, dst, route, err, hint, errnoName(errno), elapsed(c.Start))
}

// udpBlocked logs a refused datagram (or UDP connect), once per process
// and destination.
func (l *connLog) udpBlocked(program string, pid int, dst netip.AddrPort, how string) {
	if l.quiet || !l.once(fmt.Sprintf("udp %d %s", pid, dst)) {
		return
	}
	l.out.Printf("%s[%d] udp %s refused (%s): UDP is blocked (udp = block; DNS is answered by chainrun) -> EPERM", program, pid, dst, how)
}

// refused logs a refused call.
func (l *connLog) refused(program string, pid int, what string, errno syscall.Errno) {
	if !l.quiet {
		l.out.Printf("%s[%d] %s -> %s", program, pid, what, errnoName(errno))
	}
}

// once reports whether key is logged for the first time (a bounded
// memory: it forgets everything past 4096 keys).
func (l *connLog) once(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil || len(l.seen) > 4096 {
		l.seen = map[string]bool{}
	}
	if l.seen[key] {
		return false
	}
	l.seen[key] = true
	return true
}

func (l *connLog) datagram(d *tracer.Datagram, what string) {
	if l.verbose {
		l.out.Printf("%s[%d] udp %s %s (%s, %d bytes) %s", d.Program(), d.Pid, d.Dst, what, d.Trap, d.Size, elapsed(d.Start))
	}
}

func (l *connLog) failDatagram(d *tracer.Datagram, err error, errno syscall.Errno) {
	if !l.quiet {
		l.out.Printf("%s[%d] udp %s failed: %v -> %s", d.Program(), d.Pid, d.Dst, err, errnoName(errno))
	}
}

func (l *connLog) warnf(format string, args ...any) {
	if !l.quiet {
		l.out.Printf("warning: "+format, args...)
	}
}

func (l *connLog) debugf(format string, args ...any) {
	if l.verbose {
		l.out.Printf(format, args...)
	}
}

func elapsed(start time.Time) string {
	return fmt.Sprintf("%.1fms", float64(time.Since(start).Microseconds())/1000)
}

// errnoName is the symbolic name of an errno (ECONNREFUSED), for logs.
func errnoName(e syscall.Errno) string {
	if name := unix.ErrnoName(e); name != "" {
		return name
	}
	return fmt.Sprintf("errno %d", int(e))
}
