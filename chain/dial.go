package chain

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/chainrun/chainrun/socks"
)

// Default timeouts (proxychains ships 8 s connect and 15 s read).
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultReadTimeout    = 15 * time.Second
	DefaultBudget         = 30 * time.Second
)

// Dialer negotiates a chain of proxies, on a socket it is handed
// (ConnectSocket, for traced programs) or on one of its own (Dial). It is
// safe for concurrent use; what it learns about hops that are down, and the
// round-robin position, is shared by all its connections.
type Dialer struct {
	// Chain is the list of hops.
	Chain []*Proxy
	// Mode says which hops of Chain a connection uses (default Strict).
	Mode Mode
	// ChainLen is the number of hops for Random and RoundRobin (default 2).
	ChainLen int
	// ConnectTimeout bounds the TCP connect to the first hop.
	ConnectTimeout time.Duration
	// ReadTimeout bounds each hop's handshake: the wait for its replies,
	// its own connect onward included.
	ReadTimeout time.Duration
	// Budget bounds a whole connection, retries over other hops included.
	Budget time.Duration
	// Pipeline asks SOCKS5 hops in one round trip: greeting, credentials
	// and CONNECT in one write (socks.Connect5Pipelined). For proxies that
	// read a pipelined request (Dante, OpenSSH, Tor, chainrun serve), not
	// microsocks.
	Pipeline bool

	once  sync.Once
	state *hopHealth
}

// Route is the hops one connection went through, in order.
type Route []*Proxy

// String is the route for logs: "socks5://a:1080 -> http://b:3128".
func (r Route) String() string {
	parts := make([]string, len(r))
	for i, p := range r {
		parts[i] = p.String()
	}
	return strings.Join(parts, " -> ")
}

var errNoHopLeft error = &fixedError{msg: "no proxy left to try", err: syscall.ECONNREFUSED}

// fixedError is a package-level error that reads and unwraps as
// fmt.Errorf("msg: %w", err) would, built without fmt: package
// initialisation, which every start of chainrun pays, stays cheap.
type fixedError struct {
	msg string
	err error
}

func (e *fixedError) Error() string { return e.msg + ": " + e.err.Error() }

func (e *fixedError) Unwrap() error { return e.err }

// IsProxy reports whether dst is the address of a hop: a program that
// talks to a proxy itself is let through, not looped.
func (d *Dialer) IsProxy(dst netip.AddrPort) bool {
	dst = netip.AddrPortFrom(dst.Addr().Unmap().WithZone(""), dst.Port())
	for _, p := range d.Chain {
		for _, a := range p.Addrs() {
			if a == dst {
				return true
			}
		}
	}
	return false
}

// setNonBlocking puts sock, a descriptor sharing the program's open file
// description, in non-blocking mode if it is not already, and returns
// whether it was blocking and how to put the program's flags back: one
// F_GETFL and, for a blocking socket, one F_SETFL each way.
func setNonBlocking(sock int) (blocking bool, restore func(), err error) {
	flags, err := unix.FcntlInt(uintptr(sock), unix.F_GETFL, 0)
	if err != nil {
		return false, nil, fmt.Errorf("F_GETFL: %w", err)
	}
	if flags&unix.O_NONBLOCK != 0 {
		return false, func() {}, nil
	}
	if _, err := unix.FcntlInt(uintptr(sock), unix.F_SETFL, flags|unix.O_NONBLOCK); err != nil {
		return false, nil, fmt.Errorf("O_NONBLOCK: %w", err)
	}
	return true, func() { unix.FcntlInt(uintptr(sock), unix.F_SETFL, flags) }, nil
}

// ConnectSocket connects sock, a fresh TCP socket of the given family that
// belongs to the traced program, through the chain to dst (an address, or
// a name for the last hop to resolve: remote DNS). sock is a
// duplicate sharing the program's open file description; ConnectSocket
// neither closes it nor leaves its O_NONBLOCK flag changed. After a failed
// attempt the half-made connection is dissolved (connect AF_UNSPEC), so the
// next attempt, or the program, can connect the same socket again. The
// error names the hop and satisfies errors.Is with the errno the program
// should see (see Errno).
func (d *Dialer) ConnectSocket(ctx context.Context, sock, family int, dst socks.Addr) (Route, error) {
	// The handshake runs non-blocking, each wait bounded by poll(2); the
	// program's mode comes back after.
	blocking, restore, err := setNonBlocking(sock)
	if err != nil {
		return nil, err
	}
	defer restore()
	route, err := d.attempts(ctx, d.connectTo(dst),
		func(Route) (int, int, error) { return sock, family, nil },
		func(fd int) { dissolve(fd) })
	if err == nil && blocking {
		// Our non-blocking connect left the socket "connecting" until
		// the next connect(): settle it now, so that a blocking program
		// that calls connect() again gets EISCONN, as from the kernel.
		// (A non-blocking program gets 0 then EISCONN, as from the
		// kernel after EINPROGRESS.)
		settle(sock, family, route[0])
	}
	return route, err
}

// ConnectDirect connects sock, a traced program's fresh TCP socket, straight
// to dst (a destination a dnat entry rewrote), with ConnectSocket's
// guarantees: the program's O_NONBLOCK flag is kept and a failed attempt
// is dissolved.
func ConnectDirect(ctx context.Context, sock, family int, dst netip.AddrPort) error {
	blocking, restore, err := setNonBlocking(sock)
	if err != nil {
		return err
	}
	defer restore()
	sa, err := encodeSockaddr(family, dst)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", dst, err)
	}
	conn, release, err := newHandshakeConn(ctx, sock)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", dst, err)
	}
	conn.SetWriteDeadline(time.Now().Add(DefaultConnectTimeout))
	stop := context.AfterFunc(ctx, func() { conn.SetWriteDeadline(time.Now()) })
	err = conn.connect(sa)
	stop()
	release()
	if err != nil {
		dissolve(sock)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = syscall.ETIMEDOUT
		}
		return fmt.Errorf("connect to %s: %w", dst, err)
	}
	if blocking {
		unix.Connect(sock, sa) // settle, as ConnectSocket does
	}
	return nil
}

// Dial connects a socket of its own through the chain to dst, which may be
// a host name for the last hop to resolve. chainrun serve uses it for its
// upstream chain.
func (d *Dialer) Dial(ctx context.Context, dst socks.Addr) (net.Conn, error) {
	var own ownSocket
	if _, err := d.attempts(ctx, d.connectTo(dst), own.open, own.failed); err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(own.fd), "chain")
	defer f.Close()
	return net.FileConn(f)
}

// ownSocket opens chainrun's own sockets for Dial and Resolve, one per
// attempt, and holds the one that worked.
type ownSocket struct {
	fd int // the last socket open gave; -1 after failed closed it
}

// open opens a non-blocking TCP socket of the family of the first hop's
// first address.
func (o *ownSocket) open(route Route) (int, int, error) {
	o.fd = -1
	addrs := route[0].Addrs()
	if len(addrs) == 0 {
		return -1, 0, fmt.Errorf("hop 1 (%s): not resolved: %w", route[0], syscall.EHOSTUNREACH)
	}
	family := unix.AF_INET6
	if addrs[0].Addr().Is4() {
		family = unix.AF_INET
	}
	s, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, 0, fmt.Errorf("socket: %w", err)
	}
	o.fd = s
	return s, family, nil
}

// failed closes the socket of a failed attempt.
func (o *ownSocket) failed(fd int) {
	unix.Close(fd)
	o.fd = -1
}

// A hopRequest is what a hop is asked over conn once the hops before it
// have connected onward to it: to connect to the next hop or to the
// destination (connectTo), or, for the last hop, Tor's RESOLVE or
// RESOLVE_PTR (Resolve, ResolvePTR). ctx carries the hop's ReadTimeout.
type hopRequest func(ctx context.Context, conn net.Conn, hop *Proxy) error

// connectTo asks a hop to connect onward to target.
func (d *Dialer) connectTo(target socks.Addr) hopRequest {
	return func(ctx context.Context, conn net.Conn, hop *Proxy) error {
		return connectHop(ctx, conn, hop, target, d.Pipeline)
	}
}

// attempts runs the connection: it picks a route, negotiates it on the
// socket open gives, ending with last, and in the modes other than Strict
// tries again without a hop that failed, until one works, the hops run out
// or the budget does. failed undoes a failed attempt on its socket.
func (d *Dialer) attempts(ctx context.Context, last hopRequest, open func(Route) (fd, family int, err error), failed func(fd int)) (Route, error) {
	if len(d.Chain) == 0 {
		return nil, fmt.Errorf("no proxy configured: %w", syscall.ECONNREFUSED)
	}
	ctx, cancel := context.WithTimeout(ctx, orDefault(d.Budget, DefaultBudget))
	defer cancel()
	var exclude map[*Proxy]bool // hops that failed in this connection (made at the first failure)
	var lastErr error
	for range d.Chain {
		route, err := d.pick(exclude)
		if err != nil {
			if lastErr != nil {
				return nil, lastErr
			}
			return nil, err
		}
		fd, family, err := open(route)
		if err != nil {
			return route, err
		}
		herr := d.negotiate(ctx, fd, family, route, last)
		if herr == nil {
			if d.Mode != Strict { // a strict chain never marks a hop down
				for _, p := range route {
					d.health().markUp(p)
				}
			}
			return route, nil
		}
		failed(fd)
		lastErr = herr
		if herr.blame == nil || d.Mode == Strict || ctx.Err() != nil {
			return route, herr
		}
		d.health().markDown(herr.blame, time.Now())
		if exclude == nil {
			exclude = map[*Proxy]bool{}
		}
		exclude[herr.blame] = true
	}
	return nil, lastErr
}

// hopError is a failed negotiation: the hop whose handshake failed, and
// the hop to blame for it (nil when the destination itself failed).
type hopError struct {
	index int // 1-based position in the route
	hop   *Proxy
	blame *Proxy
	err   error
}

func (e *hopError) Error() string { return fmt.Sprintf("hop %d (%s): %v", e.index, e.hop, e.err) }
func (e *hopError) Unwrap() error { return e.err }

// negotiate connects fd to the route's first hop and has each hop connect
// onward to the next; the last one is asked last (for a connection, to
// connect to the destination).
func (d *Dialer) negotiate(ctx context.Context, fd, family int, route Route, last hopRequest) *hopError {
	conn, release, err := newHandshakeConn(ctx, fd)
	if err != nil {
		return &hopError{index: 1, hop: route[0], blame: route[0], err: err}
	}
	defer release()
	if err := d.connectFirst(ctx, conn, family, route[0]); err != nil {
		return &hopError{index: 1, hop: route[0], blame: route[0], err: err}
	}
	for i, hop := range route {
		req := last
		asked := isolated(ctx, hop)
		if i+1 < len(route) {
			req = d.connectTo(route[i+1].target())
			asked = hop
		}
		if err := d.handshake(ctx, conn, asked, req); err != nil {
			blame := hop
			if answeredByHop(err) {
				// The hop is fine: what it could not reach is to blame.
				blame = nil
				if i+1 < len(route) {
					blame = route[i+1]
					err = fmt.Errorf("reaching hop %d (%s): %w", i+2, blame, err)
				}
			}
			return &hopError{index: i + 1, hop: hop, blame: blame, err: err}
		}
	}
	return nil
}

// answeredByHop reports whether err is a hop's well-formed refusal to
// connect onward (as opposed to a hop that is down, mute or misconfigured).
func answeredByHop(err error) bool {
	if errors.Is(err, socks.ErrAuth) {
		return false
	}
	var r5 *socks.ReplyError
	var r4 *socks.Reply4Error
	var rh *HTTPError
	return errors.As(err, &r5) || errors.As(err, &r4) || errors.As(err, &rh)
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// connectFirst makes the TCP connection to the first hop, trying its
// addresses in turn, bounded by ConnectTimeout.
func (d *Dialer) connectFirst(ctx context.Context, conn handshakeConn, family int, hop *Proxy) error {
	timeout := orDefault(d.ConnectTimeout, DefaultConnectTimeout)
	var lastErr error
	for _, addr := range hop.Addrs() {
		sa, err := encodeSockaddr(family, addr)
		if err != nil {
			continue
		}
		deadline := time.Now().Add(timeout)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		conn.SetWriteDeadline(deadline)
		stop := context.AfterFunc(ctx, func() { conn.SetWriteDeadline(time.Now()) })
		lastErr = conn.connect(sa)
		stop()
		if lastErr == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(lastErr, os.ErrDeadlineExceeded) {
			return fmt.Errorf("connect to %s: %w", addr, syscall.ETIMEDOUT)
		}
		lastErr = fmt.Errorf("connect to %s: %w", addr, lastErr)
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("no address of the proxy fits a socket of family %d: %w", family, syscall.ENETUNREACH)
	}
	return lastErr
}

// handshake asks hop req over conn, bounded by ReadTimeout.
func (d *Dialer) handshake(ctx context.Context, conn net.Conn, hop *Proxy, req hopRequest) error {
	ctx, cancel := context.WithTimeout(ctx, orDefault(d.ReadTimeout, DefaultReadTimeout))
	defer cancel()
	return req(ctx, conn, hop)
}

// connectHop asks hop to connect onward to target, over conn.
func connectHop(ctx context.Context, conn net.Conn, hop *Proxy, target socks.Addr, pipeline bool) error {
	switch hop.Scheme {
	case SOCKS5, SOCKS5H:
		connect := socks.Connect5
		if pipeline {
			connect = socks.Connect5Pipelined
		}
		_, err := connect(ctx, conn, target, hop.Auth)
		return err
	case SOCKS4, SOCKS4A:
		if hop.Scheme == SOCKS4 && (target.Name != "" || !target.IP.Unmap().Is4()) {
			return fmt.Errorf("socks4 can reach only IPv4 addresses, not %s (use socks4a or socks5): %w", target, syscall.EAFNOSUPPORT)
		}
		if target.Name == "" && !target.IP.Unmap().Is4() {
			return fmt.Errorf("socks4a cannot reach the IPv6 address %s (use socks5): %w", target, syscall.EAFNOSUPPORT)
		}
		userID := ""
		if hop.Auth != nil {
			userID = hop.Auth.Username
		}
		return socks.Connect4(ctx, conn, target, userID)
	case HTTP:
		return httpConnect(ctx, conn, target, hop.Auth)
	}
	return fmt.Errorf("unsupported scheme %q: %w", hop.Scheme, syscall.EPROTONOSUPPORT)
}

// encodeSockaddr builds the address a socket of the given family needs to
// reach addr: IPv4 on an IPv6 socket goes through its mapped form.
func encodeSockaddr(family int, addr netip.AddrPort) (unix.Sockaddr, error) {
	ip := addr.Addr()
	switch {
	case family == unix.AF_INET && ip.Is4():
		return &unix.SockaddrInet4{Port: int(addr.Port()), Addr: ip.As4()}, nil
	case family == unix.AF_INET6:
		return &unix.SockaddrInet6{Port: int(addr.Port()), Addr: ip.As16()}, nil
	}
	return nil, syscall.EAFNOSUPPORT
}

// settle calls connect() once more on a socket whose non-blocking connect
// has completed; the kernel answers 0 and marks the socket connected.
func settle(sock, family int, hop *Proxy) {
	for _, addr := range hop.Addrs() {
		if sa, err := encodeSockaddr(family, addr); err == nil {
			unix.Connect(sock, sa)
			return
		}
	}
}

// dissolve undoes a connection on the program's socket (connect with
// AF_UNSPEC) so that the program may call connect() on it again.
func dissolve(sock int) {
	var sa [16]byte // sockaddr with sa_family = AF_UNSPEC (0)
	unix.Syscall(unix.SYS_CONNECT, uintptr(sock), uintptr(unsafe.Pointer(&sa[0])), uintptr(len(sa)))
}

// Errno is the errno a program should see for a failed ConnectSocket.
func Errno(err error) syscall.Errno {
	var errno syscall.Errno
	switch {
	case err == nil:
		return 0
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return syscall.ETIMEDOUT
	case errors.As(err, &errno):
		return errno
	}
	return syscall.ECONNREFUSED
}
