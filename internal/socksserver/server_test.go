package socksserver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chainrun/chainrun/socks"
)

func TestConnectEcho(t *testing.T) {
	echo := startEcho(t, "tcp", "127.0.0.1:0")
	logs := newLogSink()
	proxy, _ := startServer(t, &Server{Logf: logs.logf})

	c, bound, err := dialVia(proxy, addrOf(echo), nil)
	if err != nil {
		t.Fatalf("Connect5: %v", err)
	}
	defer c.Close()
	if bound.IP != netip.MustParseAddr("127.0.0.1") || bound.Port == 0 {
		t.Errorf("bound address %v, want 127.0.0.1 and a port", bound)
	}
	checkEcho(t, c, "ping")
	c.Close()

	line := logs.next(t)
	for _, want := range []string{"client=" + c.LocalAddr().String(), "user=-", "dst=" + echo.String(), `result="ok"`, "up=4", "down=4", "ms="} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %q lacks %q", line, want)
		}
	}
}

// TestHalfCloseFromDestination checks the other order: the destination
// finishes sending first, and the client can still send afterwards.
func TestHalfCloseFromDestination(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	serveTCP(t, ln, func(c *net.TCPConn) {
		c.Write([]byte("hello"))
		c.CloseWrite()
		b, _ := io.ReadAll(c)
		got <- string(b)
	})
	proxy, _ := startServer(t, &Server{})

	c, _, err := dialVia(proxy, addrOf(ln.Addr().(*net.TCPAddr)), nil)
	if err != nil {
		t.Fatalf("Connect5: %v", err)
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "hello" {
		t.Fatalf("read %q, %v; want \"hello\" and EOF", b, err)
	}
	if _, err := c.Write([]byte("bye")); err != nil {
		t.Fatalf("write after the destination's EOF: %v", err)
	}
	c.CloseWrite()
	select {
	case s := <-got:
		if s != "bye" {
			t.Errorf("destination got %q, want \"bye\"", s)
		}
	case <-time.After(testTimeout):
		t.Fatal("destination never saw the client's EOF")
	}
}

// TestLargeTransfer pushes more than the socket buffers hold through the
// relay at once.
func TestLargeTransfer(t *testing.T) {
	echo := startEcho(t, "tcp", "127.0.0.1:0")
	proxy, _ := startServer(t, &Server{})
	c, _, err := dialVia(proxy, addrOf(echo), nil)
	if err != nil {
		t.Fatalf("Connect5: %v", err)
	}
	defer c.Close()
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	go func() {
		c.Write(data)
		c.CloseWrite()
	}()
	back, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(back, data) {
		t.Fatalf("got %d bytes back (%v), want the %d sent", len(back), err, len(data))
	}
}

func TestAuth(t *testing.T) {
	echo := startEcho(t, "tcp", "127.0.0.1:0")
	logs := newLogSink()
	proxy, _ := startServer(t, &Server{
		Auth: &socks.ServerConfig{
			Credentials: func(user, pass string) bool { return user == "alice" && pass == "s3cret" },
			RequireAuth: true,
		},
		Logf: logs.logf,
	})

	for _, auth := range []*socks.Auth{nil, {Username: "alice", Password: "guess"}, {Username: "mallory", Password: "s3cret"}} {
		_, _, err := dialVia(proxy, addrOf(echo), auth)
		if !errors.Is(err, socks.ErrAuth) || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("auth %+v: err = %v, want ErrAuth and ECONNREFUSED", auth, err)
		}
		if line := logs.next(t); !strings.Contains(line, "handshake: socks5: ") {
			t.Errorf("auth %+v: log line %q", auth, line)
		}
	}

	c, _, err := dialVia(proxy, addrOf(echo), &socks.Auth{Username: "alice", Password: "s3cret"})
	if err != nil {
		t.Fatalf("right credentials: %v", err)
	}
	defer c.Close()
	checkEcho(t, c, "authenticated")
	c.Close()
	if line := logs.next(t); !strings.Contains(line, "user=alice") || !strings.Contains(line, `result="ok"`) {
		t.Errorf("log line %q, want user=alice and ok", line)
	}
}

func TestIPv6(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ln.Close()
	echo := startEcho(t, "tcp6", "[::1]:0")
	proxy, _ := startServer(t, &Server{})
	c, bound, err := dialVia(proxy, addrOf(echo), nil)
	if err != nil {
		t.Fatalf("Connect5 to %v: %v", echo, err)
	}
	defer c.Close()
	if bound.IP != netip.IPv6Loopback() {
		t.Errorf("bound address %v, want [::1]:port", bound)
	}
	checkEcho(t, c, "over IPv6")
}

func TestDomainLocalhost(t *testing.T) {
	echo := startEcho(t, "tcp", "127.0.0.1:0")
	logs := newLogSink()
	proxy, _ := startServer(t, &Server{Logf: logs.logf})
	dst := socks.Addr{Name: "localhost", Port: uint16(echo.Port)}
	c, _, err := dialVia(proxy, dst, nil)
	if err != nil {
		t.Fatalf("Connect5 to %v: %v", dst, err)
	}
	defer c.Close()
	checkEcho(t, c, "by name")
	c.Close()
	if line := logs.next(t); !strings.Contains(line, "dst="+dst.String()) {
		t.Errorf("log line %q lacks dst=%v", line, dst)
	}
}

func TestDialRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := addrOf(ln.Addr().(*net.TCPAddr))
	ln.Close()
	logs := newLogSink()
	proxy, _ := startServer(t, &Server{Logf: logs.logf})

	_, _, err = dialVia(proxy, closed, nil)
	var re *socks.ReplyError
	if !errors.As(err, &re) || re.Reply != socks.StatusConnectionRefused || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("err = %v, want reply 0x05 and ECONNREFUSED", err)
	}
	if line := logs.next(t); !strings.Contains(line, `result="connection refused (dial tcp`) {
		t.Errorf("log line %q", line)
	}
}

func TestCustomDial(t *testing.T) {
	echo := startEcho(t, "tcp", "127.0.0.1:0")
	var gotDst atomic.Value
	proxy, _ := startServer(t, &Server{
		Dial: func(ctx context.Context, dst socks.Addr) (net.Conn, error) {
			gotDst.Store(dst)
			switch dst.Name {
			case "echo.test":
				var d net.Dialer
				return d.DialContext(ctx, "tcp", echo.String())
			case "unreachable.test":
				return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}
			case "timeout.test":
				return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}
			}
			return nil, nil // a broken Dial must not crash the server
		},
	})

	// The name goes to Dial unresolved.
	c, _, err := dialVia(proxy, socks.Addr{Name: "echo.test", Port: 7}, nil)
	if err != nil {
		t.Fatalf("Connect5: %v", err)
	}
	defer c.Close()
	if d := gotDst.Load(); d != (socks.Addr{Name: "echo.test", Port: 7}) {
		t.Errorf("Dial got %v", d)
	}
	checkEcho(t, c, "custom")

	tests := []struct {
		name  string
		errno syscall.Errno
	}{
		{"unreachable.test", syscall.EHOSTUNREACH},
		{"timeout.test", syscall.ETIMEDOUT},
		{"broken.test", syscall.ECONNREFUSED}, // general failure
	}
	for _, tt := range tests {
		_, _, err := dialVia(proxy, socks.Addr{Name: tt.name, Port: 7}, nil)
		if !errors.Is(err, tt.errno) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.errno)
		}
	}
}

func TestUnsupportedCommands(t *testing.T) {
	logs := newLogSink()
	proxy, _ := startServer(t, &Server{Logf: logs.logf})
	for _, cmd := range []socks.Command{socks.CmdBind, socks.CmdUDPAssociate} {
		c, err := net.Dial("tcp", proxy)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(testTimeout))
		c.Write([]byte{5, 1, 0})
		sel := make([]byte, 2)
		io.ReadFull(c, sel)
		c.Write([]byte{5, byte(cmd), 0, 1, 127, 0, 0, 1, 0, 80})
		reply := make([]byte, 10)
		if _, err := io.ReadFull(c, reply); err != nil {
			t.Fatalf("%v: reading the reply: %v", cmd, err)
		}
		if want := []byte{5, 7, 0, 1, 0, 0, 0, 0, 0, 0}; !bytes.Equal(reply, want) {
			t.Errorf("%v: reply % x, want % x", cmd, reply, want)
		}
		if n, err := c.Read(reply); n != 0 || err != io.EOF {
			t.Errorf("%v: after the reply: %d, %v; want EOF", cmd, n, err)
		}
		c.Close()
		if line := logs.next(t); !strings.Contains(line, cmd.String()+" not supported") {
			t.Errorf("log line %q", line)
		}
	}
}

func TestHandshakeTimeout(t *testing.T) {
	logs := newLogSink()
	proxy, _ := startServer(t, &Server{HandshakeTimeout: 200 * time.Millisecond, Logf: logs.logf})
	for _, said := range [][]byte{nil, {5}, {5, 1, 0, 5, 1}} {
		c, err := net.Dial("tcp", proxy)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		c.SetDeadline(start.Add(testTimeout))
		c.Write(said)
		b, err := io.ReadAll(c)
		if err != nil {
			t.Errorf("client that said % x: %v, want EOF", said, err)
		}
		if len(said) >= 3 && !bytes.Equal(b, []byte{5, 0}) {
			t.Errorf("client that said % x got % x", said, b)
		}
		if d := time.Since(start); d < 150*time.Millisecond || d > 3*time.Second {
			t.Errorf("client that said % x dropped after %v, want about 200ms", said, d)
		}
		c.Close()
		if line := logs.next(t); !strings.Contains(line, `result="handshake timed out"`) {
			t.Errorf("log line %q", line)
		}
	}
}

func TestMaxClients(t *testing.T) {
	echo := startEcho(t, "tcp", "127.0.0.1:0")
	proxy, _ := startServer(t, &Server{MaxClients: 1})
	first, _, err := dialVia(proxy, addrOf(echo), nil)
	if err != nil {
		t.Fatalf("first client: %v", err)
	}
	second, err := net.Dial("tcp", proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	second.Write([]byte{5, 1, 0})
	second.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	sel := make([]byte, 2)
	if n, err := second.Read(sel); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("second client served while the first one is: % x, %v", sel[:n], err)
	}
	first.Close()
	second.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := io.ReadFull(second, sel); err != nil || !bytes.Equal(sel, []byte{5, 0}) {
		t.Fatalf("second client after the first left: % x, %v", sel, err)
	}
}

// TestShutdown cancels the server with a client in the middle of its
// handshake and another in the middle of a relay: Serve returns nil, both
// clients see their connection closed, the listener is closed, and no
// goroutine is left behind.
func TestShutdown(t *testing.T) {
	echo := startEcho(t, "tcp", "127.0.0.1:0")
	before := runtime.NumGoroutine()
	logs := newLogSink()
	proxy, shutdown := startServer(t, &Server{Logf: logs.logf})

	relaying, _, err := dialVia(proxy, addrOf(echo), nil)
	if err != nil {
		t.Fatalf("Connect5: %v", err)
	}
	defer relaying.Close()
	relaying.Write([]byte("x"))
	io.ReadFull(relaying, make([]byte, 1))
	idle, err := net.Dial("tcp", proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	idle.Write([]byte{5})
	time.Sleep(50 * time.Millisecond) // let the server accept it

	start := time.Now()
	if err := shutdown(); err != nil {
		t.Fatalf("Serve returned %v, want nil", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	// Serve waited for both connections: their log lines are in.
	if n := len(logs.ch); n != 2 {
		t.Errorf("%d log lines when Serve returned, want 2", n)
	}
	for name, c := range map[string]net.Conn{"relaying": relaying, "idle": idle} {
		c.SetDeadline(time.Now().Add(testTimeout))
		if _, err := io.ReadAll(c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("%s client after shutdown: %v, want EOF", name, err)
		}
	}
	if c, err := net.Dial("tcp", proxy); err == nil {
		c.Close()
		t.Error("listener still accepting after shutdown")
	}
	for range 2 {
		if line := logs.next(t); !strings.Contains(line, "server shutting down") {
			t.Errorf("log line %q", line)
		}
	}
	relaying.Close()
	idle.Close()
	waitGoroutines(t, before)
}

// TestNoGoroutineLeak runs connections that end every way there is and
// checks that the server leaves nothing running.
func TestNoGoroutineLeak(t *testing.T) {
	echo := startEcho(t, "tcp", "127.0.0.1:0")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := addrOf(ln.Addr().(*net.TCPAddr))
	ln.Close()
	before := runtime.NumGoroutine()
	proxy, shutdown := startServer(t, &Server{HandshakeTimeout: 100 * time.Millisecond})
	waitGoroutines(t, before+1) // Serve's own
	for range 3 {
		c, _, err := dialVia(proxy, addrOf(echo), nil)
		if err != nil {
			t.Fatal(err)
		}
		checkEcho(t, c, "leak?")
		c.Close()

		// The client vanishes in the middle of a relay.
		c, _, err = dialVia(proxy, addrOf(echo), nil)
		if err != nil {
			t.Fatal(err)
		}
		c.SetLinger(0)
		c.Close()

		if _, _, err := dialVia(proxy, refused, nil); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("refused: %v", err)
		}
		silent, err := net.Dial("tcp", proxy)
		if err != nil {
			t.Fatal(err)
		}
		silent.SetDeadline(time.Now().Add(testTimeout))
		io.ReadAll(silent) // until the handshake timeout drops it
		silent.Close()
	}
	// Every connection is over, so the server is back to one goroutine,
	// without the help of a shutdown.
	waitGoroutines(t, before+1)
	if err := shutdown(); err != nil {
		t.Fatal(err)
	}
	waitGoroutines(t, before)
}

// fakeListener returns errs from Accept in turn, then blocks until closed.
type fakeListener struct {
	errs    []error
	accepts atomic.Int32
	closed  chan struct{}
	once    func()
}

func newFakeListener(errs ...error) *fakeListener {
	l := &fakeListener{errs: errs, closed: make(chan struct{})}
	var done atomic.Bool
	l.once = func() {
		if done.CompareAndSwap(false, true) {
			close(l.closed)
		}
	}
	return l
}

func (l *fakeListener) Accept() (net.Conn, error) {
	i := int(l.accepts.Add(1)) - 1
	if i < len(l.errs) {
		return nil, l.errs[i]
	}
	<-l.closed
	return nil, net.ErrClosed
}

func (l *fakeListener) Close() error   { l.once(); return nil }
func (l *fakeListener) Addr() net.Addr { return &net.TCPAddr{} }

func TestListenerErrors(t *testing.T) {
	permanent := errors.New("listener broke")
	temp := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	logs := newLogSink()
	s := &Server{Logf: logs.logf}

	ln := newFakeListener(permanent)
	if err := s.Serve(context.Background(), ln); !errors.Is(err, permanent) {
		t.Errorf("Serve = %v, want the listener's error", err)
	}
	select {
	case <-ln.closed:
	default:
		t.Error("Serve did not close the listener")
	}

	ln = newFakeListener(temp, temp, permanent)
	if err := s.Serve(context.Background(), ln); !errors.Is(err, permanent) {
		t.Errorf("Serve = %v, want the listener's error", err)
	}
	if n := ln.accepts.Load(); n != 3 {
		t.Errorf("Accept called %d times, want 3 (two retries)", n)
	}
	if line := logs.next(t); !strings.Contains(line, "too many open files; retrying in") {
		t.Errorf("log line %q", line)
	}

	// Cancelled while pausing after a temporary error.
	ln = newFakeListener(temp, temp, temp, temp, temp, temp, temp, temp, temp, temp, temp, temp)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Serve(ctx, ln); err != nil {
		t.Errorf("Serve = %v after cancellation, want nil", err)
	}
}

// TestShutdownDuringDial covers a Dial that returns a connection after the
// shutdown began: the server must close it, not leak it.
func TestShutdownDuringDial(t *testing.T) {
	dialing := make(chan struct{})
	far := make(chan net.Conn, 1)
	proxy, shutdown := startServer(t, &Server{
		Dial: func(ctx context.Context, dst socks.Addr) (net.Conn, error) {
			close(dialing)
			<-ctx.Done()
			a, b := net.Pipe()
			far <- b
			return a, nil // too late, and ignoring ctx
		},
	})
	c, err := net.Dial("tcp", proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0, 80})
	<-dialing
	if err := shutdown(); err != nil {
		t.Fatal(err)
	}
	b := <-far
	defer b.Close()
	b.SetReadDeadline(time.Now().Add(testTimeout))
	if n, err := b.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("connection dialed during shutdown: read %d, %v; want EOF (closed)", n, err)
	}
}
