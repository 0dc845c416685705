package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chainrun/chainrun/chain"
	"github.com/chainrun/chainrun/socks"
	"github.com/chainrun/chainrun/tracer"
)

// startupTimeout bounds resolving the first hop's name before the command starts.
const startupTimeout = 10 * time.Second

// runCommand runs opts.argv under the tracer and returns its exit status.
func runCommand(ctx context.Context, opts *runOptions, stderr io.Writer) int {
	logger := &connLog{out: log.New(stderr, "chainrun: ", 0), verbose: opts.verbose, quiet: opts.quiet}
	if err := resolveHops(ctx, opts.proxies, opts.mode, logger); err != nil {
		fmt.Fprintf(stderr, "chainrun: %v\n", err)
		return exitFailure
	}
	h := &connectHandler{
		dialer: &chain.Dialer{
			Chain:          opts.proxies,
			Mode:           opts.mode,
			ChainLen:       opts.chainLen,
			ConnectTimeout: opts.connectTimeout,
			ReadTimeout:    opts.readTimeout,
			Budget:         opts.budget,
		},
		log: logger,
	}
	t := &tracer.Tracer{Handler: h, Logf: logger.debugf}
	code, err := t.Run(ctx, opts.argv, os.Environ())
	if err != nil {
		fmt.Fprintf(stderr, "chainrun: %v\n", err)
		return exitFailure
	}
	return code
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
	dialer *chain.Dialer
	log    *connLog
}

// Route implements tracer.Handler: on the tracer thread, it answers the
// connects that need no network.
func (h *connectHandler) Route(c *tracer.Call) (tracer.Result, bool) {
	switch {
	case c.Info.Type == unix.SOCK_DGRAM:
		h.log.conn(c, "udp", "direct (UDP is not proxied in this version)")
		return tracer.Allow(), true
	case c.Info.Type != unix.SOCK_STREAM || (c.Info.Protocol != unix.IPPROTO_TCP && c.Info.Protocol != unix.IPPROTO_MPTCP):
		// A connection-oriented protocol no proxy can carry (SCTP, …):
		// refused rather than let through.
		h.log.fail(c, "refused", fmt.Errorf("socket type %d protocol %d cannot be proxied", c.Info.Type, c.Info.Protocol), syscall.EACCES)
		return tracer.Fail(syscall.EACCES), true
	case h.dialer.IsProxy(c.Dst):
		h.log.conn(c, "tcp", "direct (the proxy itself)")
		return tracer.Allow(), true
	}
	return tracer.Result{}, false
}

// Connect implements tracer.Handler: it negotiates the chain on the
// program's socket.
func (h *connectHandler) Connect(ctx context.Context, c *tracer.Call) tracer.Result {
	route, err := h.dialer.ConnectSocket(ctx, c.Socket, c.Info.Domain, c.Dst)
	if err != nil {
		errno := chain.Errno(err)
		via := "via " + route.String()
		if route == nil {
			via = "via " + chain.Route(h.dialer.Chain).String()
		}
		h.log.fail(c, via, err, errno)
		return tracer.Fail(errno)
	}
	h.log.conn(c, "tcp", "via "+route.String()+" ok")
	if c.Info.NonBlocking {
		// What the kernel says for a non-blocking connect; the socket is
		// already writable with SO_ERROR 0 when the program polls it.
		return tracer.Fail(syscall.EINPROGRESS)
	}
	return tracer.Return(0)
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
