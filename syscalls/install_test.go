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

// TestListenerFilter loads the filter with a listener on a throwaway thread
// and answers its connects from another: the answer chosen is what the
// program sees, a connect refused never reaches the network, and one let
// through (CONTINUE) does.
func TestListenerFilter(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
			accepted <- struct{}{}
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port

	type setup struct {
		listener, tid, sock int
		err                 error
	}
	ready := make(chan setup, 1)
	results := make(chan error, 2)
	go func() {
		// Never unlocked: the filtered thread exits with this goroutine.
		runtime.LockOSThread()
		prog, err := Filter(NotifyRules())
		if err != nil {
			ready <- setup{err: err}
			return
		}
		listener, err := InstallListenerFilter(prog)
		if err != nil {
			ready <- setup{err: err}
			return
		}
		sock, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			ready <- setup{err: err}
			return
		}
		defer unix.Close(sock)
		ready <- setup{listener: listener, tid: unix.Gettid(), sock: sock}
		to := &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}
		results <- unix.Connect(sock, to) // refused by the answer
		results <- unix.Connect(sock, to) // let through
	}()
	s := <-ready
	if s.err != nil {
		t.Fatalf("setting up the filter: %v", s.err)
	}
	defer unix.Close(s.listener)
	if err := SetSyncWakeUp(s.listener); err != nil {
		t.Logf("no synchronous wake-up on this kernel: %v", err)
	}
	for i, want := range []error{unix.ECONNREFUSED, nil} {
		n, err := Receive(s.listener)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		if trap, ok := NotifyTrap(NotifyRules(), n.Arch, n.Nr); !ok || trap != TrapConnect || n.Tid != s.tid || int(n.Args[0]) != s.sock || n.Args[2] != unix.SizeofSockaddrInet4 {
			t.Fatalf("notification %d = %+v; want connect(%d, …, 16) from thread %d", i, n, s.sock, s.tid)
		}
		if !Valid(s.listener, n.ID) {
			t.Fatalf("notification %d not valid while its thread waits", i)
		}
		if want != nil {
			err = Answer(s.listener, n.ID, -int64(unix.ECONNREFUSED), false)
		} else {
			err = Answer(s.listener, n.ID, 0, true)
		}
		if err != nil {
			t.Fatalf("Answer: %v", err)
		}
		if got := <-results; got != want {
			t.Fatalf("connect %d under the listener = %v, want %v", i, got, want)
		}
		if Valid(s.listener, n.ID) {
			t.Errorf("notification %d still valid once answered", i)
		}
		wait := 5 * time.Second // for the connection let through
		if want != nil {
			wait = 100 * time.Millisecond // for one that must not come
		}
		select {
		case <-accepted:
			if want != nil {
				t.Fatal("the refused connect reached the listener")
			}
		case <-time.After(wait):
			if want == nil {
				t.Fatal("the connect let through never arrived")
			}
		}
	}
}
