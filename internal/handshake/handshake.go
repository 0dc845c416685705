// Package handshake runs a proxy handshake on a net.Conn under a
// context: the context's deadline goes on the connection, a cancellation
// unblocks its I/O, and either becomes an error that wraps ctx.Err(). The
// SOCKS and HTTP CONNECT clients share it.
package handshake

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// Run runs a client handshake, run, on conn under ctx: ctx's deadline goes on conn, a cancellation
// unblocks conn's I/O, and either becomes an error that wraps ctx.Err().
// conn's deadline is cleared before it returns.
func Run(ctx context.Context, conn net.Conn, proto string, run func() error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: handshake not started: %w", proto, err)
	}
	deadline, hasDeadline := ctx.Deadline()
	stop := watchContext(ctx, conn, hasDeadline, deadline)
	err := run()
	stop()
	if err == nil || !IsTimeout(err) {
		// A real answer from the proxy wins over a cancellation that came
		// too late to matter.
		return err
	}
	cerr := ctx.Err()
	if cerr == nil && hasDeadline && !time.Now().Before(deadline) {
		// conn's deadline fired a moment before ctx's timer did.
		cerr = context.DeadlineExceeded
	}
	if cerr != nil {
		if errors.Is(cerr, context.DeadlineExceeded) {
			return fmt.Errorf("%s: handshake with proxy timed out: %w", proto, cerr)
		}
		return fmt.Errorf("%s: handshake with proxy cancelled: %w", proto, cerr)
	}
	return err
}

// watchContext puts ctx's deadline on conn and arranges for a cancellation
// of ctx to unblock conn's I/O. The returned stop undoes both, after waiting
// for a cancellation in progress.
func watchContext(ctx context.Context, conn net.Conn, hasDeadline bool, deadline time.Time) (stop func()) {
	if hasDeadline {
		_ = conn.SetDeadline(deadline) // a conn without deadlines just cannot time out
	}
	if ctx.Done() == nil {
		return func() {
			if hasDeadline {
				_ = conn.SetDeadline(time.Time{})
			}
		}
	}
	fired := make(chan struct{})
	stopAfter := context.AfterFunc(ctx, func() {
		_ = conn.SetDeadline(time.Unix(1, 0))
		close(fired)
	})
	return func() {
		interrupted := !stopAfter()
		if interrupted {
			<-fired
		}
		if hasDeadline || interrupted {
			_ = conn.SetDeadline(time.Time{})
		}
	}
}

// IsTimeout reports whether err is a deadline or timeout error.
func IsTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
