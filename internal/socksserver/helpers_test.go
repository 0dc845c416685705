package socksserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/chainrun/chainrun/socks"
)

// testTimeout bounds every wait in these tests.
const testTimeout = 5 * time.Second

// logSink collects the server's log lines.
type logSink struct {
	ch chan string
}

func newLogSink() *logSink { return &logSink{ch: make(chan string, 256)} }

func (l *logSink) logf(format string, args ...any) {
	select {
	case l.ch <- fmt.Sprintf(format, args...):
	default: // a test that logs this much does not read the lines
	}
}

// next returns the next log line.
func (l *logSink) next(t *testing.T) string {
	t.Helper()
	select {
	case line := <-l.ch:
		return line
	case <-time.After(testTimeout):
		t.Fatal("no log line")
		return ""
	}
}

// startServer runs s on a fresh loopback listener. shutdown cancels Serve
// and returns its result; it runs at cleanup if the test did not call it.
func startServer(t *testing.T, s *Server) (addr string, shutdown func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	shutdown = sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(testTimeout):
			return errors.New("Serve did not return after its context was cancelled")
		}
	})
	t.Cleanup(func() {
		if err := shutdown(); err != nil {
			t.Error(err)
		}
	})
	return ln.Addr().String(), shutdown
}

// startEcho runs an echo server on network and address: it sends back what
// it reads and half-closes when the client does. It stops at cleanup.
func startEcho(t *testing.T, network, address string) *net.TCPAddr {
	t.Helper()
	ln, err := net.Listen(network, address)
	if err != nil {
		t.Fatal(err)
	}
	serveTCP(t, ln, func(c *net.TCPConn) {
		io.Copy(c, c)
		c.CloseWrite()
		io.Copy(io.Discard, c)
	})
	return ln.Addr().(*net.TCPAddr)
}

// serveTCP runs handle for each connection accepted on ln until cleanup,
// which closes ln and the open connections and waits for the handlers.
func serveTCP(t *testing.T, ln net.Listener, handle func(*net.TCPConn)) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				handle(c.(*net.TCPConn))
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}

// dialVia connects to dst through the proxy at proxyAddr.
func dialVia(proxyAddr string, dst socks.Addr, auth *socks.Auth) (*net.TCPConn, socks.Addr, error) {
	c, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		return nil, socks.Addr{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	bound, err := socks.Connect5(ctx, c, dst, auth)
	if err != nil {
		c.Close()
		return nil, socks.Addr{}, err
	}
	_ = c.SetDeadline(time.Now().Add(testTimeout))
	return c.(*net.TCPConn), bound, nil
}

func addrOf(a *net.TCPAddr) socks.Addr { return socks.AddrFromAddrPort(a.AddrPort()) }

// checkEcho sends msg over c, expects it back, then half-closes c and
// expects EOF: the echo server only closes after seeing the client's EOF,
// so this proves the half-close went through the proxy both ways.
func checkEcho(t *testing.T, c *net.TCPConn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		t.Fatalf("echo: got %q, %v; want %q", got, err, msg)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	if n, err := c.Read(got); n != 0 || err != io.EOF {
		t.Fatalf("after CloseWrite: read %d, %v; want EOF", n, err)
	}
}

// waitGoroutines waits until no more than n goroutines run, and fails the
// test with a dump of them if that does not happen in time.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), n, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
