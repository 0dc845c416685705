package chain

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/chainrun/chainrun/socks"
)

// Default timeouts.
const (
	DefaultConnectTimeout   = 10 * time.Second
	DefaultHandshakeTimeout = 15 * time.Second
)

// Dialer negotiates a chain of proxies on a socket it is handed.
type Dialer struct {
	// Chain is the hops in order; the first is reached directly.
	Chain []*Proxy
	// ConnectTimeout bounds the TCP connect to the first hop.
	ConnectTimeout time.Duration
	// HandshakeTimeout bounds each hop's whole exchange, which includes
	// the hop's own connect onward.
	HandshakeTimeout time.Duration
}

// IsFirstHop reports whether dst is an address of the first hop: a
// program that talks to the proxy itself is let through, not looped.
func (d *Dialer) IsFirstHop(dst netip.AddrPort) bool {
	if len(d.Chain) == 0 {
		return false
	}
	dst = netip.AddrPortFrom(dst.Addr().Unmap().WithZone(""), dst.Port())
	for _, a := range d.Chain[0].Addrs() {
		if a == dst {
			return true
		}
	}
	return false
}

// ConnectSocket connects sock, a fresh TCP socket of the given family that
// belongs to the traced program, through the chain to dst. sock is a
// duplicate sharing the program's open file description; ConnectSocket
// neither closes it nor leaves its O_NONBLOCK flag changed. On failure the
// half-made connection is dissolved (connect AF_UNSPEC) so that the program
// can try again on the same socket; the error names the hop and satisfies
// errors.Is with the errno the program should see (see Errno).
func (d *Dialer) ConnectSocket(ctx context.Context, sock, family int, dst netip.AddrPort) (err error) {
	if len(d.Chain) == 0 {
		return fmt.Errorf("no proxy configured: %w", syscall.ECONNREFUSED)
	}
	flags, err := unix.FcntlInt(uintptr(sock), unix.F_GETFL, 0)
	if err != nil {
		return fmt.Errorf("F_GETFL: %w", err)
	}
	// The handshake runs non-blocking, each wait bounded by poll(2); the
	// program's mode comes back after.
	if flags&unix.O_NONBLOCK == 0 {
		if err := unix.SetNonblock(sock, true); err != nil {
			return fmt.Errorf("O_NONBLOCK: %w", err)
		}
	}
	defer func() {
		if flags&unix.O_NONBLOCK == 0 {
			unix.SetNonblock(sock, false)
		}
		if err != nil {
			dissolve(sock)
		}
	}()
	conn := &pollConn{fd: sock}

	first := d.Chain[0]
	if err := d.connectFirst(ctx, conn, family, first); err != nil {
		return fmt.Errorf("hop 1 (%s): %w", first, err)
	}
	if flags&unix.O_NONBLOCK == 0 {
		// Our non-blocking connect left the socket "connecting" until
		// the next connect(): settle it now, so that a blocking program
		// that calls connect() again gets EISCONN, as from the kernel.
		// (A non-blocking program gets 0 then EISCONN, as from the
		// kernel after EINPROGRESS.)
		settle(sock, family, first)
	}
	for i, hop := range d.Chain {
		target := socks.AddrFromAddrPort(dst)
		if i+1 < len(d.Chain) {
			target = d.Chain[i+1].target()
		}
		if err := d.handshake(ctx, conn, hop, target); err != nil {
			return fmt.Errorf("hop %d (%s): %w", i+1, hop, err)
		}
	}
	return nil
}

// connectFirst makes the TCP connection to the first hop, trying its
// addresses in turn, bounded by ConnectTimeout.
func (d *Dialer) connectFirst(ctx context.Context, conn *pollConn, family int, hop *Proxy) error {
	timeout := d.ConnectTimeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	var lastErr error = fmt.Errorf("no address of the proxy fits a socket of family %d: %w", family, syscall.ENETUNREACH)
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
	return lastErr
}

// handshake asks hop to connect onward to target, over conn.
func (d *Dialer) handshake(ctx context.Context, conn net.Conn, hop *Proxy, target socks.Addr) error {
	timeout := d.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch hop.Scheme {
	case SOCKS5, SOCKS5H:
		_, err := socks.Connect5(ctx, conn, target, hop.Auth)
		return err
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
