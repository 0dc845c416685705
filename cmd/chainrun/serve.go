package main

import (
	"bufio"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chainrun/chainrun/chain"
	"github.com/chainrun/chainrun/internal/socksserver"
	"github.com/chainrun/chainrun/socks"
)

const serveUsage = `Usage: chainrun serve [-l ADDR] [-u USER:PASS]... [--users-file FILE]
                      [-x URL]... [flags]

A SOCKS server: SOCKS4, SOCKS4a and SOCKS5 (CONNECT) on one port. With -x it
is a gateway: every connection goes on through that proxy chain.

  -l, --listen ADDR            where to listen (default 127.0.0.1:1080)
  -u, --user USER:PASS         accept this user (repeatable); a password is
                               then required, so SOCKS4 clients are refused
      --users-file FILE        users from FILE: one USER:PASS a line, blank
                               lines and # comments allowed (repeatable)
  -x, --proxy URL              send connections on through this hop:
                               socks5://, socks5h://, socks4://, socks4a://
                               or http://[user:pass@]host[:port];
                               repeat for a chain, in order
      --max-clients N          clients served at once (default 1024)
      --handshake-timeout DUR  a client's time to make its request
                               (default 10s)
  -v, --verbose                one line per connection
  -q, --quiet                  nothing but fatal errors
  -h, --help                   this help
`

// serveOptions is what the command line says for serve.
type serveOptions struct {
	listen           string
	users            map[string]string
	usersFiles       []string
	proxies          []*chain.Proxy
	maxClients       int
	handshakeTimeout time.Duration
	verbose, quiet   bool
}

func parseServeArgs(args []string) (*serveOptions, error) {
	o := &serveOptions{
		listen:           "127.0.0.1:1080",
		users:            map[string]string{},
		maxClients:       socksserver.DefaultMaxClients,
		handshakeTimeout: socksserver.DefaultHandshakeTimeout,
	}
	c := &cmdline{args: args}
	for ; c.i < len(args); c.i++ {
		c.name, c.inline, c.hasInline = strings.Cut(args[c.i], "=")
		var err error
		switch c.name {
		case "-l", "--listen":
			var v string
			if v, err = c.value(); err == nil {
				if _, _, perr := net.SplitHostPort(v); perr != nil {
					err = fmt.Errorf("--listen %q: %v", v, perr)
				}
				o.listen = v
			}
		case "-u", "--user":
			var v string
			if v, err = c.value(); err == nil {
				err = addUserFlag(o, v)
			}
		case "--users-file":
			var v string
			if v, err = c.value(); err == nil {
				o.usersFiles = append(o.usersFiles, v)
			}
		case "-x", "--proxy":
			var p *chain.Proxy
			if p, err = c.proxy(); err == nil {
				o.proxies = append(o.proxies, p)
			}
		case "--max-clients":
			o.maxClients, err = c.positive()
		case "--handshake-timeout":
			o.handshakeTimeout, err = c.duration()
		case "-v", "--verbose":
			o.verbose, err = true, c.noValue()
		case "-q", "--quiet":
			o.quiet, err = true, c.noValue()
		case "-h", "--help":
			return nil, errHelp
		default:
			return nil, fmt.Errorf("serve: unknown argument %s", args[c.i])
		}
		if err != nil {
			return nil, err
		}
	}
	if o.verbose && o.quiet {
		return nil, errors.New("-v and -q contradict each other")
	}
	return o, nil
}

// addUserFlag adds the user of a --user USER:PASS flag.
func addUserFlag(o *serveOptions, v string) error {
	user, pass, err := parseUser(v)
	if err == nil {
		err = o.addUser(user, pass)
	}
	if err != nil {
		return fmt.Errorf("--user: %v", err)
	}
	return nil
}

// parseUser splits USER:PASS, as given to -u or on a line of a users file.
// The password may contain colons and spaces; the user name may not be
// empty nor contain spaces or control characters.
func parseUser(s string) (user, pass string, err error) {
	user, pass, ok := strings.Cut(s, ":")
	switch {
	case !ok || user == "":
		return "", "", errors.New("want USER:PASS")
	case len(user) > socks.MaxNameLen || len(pass) > socks.MaxNameLen:
		return "", "", fmt.Errorf("user name and password must be at most %d bytes each", socks.MaxNameLen)
	case strings.IndexFunc(user, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0:
		return "", "", fmt.Errorf("user name %q has a space or a control character", user)
	}
	return user, pass, nil
}

// addUser adds a user; a user given twice is an error, not a silent
// override.
func (o *serveOptions) addUser(user, pass string) error {
	if _, dup := o.users[user]; dup {
		return fmt.Errorf("user %q is given more than once", user)
	}
	o.users[user] = pass
	return nil
}

// loadUsersFile adds the users of the file name to o. It warns on warn
// when others than the owner may read the file.
func (o *serveOptions) loadUsersFile(name string, warn io.Writer) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("--users-file: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().Perm()&0o044 != 0 {
		fmt.Fprintf(warn, "chainrun: warning: %s holds passwords and is readable by group or others (mode %04o); chmod 600 it\n",
			name, fi.Mode().Perm())
	}
	return o.parseUsers(name, f)
}

// parseUsers adds the users listed in r, which comes from the file name:
// one USER:PASS a line, as for -u; blank lines and lines whose first
// non-blank character is # are skipped. The password is the rest of the
// line, spaces included (but not a trailing CR). An error names the file
// and the line.
func (o *serveOptions) parseUsers(name string, r io.Reader) error {
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSuffix(sc.Text(), "\r")
		if t := strings.TrimSpace(text); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		user, pass, err := parseUser(text)
		if err == nil {
			err = o.addUser(user, pass)
		}
		if err != nil {
			return fmt.Errorf("%s:%d: %v", name, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s:%d: %v", name, line+1, err)
	}
	return nil
}

// serveMain runs `chainrun serve` until SIGINT or SIGTERM.
func serveMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseServeArgs(args)
	switch {
	case errors.Is(err, errHelp):
		fmt.Fprint(stdout, serveUsage)
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "chainrun: %v\n", err)
		fmt.Fprintln(stderr, "Try 'chainrun serve --help' for more information.")
		return exitFailure
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "chainrun: serve: %v\n", err)
		return exitFailure
	}
	warn := stderr
	if o.quiet {
		warn = io.Discard
	}
	for _, name := range o.usersFiles {
		if err := o.loadUsersFile(name, warn); err != nil {
			return fail(err)
		}
	}

	logger := log.New(stderr, "chainrun serve: ", log.LstdFlags)
	srv := &socksserver.Server{MaxClients: o.maxClients, HandshakeTimeout: o.handshakeTimeout}
	if len(o.users) > 0 {
		users := o.users
		srv.Auth = &socks.ServerConfig{
			RequireAuth: true,
			Credentials: func(user, pass string) bool {
				want, ok := users[user]
				return ok && subtle.ConstantTimeCompare([]byte(want), []byte(pass)) == 1
			},
		}
	}
	if o.verbose {
		srv.Logf = logger.Printf
	}
	if len(o.proxies) > 0 {
		// Only the first hop is reached from here; each later hop is
		// resolved by the hop before it.
		rctx, cancel := context.WithTimeout(ctx, chain.DefaultConnectTimeout)
		err := o.proxies[0].Resolve(rctx, net.DefaultResolver)
		cancel()
		if err != nil {
			return fail(err)
		}
		dialer := &chain.Dialer{Chain: o.proxies}
		srv.Dial = func(ctx context.Context, dst socks.Addr) (net.Conn, error) {
			return dialer.Dial(ctx, dst)
		}
		// RESOLVE goes to the chain too, so a name is never looked up here
		// when connections to it would not be made from here.
		srv.Resolver = chainResolver{dialer}
	}

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fail(err)
	}
	if len(o.proxies) > 0 && loops(ln.Addr(), o.proxies[0]) {
		ln.Close()
		return fail(fmt.Errorf("the first hop %s is this server itself (%s): connections would loop", o.proxies[0], ln.Addr()))
	}
	if !o.quiet {
		auth := "no authentication"
		if srv.Auth != nil {
			auth = fmt.Sprintf("%d user(s), password required, SOCKS4 refused", len(o.users))
		}
		via := ""
		if len(o.proxies) > 0 {
			via = "; onward via " + chain.Route(o.proxies).String()
		}
		logger.Printf("SOCKS4/4a/5 on %s (%s%s)", ln.Addr(), auth, via)
	}
	ctx, stop := signal.NotifyContext(ctx, unix.SIGINT, unix.SIGTERM)
	defer stop()
	if err := srv.Serve(ctx, ln); err != nil && ctx.Err() == nil {
		return fail(err)
	}
	if !o.quiet {
		logger.Printf("stopped")
	}
	return exitOK
}

// loops reports whether hop is the listener at addr itself: the same port
// on the same address, or on a loopback address when the listener takes
// every address.
func loops(addr net.Addr, hop *chain.Proxy) bool {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return false
	}
	listen := ta.AddrPort()
	lip := listen.Addr().Unmap()
	for _, a := range hop.Addrs() {
		if a.Port() != listen.Port() {
			continue
		}
		ip := a.Addr().Unmap()
		if ip == lip || (lip.IsUnspecified() && (ip.IsLoopback() || ip.IsUnspecified())) {
			return true
		}
	}
	return false
}

// chainResolver answers a serve client's RESOLVE and RESOLVE_PTR through the
// upstream chain (its last hop must speak SOCKS5).
type chainResolver struct{ d *chain.Dialer }

func (r chainResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	a, err := r.d.Resolve(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("resolving %s through %s: %w", host, chain.Route(r.d.Chain), err)
	}
	return []netip.Addr{a}, nil
}

func (r chainResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	name, err := r.d.ResolvePTR(ctx, ip)
	if err != nil {
		return nil, fmt.Errorf("resolving %s through %s: %w", addr, chain.Route(r.d.Chain), err)
	}
	return []string{name}, nil
}
