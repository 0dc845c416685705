package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os/signal"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/chainrun/chainrun/internal/socksserver"
	"github.com/chainrun/chainrun/socks"
)

const serveUsage = `Usage: chainrun serve [-l ADDR] [-u USER:PASS]... [-v|-q]

A small SOCKS5 server (CONNECT; no auth, or user/password when -u is given).
  -l, --listen ADDR     where to listen (default 127.0.0.1:1080)
  -u, --user USER:PASS  accept this user (repeatable); then a password is required
  -v, --verbose         one line per connection
  -q, --quiet           nothing but fatal errors
`

// serveOptions is what the command line says for serve.
type serveOptions struct {
	listen         string
	users          map[string]string
	verbose, quiet bool
}

func parseServeArgs(args []string) (*serveOptions, error) {
	o := &serveOptions{listen: "127.0.0.1:1080", users: map[string]string{}}
	for i := 0; i < len(args); i++ {
		name, inline, hasInline := strings.Cut(args[i], "=")
		value := func() (string, error) {
			if hasInline {
				return inline, nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("flag %s needs a value", name)
			}
			i++
			return args[i], nil
		}
		switch name {
		case "-l", "--listen":
			v, err := value()
			if err != nil {
				return nil, err
			}
			if _, _, err := net.SplitHostPort(v); err != nil {
				return nil, fmt.Errorf("--listen %q: %v", v, err)
			}
			o.listen = v
		case "-u", "--user":
			v, err := value()
			if err != nil {
				return nil, err
			}
			user, pass, ok := strings.Cut(v, ":")
			if !ok || user == "" || len(user) > 255 || len(pass) > 255 {
				return nil, errors.New("--user wants USER:PASS, each at most 255 bytes")
			}
			o.users[user] = pass
		case "-v", "--verbose":
			o.verbose = true
		case "-q", "--quiet":
			o.quiet = true
		case "-h", "--help":
			return nil, errHelp
		default:
			return nil, fmt.Errorf("serve: unknown argument %s", args[i])
		}
	}
	if o.verbose && o.quiet {
		return nil, errors.New("-v and -q contradict each other")
	}
	return o, nil
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
		return exitFailure
	}
	logger := log.New(stderr, "chainrun serve: ", log.LstdFlags)
	srv := &socksserver.Server{}
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
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		fmt.Fprintf(stderr, "chainrun: serve: %v\n", err)
		return exitFailure
	}
	if !o.quiet {
		auth := "no authentication"
		if srv.Auth != nil {
			auth = fmt.Sprintf("%d user(s), password required", len(o.users))
		}
		logger.Printf("SOCKS5 on %s (%s)", ln.Addr(), auth)
	}
	ctx, stop := signal.NotifyContext(ctx, unix.SIGINT, unix.SIGTERM)
	defer stop()
	if err := srv.Serve(ctx, ln); err != nil && ctx.Err() == nil {
		fmt.Fprintf(stderr, "chainrun: serve: %v\n", err)
		return exitFailure
	}
	if !o.quiet {
		logger.Printf("stopped")
	}
	return exitOK
}
