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
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chainrun/chainrun/chain"
	"github.com/chainrun/chainrun/chain/config"
	"github.com/chainrun/chainrun/socks"
	"github.com/chainrun/chainrun/tracer"
)

// startupTimeout bounds resolving the first hop's name before the command starts.
const startupTimeout = 10 * time.Second

// runCommand runs opts.argv under the tracer and returns its exit status.
func runCommand(ctx context.Context, opts *runOptions, stderr io.Writer) int {
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
	h := &connectHandler{plan: plan, log: logger}
	t := &tracer.Tracer{Handler: h, Logf: logger.debugf}
	code, err := t.Run(ctx, opts.argv, os.Environ())
	if err != nil {
		return fail(err)
	}
	return code
}

// runPlan is what a run does with connections: the routing, and the
// profile it came from (nil without a configuration file).
type runPlan struct {
	router  *chain.Router
	profile *config.Profile
	cfg     *config.Config
}

// planRun finds the configuration and the profile and applies the command
// line's overrides; without a configuration file the -x hops are the chain.
func planRun(opts *runOptions, getenv func(string) string, logger *connLog) (*runPlan, error) {
	over := config.Overrides{Chain: opts.proxies, Mode: opts.mode, ChainLen: opts.chainLen,
		ConnectTimeout: opts.connectTimeout, ReadTimeout: opts.readTimeout, Timeout: opts.budget}
	path, err := config.Find(opts.configPath, getenv)
	if err != nil {
		return nil, err
	}
	if path == "" {
		if len(opts.proxies) == 0 {
			return nil, errors.New("no proxy given: add -x socks5://HOST:PORT, or write a proxychains.toml (see README)")
		}
		if opts.profile != "" {
			return nil, fmt.Errorf("-p %s: no configuration file found", opts.profile)
		}
		d := &chain.Dialer{Chain: opts.proxies, ChainLen: opts.chainLen, ConnectTimeout: opts.connectTimeout,
			ReadTimeout: opts.readTimeout, Budget: opts.budget}
		if opts.mode != nil {
			d.Mode = *opts.mode
		}
		return &runPlan{router: &chain.Router{Default: d}}, nil
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
	if opts.dns != "" {
		sel.Profile.DNS = opts.dns
	}
	logger.debugf("profile %s (%s, %s; dns %s)", sel.Profile.Name, sel.Why, cfg.Path, sel.Profile.DNS)
	return &runPlan{router: sel.Profile.Router(over), profile: sel.Profile, cfg: cfg}, nil
}

// resolveHops looks up the hops that may be reached directly: the first in
// strict mode (a failure is fatal), every hop in the other modes (a hop
// whose name does not resolve here can still be reached through another).
func resolveHops(ctx context.Context, hops []*chain.Proxy, mode chain.Mode, logger *connLog) error {
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
// negotiates the chain on the program's socket.
type connectHandler struct {
	plan *runPlan
	log  *connLog
}

// destination is where a connect goes once the profile's dnat entries
// have rewritten it.
func (h *connectHandler) destination(c *tracer.Call) netip.AddrPort {
	if h.plan.profile == nil {
		return c.Dst
	}
	return h.plan.profile.Rewrite(c.Dst)
}

// Route implements tracer.Handler: on the tracer thread, it answers the
// connects that need no network.
func (h *connectHandler) Route(c *tracer.Call) (tracer.Result, bool) {
	dst := h.destination(c)
	switch {
	case c.Info.Type == unix.SOCK_DGRAM:
		h.log.conn(c, "udp", "direct (UDP is not proxied in this version)")
		return tracer.Allow(), true
	case c.Info.Type != unix.SOCK_STREAM || (c.Info.Protocol != unix.IPPROTO_TCP && c.Info.Protocol != unix.IPPROTO_MPTCP):
		// A connection-oriented protocol no proxy can carry (SCTP, …):
		// refused rather than let through.
		h.log.fail(c, "refused", fmt.Errorf("socket type %d protocol %d cannot be proxied", c.Info.Type, c.Info.Protocol), syscall.EACCES)
		return tracer.Fail(syscall.EACCES), true
	case h.plan.router.IsProxy(dst) && dst == c.Dst:
		h.log.conn(c, "tcp", "direct (the proxy itself)")
		return tracer.Allow(), true
	}
	dec := h.plan.router.Decide(chain.Destination{Addr: dst.Addr(), Port: dst.Port()})
	switch {
	case dec.Action == chain.ActionBlock:
		h.log.fail(c, "blocked by rule "+dec.Rule+" ("+dec.Pattern+")", errors.New("destination blocked by the profile"), syscall.ECONNREFUSED)
		return tracer.Fail(syscall.ECONNREFUSED), true
	case dec.Action == chain.ActionDirect && dst == c.Dst:
		h.log.conn(c, "tcp", "direct (rule "+dec.Rule+": "+dec.Pattern+")")
		return tracer.Allow(), true
	}
	return tracer.Result{}, false
}

// Connect implements tracer.Handler: it negotiates the chain on the
// program's socket (or, for a direct destination that dnat rewrote,
// connects it to the new address).
func (h *connectHandler) Connect(ctx context.Context, c *tracer.Call) tracer.Result {
	dst := h.destination(c)
	dec := h.plan.router.Decide(chain.Destination{Addr: dst.Addr(), Port: dst.Port()})
	var route chain.Route
	var err error
	via := ""
	if dec.Action == chain.ActionDirect {
		via = "direct to " + dst.String()
		err = chain.ConnectDirect(ctx, c.Socket, c.Info.Domain, dst)
	} else {
		route, err = dec.Dialer.ConnectSocket(ctx, c.Socket, c.Info.Domain, socks.AddrFromAddrPort(dst))
		via = "via " + route.String()
		if route == nil {
			via = "via " + chain.Route(dec.Dialer.Chain).String()
		}
	}
	if dec.Rule != "default" {
		via += " (rule " + dec.Rule + ": " + dec.Pattern + ")"
	}
	if err != nil {
		errno := chain.Errno(err)
		h.log.fail(c, via, err, errno)
		return tracer.Fail(errno)
	}
	h.log.conn(c, "tcp", via+" ok")
	if c.Info.NonBlocking {
		// What the kernel says for a non-blocking connect; the socket is
		// already writable with SO_ERROR 0 when the program polls it.
		return tracer.Fail(syscall.EINPROGRESS)
	}
	return tracer.Return(0)
}

// Exec implements tracer.ExecObserver: in -v, it says when a program that
// another profile claims runs under this run's profile.
func (h *connectHandler) Exec(pid int, program string) {
	if h.plan.cfg == nil || !h.log.verbose {
		return
	}
	if other := h.plan.cfg.Claimant(program); other != "" && other != h.plan.profile.Name {
		h.log.out.Printf("%s[%d] runs under profile %s, not %s which claims it: the profile is chosen once for the whole command (start it with -p %s)",
			program, pid, h.plan.profile.Name, other, other)
	}
}

// connLog writes chainrun's lines on stderr: failures unless quiet, every
// connection when verbose.
type connLog struct {
	out            *log.Logger
	verbose, quiet bool
}

func (l *connLog) conn(c *tracer.Call, proto, what string) {
	if l.verbose {
		l.out.Printf("%s[%d] %s %s %s %s", c.Program(), c.Pid, proto, c.Dst, what, elapsed(c.Start))
	}
}

func (l *connLog) fail(c *tracer.Call, route string, err error, errno syscall.Errno) {
	if l.quiet {
		return
	}
	hint := ""
	if errors.Is(err, socks.ErrAuth) {
		hint = " (check the proxy's user name and password)"
	}
	l.out.Printf("%s[%d] tcp %s %s failed: %v%s -> %s %s", c.Program(), c.Pid, c.Dst, route, err, hint, errnoName(errno), elapsed(c.Start))
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
