package chain

import (
	"context"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// pollSlice bounds one poll(2) so that a deadline moved by another goroutine
// (a cancelled context) is noticed promptly.
const pollSlice = 50 * time.Millisecond

// pollConn is a net.Conn over a non-blocking socket descriptor, waiting
// with poll(2) in the calling goroutine. A handshake is a few small
// exchanges on one socket: waiting in place costs one wake-up per reply,
// where Go's netpoller costs a hand-off between threads. It does not own
// the descriptor: Close does nothing.
type pollConn struct {
	fd            int
	readDeadline  atomic.Int64 // unix nanoseconds; 0 means none
	writeDeadline atomic.Int64
	// abort, when above 0, is a descriptor whose readability ends every
	// wait (the pidfd of the program the socket belongs to: see
	// WithWaitInPlace).
	abort int
}

func (c *pollConn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for {
		n, err := unix.Read(c.fd, b)
		switch err {
		case nil:
			if n == 0 {
				return 0, io.EOF
			}
			return n, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if err := c.wait(unix.POLLIN, &c.readDeadline); err != nil {
				return 0, err
			}
		default:
			return 0, err
		}
	}
}

func (c *pollConn) Write(b []byte) (int, error) {
	written := 0
	for written < len(b) {
		n, err := unix.Write(c.fd, b[written:])
		switch err {
		case nil:
			written += n
		case unix.EINTR:
		case unix.EAGAIN:
			if err := c.wait(unix.POLLOUT, &c.writeDeadline); err != nil {
				return written, err
			}
		default:
			return written, err
		}
	}
	return written, nil
}

// wait polls for events until they come or the deadline passes.
func (c *pollConn) wait(events int16, deadline *atomic.Int64) error {
	for {
		timeout := pollSlice
		if d := deadline.Load(); d != 0 {
			left := time.Until(time.Unix(0, d))
			if left <= 0 {
				return os.ErrDeadlineExceeded
			}
			if left < timeout {
				timeout = left
			}
		}
		ms := int((timeout + time.Millisecond - 1) / time.Millisecond)
		fds := []unix.PollFd{{Fd: int32(c.fd), Events: events}, {Fd: int32(c.abort), Events: unix.POLLIN}}
		if c.abort <= 0 {
			fds = fds[:1]
		}
		n, err := unix.Poll(fds, ms)
		if err != nil && err != unix.EINTR {
			return err
		}
		if len(fds) > 1 && fds[1].Revents != 0 {
			return errAborted
		}
		if n > 0 {
			return nil // ready, or an error/hang-up the next call reports
		}
	}
}

func (c *pollConn) Close() error         { return nil }
func (c *pollConn) LocalAddr() net.Addr  { return nil }
func (c *pollConn) RemoteAddr() net.Addr { return nil }

func (c *pollConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *pollConn) SetReadDeadline(t time.Time) error {
	c.readDeadline.Store(unixNano(t))
	return nil
}

func (c *pollConn) SetWriteDeadline(t time.Time) error {
	c.writeDeadline.Store(unixNano(t))
	return nil
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// connect runs connect(2) and waits for it to complete.
func (c *pollConn) connect(sa unix.Sockaddr) error {
	err := unix.Connect(c.fd, sa)
	for err == unix.EINTR {
		err = unix.Connect(c.fd, sa)
	}
	switch err {
	case nil:
		return nil
	case unix.EINPROGRESS, unix.EALREADY:
	default:
		return err
	}
	for {
		if err := c.wait(unix.POLLOUT, &c.writeDeadline); err != nil {
			return err
		}
		soErr, err := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return err
		}
		if soErr != 0 {
			return unix.Errno(soErr)
		}
		if _, err := unix.Getpeername(c.fd); err == nil {
			return nil
		}
	}
}

// errAborted ends a negotiation whose program is gone.
var errAborted error = &fixedError{msg: "the program that asked for it is gone", err: context.Canceled}
