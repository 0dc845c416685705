package chain

import (
	"context"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// handshakeConn is a connection a negotiation runs on: a net.Conn over a
// socket in non-blocking mode that does not own the socket, plus the
// non-blocking connect(2) that starts it.
type handshakeConn interface {
	net.Conn
	connect(sa unix.Sockaddr) error
}

// waitInPlaceKey marks a context whose negotiations wait with poll(2) on
// the calling thread.
type waitInPlaceKey struct{}

// WithWaitInPlace returns ctx for a negotiation that waits for the network
// with poll(2) on the calling OS thread: the fewest thread hand-offs, the
// fastest for one negotiation (the tracer thread negotiating itself), but
// it holds the thread. abortFd, when above 0, ends every wait as soon as
// it becomes readable: the pidfd of the traced program that asked, so that
// a program killed while a proxy is mute releases chainrun at once even
// though nothing cancels ctx. Without it, negotiations wait through Go's
// network poller, which lets hundreds run at once on a few threads.
func WithWaitInPlace(ctx context.Context, abortFd int) context.Context {
	return context.WithValue(ctx, waitInPlaceKey{}, abortFd)
}

// newHandshakeConn returns the connection a negotiation on fd (already in
// non-blocking mode) uses, as ctx says, and its release.
func newHandshakeConn(ctx context.Context, fd int) (handshakeConn, func(), error) {
	if abort, ok := ctx.Value(waitInPlaceKey{}).(int); ok {
		return &pollConn{fd: fd, abort: abort}, func() {}, nil
	}
	c, err := newNetpollConn(fd)
	if err != nil {
		return nil, nil, err
	}
	return c, func() { c.f.Close() }, nil
}

// netpollConn waits through Go's network poller on a duplicate of the
// socket: it never touches the shared file description's flags (it is
// never asked for its Fd) and closing it closes only the duplicate.
type netpollConn struct {
	f  *os.File
	rc syscall.RawConn
}

func newNetpollConn(fd int) (*netpollConn, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("F_DUPFD_CLOEXEC: %w", err)
	}
	// A non-blocking descriptor makes a pollable File.
	f := os.NewFile(uintptr(dup), "handshake")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &netpollConn{f: f, rc: rc}, nil
}

func (c *netpollConn) Read(b []byte) (int, error)         { return c.f.Read(b) }
func (c *netpollConn) Write(b []byte) (int, error)        { return c.f.Write(b) }
func (c *netpollConn) Close() error                       { return nil } // the negotiation's release closes f
func (c *netpollConn) LocalAddr() net.Addr                { return nil }
func (c *netpollConn) RemoteAddr() net.Addr               { return nil }
func (c *netpollConn) SetDeadline(t time.Time) error      { return c.f.SetDeadline(t) }
func (c *netpollConn) SetReadDeadline(t time.Time) error  { return c.f.SetReadDeadline(t) }
func (c *netpollConn) SetWriteDeadline(t time.Time) error { return c.f.SetWriteDeadline(t) }

// connect runs connect(2) and waits, in the poller, for it to complete.
func (c *netpollConn) connect(sa unix.Sockaddr) error {
	var result error
	started := false
	err := c.rc.Write(func(fd uintptr) bool {
		if !started {
			started = true
			err := unix.Connect(int(fd), sa)
			for err == unix.EINTR {
				err = unix.Connect(int(fd), sa)
			}
			switch err {
			case nil:
				return true
			case unix.EINPROGRESS, unix.EALREADY:
				return false // wait until writable
			default:
				result = err
				return true
			}
		}
		soErr, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case err != nil:
			result = err
		case soErr != 0:
			result = unix.Errno(soErr)
		default:
			if _, err := unix.Getpeername(int(fd)); err != nil {
				return false // not yet: wait again
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	return result
}
