package testnet

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// InNS runs fn on a fresh goroutine whose OS thread has entered the network
// namespace ns, and returns fn's error. Sockets that fn creates belong to ns
// for their whole life, so a listener or connection made here can be used
// from any goroutine afterwards.
//
// Only the calling thread is in ns: fn must create its sockets itself, not on
// goroutines it starts, and should dial IP literals (a dial that resolves
// names or races several addresses uses other goroutines).
//
// The thread is never handed back to the Go scheduler: it goes back to its
// original namespace and then exits with the goroutine
// (runtime.LockOSThread without UnlockOSThread).
func InNS(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := os.Open(filepath.Join(netnsDir, ns))
		if err != nil {
			errc <- fmt.Errorf("network namespace %s: %w", ns, err)
			return
		}
		err = unix.Setns(int(target.Fd()), unix.CLONE_NEWNET)
		target.Close()
		if err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		// Should this thread be the process's main thread, which Go does not
		// let exit, it at least goes back where it came from.
		defer unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET)
		errc <- fn()
	}()
	return <-errc
}

// WaitListen waits until something in namespace ns accepts TCP connections on
// addr ("10.78.0.2:8080", "[fd78::2]:8080"), probing every 20 ms for at most
// 5 s, and fails the test when nothing does.
func (tp *Topology) WaitListen(t testing.TB, ns, addr string) {
	t.Helper()
	if err := waitListen(ns, addr, 5*time.Second); err != nil {
		t.Fatalf("testnet: nothing listens on %s in namespace %s: %v", addr, ns, err)
	}
}

func waitListen(ns, addr string, limit time.Duration) error {
	return InNS(ns, func() error {
		deadline := time.Now().Add(limit)
		var last error
		for i := 0; i < 10000; i++ {
			c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err == nil {
				c.Close()
				return nil
			}
			last = err
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		return last
	})
}

// Listen opens a TCP listener on addr (an IP literal with port, port 0 for
// any) inside namespace ns, owned by this test process, and closes it when
// the test ends. Serve it from any goroutine.
func (tp *Topology) Listen(t testing.TB, ns, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	err := InNS(ns, func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatalf("testnet: listen on %s in %s: %v", addr, ns, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// DialFrom makes a TCP connection to addr (an IP literal with port) from
// inside namespace ns, bounded by timeout. It returns the error as is, so a
// test can check that a route does not exist (errors.Is(err,
// syscall.ENETUNREACH)).
func (tp *Topology) DialFrom(ns, addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := InNS(ns, func() error {
		var err error
		c, err = net.DialTimeout("tcp", addr, timeout)
		return err
	})
	if err != nil && c != nil {
		c.Close()
		c = nil
	}
	return c, err
}
