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
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/chainrun/chainrun/chain"
	"github.com/chainrun/chainrun/socks"
)

const checkUsage = `Usage: chainrun check [-f FILE] [-p NAME] [-x URL]... [--target HOST:PORT] [--timeout DUR]

Checks the chain a run would use, hop by hop, and prints one line per hop:
hop 1 is reached by a TCP connect, each later hop through the hops before
it (which resolve its name, as in a run). Then, with --target, a
connection goes through the whole chain to HOST:PORT; without it, a SOCKS5
last hop is greeted with the credentials a run would give it (its own, or
those of isolate), which proves it speaks SOCKS5 and accepts them.

  -f, --config FILE      the configuration file, as for a run
  -p, --profile NAME     the profile, as for a run (-p tor: the built-in one)
  -x, --proxy URL        a hop; repeat for a chain (replaces the profile's)
      --target HOST:PORT connect through the whole chain to HOST:PORT (a
                         name is resolved by the last hop)
      --timeout DUR      bound on the whole check (default 30s)
  -h, --help             this help

Exit status: 0 when every check passed, 1 when one failed, 125 for a bad
command line or configuration.
`

// exitCheckFailed is check's status when a hop or the target failed.
const exitCheckFailed = 1

// defaultCheckTimeout bounds a whole check.
const defaultCheckTimeout = 30 * time.Second

// checkOptions is what the command line says for a check.
type checkOptions struct {
	run     runOptions // the configuration, profile and -x hops, as a run takes them
	target  *socks.Addr
	timeout time.Duration
}

// parseCheckArgs parses check's flags.
func parseCheckArgs(args []string) (*checkOptions, error) {
	o := &checkOptions{timeout: defaultCheckTimeout}
	c := &cmdline{args: args}
	for ; c.i < len(args); c.i++ {
		a := args[c.i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			return nil, fmt.Errorf("unexpected argument %q (check takes only flags)", a)
		}
		c.name, c.inline, c.hasInline = strings.Cut(a, "=")
		if !strings.HasPrefix(a, "--") && len(a) > 2 && !c.hasInline {
			// -xURL, -pNAME, -fFILE, as for a run.
			c.name, c.inline, c.hasInline = a[:2], a[2:], true
			if c.name != "-x" && c.name != "-p" && c.name != "-f" {
				return nil, fmt.Errorf("unknown flag %s", a)
			}
		}
		var err error
		switch c.name {
		case "-f", "--config":
			o.run.configPath, err = c.value()
		case "-p", "--profile":
			o.run.profile, err = c.value()
		case "-x", "--proxy":
			var p *chain.Proxy
			if p, err = c.proxy(); err == nil {
				o.run.proxies = append(o.run.proxies, p)
			}
		case "--target":
			var v string
			if v, err = c.value(); err == nil {
				o.target, err = parseTarget(v)
			}
		case "--timeout":
			o.timeout, err = c.duration()
		case "-h", "--help":
			if err = c.noValue(); err == nil {
				return nil, errHelp
			}
		default:
			return nil, fmt.Errorf("unknown flag %s", c.name)
		}
		if err != nil {
			return nil, err
		}
	}
	// planRun picks a profile by the command's name: check has none.
	o.run.argv = []string{""}
	return o, nil
}

// parseTarget parses --target's HOST:PORT: an IP literal, or a name for
// the last hop to resolve.
func parseTarget(v string) (*socks.Addr, error) {
	host, portText, err := net.SplitHostPort(v)
	port, perr := strconv.ParseUint(portText, 10, 16)
	if err != nil || perr != nil || port == 0 || host == "" || len(host) > socks.MaxNameLen {
		return nil, fmt.Errorf("--target %q: want HOST:PORT, e.g. example.com:443 or [::1]:22", v)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return &socks.Addr{IP: ip.Unmap(), Port: uint16(port)}, nil
	}
	return &socks.Addr{Name: host, Port: uint16(port)}, nil
}

// checkMain runs `chainrun check …`.
func checkMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runCheck(ctx, args, os.Getenv, stdout, stderr)
}

// runCheck is checkMain with the environment as a function, for tests.
func runCheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	usageErr := func(err error) int {
		fmt.Fprintf(stderr, "chainrun: check: %v\n", err)
		fmt.Fprintln(stderr, "Try 'chainrun check --help' for more information.")
		return exitFailure
	}
	o, err := parseCheckArgs(args)
	if errors.Is(err, errHelp) {
		fmt.Fprint(stdout, checkUsage)
		return exitOK
	}
	if err != nil {
		return usageErr(err)
	}
	logger := &connLog{out: log.New(stderr, "chainrun: ", 0)}
	plan, err := planRun(&o.run, getenv, logger)
	if err != nil {
		fmt.Fprintf(stderr, "chainrun: check: %v\n", err)
		return exitFailure
	}
	d := plan.router.Default
	if d == nil || len(d.Chain) == 0 {
		fmt.Fprintln(stderr, "chainrun: check: the profile has no chain to check")
		return exitFailure
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	ck := &checker{plan: plan, dialer: d, timeout: o.timeout}
	fmt.Fprintln(stdout, ck.describe())
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	ok := ck.hops(ctx, w, o.target == nil)
	if o.target != nil {
		ok = ck.target(ctx, w, *o.target) && ok
	}
	w.Flush()
	if !ok {
		return exitCheckFailed
	}
	return exitOK
}

// checker checks one plan's default chain.
type checker struct {
	plan    *runPlan
	dialer  *chain.Dialer
	timeout time.Duration
}

// describe is the line that says what is checked.
func (ck *checker) describe() string {
	var what []string
	if p := ck.plan.profile; p != nil {
		what = append(what, "profile "+p.Name)
	} else {
		what = append(what, "-x")
	}
	what = append(what, ck.dialer.Mode.String())
	if ck.plan.isolate != "" && ck.plan.isolate != "none" {
		what = append(what, "isolate "+ck.plan.isolate)
	}
	return fmt.Sprintf("chain %s (%s)", chain.Route(ck.dialer.Chain), strings.Join(what, ", "))
}

// line writes one result: what, the URL, ok or FAILED, milliseconds, and
// the details or the error with the errno a program would see.
func line(w io.Writer, what, url string, took time.Duration, detail string, err error) {
	status := "ok"
	if err != nil {
		status = "FAILED"
		detail = fmt.Sprintf("%v -> %s", err, errnoName(chain.Errno(err)))
	}
	fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", what, url, status, ms(took), detail)
}

// ms formats a duration as chainrun's logs do: "1.4ms".
func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
}

// hops checks every hop in order; greet says the last one is greeted. It
// reports whether all went well.
func (ck *checker) hops(ctx context.Context, w io.Writer, greet bool) bool {
	hops := ck.dialer.Chain
	failed := 0 // the first hop that failed
	for i, hop := range hops {
		k := i + 1
		what := fmt.Sprintf("hop %d", k)
		if failed > 0 {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", what, hop, "FAILED", "-", fmt.Sprintf("not checked: hop %d failed", failed))
			continue
		}
		start := time.Now()
		conn, how, err := ck.reach(ctx, k)
		reached := time.Since(start)
		if err != nil {
			failed = k
			line(w, what, hop.String(), reached, "", ck.explain(ctx, err))
			continue
		}
		if greet && k == len(hops) {
			// The line's time is the whole of it; the detail gives each part.
			how += " in " + ms(reached)
			more, err := ck.greet(ctx, conn, hop)
			conn.Close()
			if err != nil {
				failed = k
				line(w, what, hop.String(), time.Since(start), "", fmt.Errorf("%s, then %w", how, ck.explain(ctx, err)))
				continue
			}
			line(w, what, hop.String(), time.Since(start), how+"; "+more, nil)
			continue
		}
		conn.Close()
		line(w, what, hop.String(), reached, how, nil)
	}
	return failed == 0
}

// reach connects to hop k (1-based): hop 1 with a TCP connect of its own,
// hop k > 1 through hops 1…k-1 (strict, as listed), the last of which is
// asked to connect to hop k's address as written (a name it resolves).
func (ck *checker) reach(ctx context.Context, k int) (net.Conn, string, error) {
	hops := ck.dialer.Chain
	if k == 1 {
		return ck.connectFirst(ctx, hops[0])
	}
	sub := &chain.Dialer{Chain: hops[:k-1], Mode: chain.Strict, ConnectTimeout: ck.dialer.ConnectTimeout,
		ReadTimeout: ck.dialer.ReadTimeout, Budget: ck.dialer.Budget}
	conn, err := sub.Dial(ctx, hopAddr(hops[k-1]))
	if err != nil {
		return nil, "", err
	}
	through := "through hop 1"
	if k > 2 {
		through = fmt.Sprintf("through hops 1-%d", k-1)
	}
	return conn, through, nil
}

// connectFirst resolves the first hop's name, if it is one, and makes a
// TCP connection to it, trying its addresses in turn, as a run does.
func (ck *checker) connectFirst(ctx context.Context, hop *chain.Proxy) (net.Conn, string, error) {
	rctx, cancel := context.WithTimeout(ctx, startupTimeout)
	err := hop.Resolve(rctx, net.DefaultResolver)
	cancel()
	if err != nil {
		return nil, "", err
	}
	timeout := ck.dialer.ConnectTimeout
	if timeout <= 0 {
		timeout = chain.DefaultConnectTimeout
	}
	var lastErr error
	for _, addr := range hop.Addrs() {
		dctx, cancel := context.WithTimeout(ctx, timeout)
		conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr.String())
		cancel()
		if err == nil {
			return conn, "TCP connect to " + addr.String(), nil
		}
		lastErr = connectError(addr, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, "", lastErr
}

// connectError words a failed TCP connect as chain does: "connect to
// 127.0.0.1:9: connection refused", keeping the errno.
func connectError(addr netip.AddrPort, err error) error {
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		return fmt.Errorf("connect to %s: %w", addr, syscall.ETIMEDOUT)
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		var se *os.SyscallError
		if errors.As(oe.Err, &se) {
			return fmt.Errorf("connect to %s: %w", addr, se.Err)
		}
		return fmt.Errorf("connect to %s: %w", addr, oe.Err)
	}
	return fmt.Errorf("connect to %s: %w", addr, err)
}

// greet runs the SOCKS5 greeting over conn, connected to the last hop,
// with the credentials a run would give it: the hop's own, else those of
// isolate. It says what the hop answered.
func (ck *checker) greet(ctx context.Context, conn net.Conn, hop *chain.Proxy) (string, error) {
	if hop.Scheme != chain.SOCKS5 && hop.Scheme != chain.SOCKS5H {
		return "no handshake checked without --target (" + string(hop.Scheme) + ")", nil
	}
	auth := hop.Auth
	if auth == nil {
		auth = ck.plan.iso.auth(0, "")
	}
	start := time.Now()
	m, err := socks.Greet5(ctx, conn, auth)
	if err != nil {
		return "", fmt.Errorf("SOCKS5 greeting: %w", err)
	}
	took := time.Since(start)
	switch {
	case m == socks.AuthUsernamePassword && hop.Auth == nil:
		return fmt.Sprintf("SOCKS5 greeting %s: isolation credentials accepted (user %s)", ms(took), auth.Username), nil
	case m == socks.AuthUsernamePassword:
		return fmt.Sprintf("SOCKS5 greeting %s: username/password accepted", ms(took)), nil
	case auth != nil:
		return fmt.Sprintf("SOCKS5 greeting %s: no authentication (credentials offered, not asked for)", ms(took)), nil
	}
	return fmt.Sprintf("SOCKS5 greeting %s: no authentication", ms(took)), nil
}

// target connects through the whole chain to dst, as a run would (the
// run's dialer, with the isolation credentials of a connection to dst).
func (ck *checker) target(ctx context.Context, w io.Writer, dst socks.Addr) bool {
	ck.noteRoute(w, dst)
	ctx = chain.WithIsolation(ctx, ck.plan.iso.auth(os.Getpid(), dst.String()))
	start := time.Now()
	conn, err := ck.dialer.Dial(ctx, dst)
	took := time.Since(start)
	if err != nil {
		line(w, "target", dst.String(), took, "", ck.explain(ctx, err))
		return false
	}
	conn.Close()
	line(w, "target", dst.String(), took, "through the whole chain", nil)
	return true
}

// noteRoute says when a run would not send dst through the default chain
// (a rule matches it): the check goes through the chain all the same.
func (ck *checker) noteRoute(w io.Writer, dst socks.Addr) {
	d := chain.Destination{Host: dst.Name, Addr: dst.IP, Port: dst.Port}
	dec := ck.plan.router.Decide(d)
	if dec.Rule == "default" {
		return
	}
	var what string
	switch dec.Action {
	case chain.ActionBlock:
		what = "block it"
	case chain.ActionDirect:
		what = "connect it direct"
	default:
		what = "send it through " + chain.Route(dec.Dialer.Chain).String()
	}
	fmt.Fprintf(w, "note: a run would %s (rule %s: %s); checked through the profile's chain\n", what, dec.Rule, dec.Pattern)
}

// explain adds to err that the check's own time ran out, when it did.
func (ck *checker) explain(ctx context.Context, err error) error {
	// A connection's deadline (ctx's, set on it) may fire a moment before
	// ctx's own timer does.
	if deadline, ok := ctx.Deadline(); ctx.Err() != nil || ok && !time.Now().Before(deadline) {
		return fmt.Errorf("%w (check --timeout %v reached)", err, ck.timeout)
	}
	return err
}

// hopAddr is how the hop before hop is asked to reach it: its address, or
// its name, which that hop resolves.
func hopAddr(hop *chain.Proxy) socks.Addr {
	if ip, err := netip.ParseAddr(hop.Host); err == nil {
		return socks.Addr{IP: ip.Unmap(), Port: hop.Port}
	}
	return socks.Addr{Name: hop.Host, Port: hop.Port}
}
