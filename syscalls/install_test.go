package syscalls

import (
	"net"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestFilterFailsClosedWithoutTracer loads the real filter on a throwaway
// thread that no tracer watches: connect must fail with ENOSYS and never
// reach the network, while other syscalls keep working.
func TestFilterFailsClosedWithoutTracer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
			accepted <- struct{}{}
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port

	type outcome struct {
		connectErr, directErr error
		pid                   int
	}
	done := make(chan outcome, 1)
	go func() {
		// Never unlocked: the filtered thread exits with this goroutine.
		runtime.LockOSThread()
		var o outcome
		prog, err := Filter(Rules())
		if err == nil {
			err = InstallFilter(prog)
		}
		if err != nil {
			o.directErr = err
			done <- o
			return
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			o.directErr = err
			done <- o
			return
		}
		defer unix.Close(fd)
		o.connectErr = unix.Connect(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}})
		o.pid = unix.Getpid()
		done <- o
	}()
	o := <-done
	if o.directErr != nil {
		t.Fatalf("setting up the filter: %v", o.directErr)
	}
	if o.connectErr != unix.ENOSYS {
		t.Fatalf("connect under the filter with no tracer: %v, want ENOSYS", o.connectErr)
	}
	if o.pid != unix.Getpid() {
		t.Fatalf("getpid under the filter = %d, want %d", o.pid, unix.Getpid())
	}
	select {
	case <-accepted:
		t.Fatal("the connection reached the listener")
	case <-time.After(100 * time.Millisecond):
	}
}
