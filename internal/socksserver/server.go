// Package socksserver is the SOCKS proxy behind `chainrun serve`: it
// accepts clients, runs the SOCKS4, SOCKS4a or SOCKS5 handshake (the
// client's first byte says which, so all three share one port), dials
// CONNECT destinations and relays bytes both ways, and answers Tor's
// RESOLVE and RESOLVE_PTR extensions.
package socksserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/chainrun/chainrun/socks"
)

// Defaults for the zero values of Server's fields.
const (
	DefaultDialTimeout      = 10 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxClients       = 1024
)

// Server is a SOCKS4, SOCKS4a and SOCKS5 proxy server with CONNECT
// support. It also answers Tor's SOCKS5 extensions RESOLVE (the first IPv4
// address of the name, else its first IPv6 address) and RESOLVE_PTR (the
// first name of the address) with Resolver; a lookup that fails is
// answered StatusHostUnreachable. BIND and UDP ASSOCIATE are refused
// (StatusCommandNotSupported for SOCKS5, Status4Rejected for SOCKS4). The
// zero Server is ready to use; its fields must not change while Serve
// runs.
type Server struct {
	// Auth says which authentication methods clients may use. Nil means
	// no authentication. When it requires a password, SOCKS4 and SOCKS4a
	// clients are refused: they cannot send one.
	Auth *socks.ServerConfig

	// Dial connects to a CONNECT destination: an IPv4 or IPv6 address, or
	// a name (SOCKS4a, SOCKS5 domain addresses) that Dial resolves. It
	// should return when ctx is done. Nil means a net.Dialer with
	// DefaultDialTimeout, which resolves names on the server.
	Dial func(ctx context.Context, dst socks.Addr) (net.Conn, error)

	// Resolver answers RESOLVE and RESOLVE_PTR. Nil means
	// net.DefaultResolver, which looks names up on the server's host:
	// a server whose Dial goes through an upstream chain should give one
	// that resolves through it, or the lookups leave from here.
	Resolver Resolver

	// HandshakeTimeout bounds the time from accepting a client to having
	// its request, and each RESOLVE or RESOLVE_PTR lookup with its reply;
	// a client that says nothing is dropped. Zero means
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration

	// MaxClients bounds the number of clients served at once; while that
	// many are connected, further clients wait in the listen backlog. Zero
	// or less means DefaultMaxClients.
	MaxClients int

	// Logf, when non-nil, gets one line per connection (client, protocol,
	// user, destination, result, bytes each way, duration) and accept
	// errors. For SOCKS4 the user is the client's unchecked USERID.
	// It is called from many goroutines at once.
	Logf func(format string, args ...any)
}

// A Resolver looks names and addresses up for RESOLVE and RESOLVE_PTR.
// *net.Resolver is one. Its methods should return when ctx is done.
type Resolver interface {
	// LookupNetIP returns the addresses of host; network is "ip".
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	// LookupAddr returns the names of addr, an IP address as text.
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// Serve accepts clients on ln and serves each in its own goroutine until ctx
// is cancelled or ln fails. Either way it closes ln, closes every open client
// and destination connection, and waits for its goroutines before it
// returns: nil after ctx was cancelled, the accept error otherwise.
// Temporary accept errors (such as running out of file descriptors) are
// retried after a pause.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel() // closes the open connections, see serveConn
		ln.Close()
		wg.Wait()
	}()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	slots := make(chan struct{}, s.maxClients())
	var pause time.Duration
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		c, err := ln.Accept()
		if err != nil {
			<-slots
			if ctx.Err() != nil {
				return nil
			}
			if !temporary(err) {
				return fmt.Errorf("socksserver: accept: %w", err)
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			s.logf("accept: %v; retrying in %v", err, pause)
			t := time.NewTimer(pause)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil
			}
			continue
		}
		pause = 0
		wg.Go(func() {
			defer func() { <-slots }()
			s.serveConn(ctx, c)
		})
	}
}

// temporary reports whether an accept error is worth retrying.
func temporary(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.EINTR} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (s *Server) maxClients() int {
	if s.MaxClients > 0 {
		return s.MaxClients
	}
	return DefaultMaxClients
}

func (s *Server) handshakeTimeout() time.Duration {
	if s.HandshakeTimeout > 0 {
		return s.HandshakeTimeout
	}
	return DefaultHandshakeTimeout
}

func (s *Server) dial(ctx context.Context, dst socks.Addr) (net.Conn, error) {
	if s.Dial != nil {
		c, err := s.Dial(ctx, dst)
		if err == nil && c == nil {
			err = errors.New("socksserver: Dial returned no connection and no error")
		}
		return c, err
	}
	d := net.Dialer{Timeout: DefaultDialTimeout}
	return d.DialContext(ctx, "tcp", dst.String())
}

func (s *Server) resolver() Resolver {
	if s.Resolver != nil {
		return s.Resolver
	}
	return net.DefaultResolver
}

func (s *Server) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}
