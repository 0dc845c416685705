package chain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chainrun/chainrun/socks"
)

// fakeProxy is an in-process SOCKS5 server on loopback whose behaviour
// after the greeting each test scripts.
type fakeProxy struct {
	ln   net.Listener
	addr netip.AddrPort
}

// startFake runs serve for every connection to a new loopback listener.
func startFake(t *testing.T, serve func(c net.Conn)) *fakeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				serve(c)
			}()
		}
	}()
	return &fakeProxy{ln: ln, addr: netip.MustParseAddrPort(ln.Addr().String())}
}

// echoAfter answers a CONNECT with reply r and then echoes what it reads.
func echoAfter(r socks.Reply, cfg *socks.ServerConfig) func(net.Conn) {
	return func(c net.Conn) {
		if _, err := socks.ServerHandshake5(c, cfg); err != nil {
			return
		}
		socks.WriteReply5(c, r, socks.Addr{})
		if r == socks.StatusSucceeded {
			io.Copy(c, c)
		}
	}
}

func (f *fakeProxy) proxy(t *testing.T, userinfo string) *Proxy {
	p, err := ParseProxy("socks5://" + userinfo + f.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// programSocket makes a fresh TCP socket as a traced program would have.
func programSocket(t *testing.T, family int, nonBlocking bool) int {
	t.Helper()
	typ := unix.SOCK_STREAM | unix.SOCK_CLOEXEC
	if nonBlocking {
		typ |= unix.SOCK_NONBLOCK
	}
	fd, err := unix.Socket(family, typ, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func nonBlocking(t *testing.T, fd int) bool {
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	return flags&unix.O_NONBLOCK != 0
}

var dst = netip.MustParseAddrPort("10.78.0.2:8080")

func TestConnectSocketSuccess(t *testing.T) {
	fake := startFake(t, echoAfter(socks.StatusSucceeded, nil))
	for _, c := range []struct {
		name        string
		family      int
		nonBlocking bool
	}{
		{"blocking IPv4", unix.AF_INET, false},
		{"non-blocking IPv4", unix.AF_INET, true},
		{"IPv6 socket to an IPv4 proxy", unix.AF_INET6, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			fd := programSocket(t, c.family, c.nonBlocking)
			d := &Dialer{Chain: []*Proxy{fake.proxy(t, "")}}
			if _, err := d.ConnectSocket(context.Background(), fd, c.family, socks.AddrFromAddrPort(dst)); err != nil {
				t.Fatal(err)
			}
			if got := nonBlocking(t, fd); got != c.nonBlocking {
				t.Errorf("O_NONBLOCK is %v after ConnectSocket, the program had %v", got, c.nonBlocking)
			}
			if !c.nonBlocking {
				// Settled: a second connect says EISCONN as the kernel would.
				sa, _ := encodeSockaddr(c.family, fake.addr)
				if err := unix.Connect(fd, sa); err != unix.EISCONN {
					t.Errorf("second connect: %v, want EISCONN", err)
				}
			}
			// The program's socket now carries bytes to the far end.
			f := os.NewFile(uintptr(mustDup(t, fd)), "check")
			defer f.Close()
			f.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := f.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4)
			if _, err := io.ReadFull(f, buf); err != nil || string(buf) != "ping" {
				t.Fatalf("echo %q %v", buf, err)
			}
		})
	}
}

func mustDup(t *testing.T, fd int) int {
	n, err := unix.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestConnectSocketAuth(t *testing.T) {
	cfg := &socks.ServerConfig{RequireAuth: true, Credentials: func(u, p string) bool { return u == "alice" && p == "s3cret" }}
	fake := startFake(t, echoAfter(socks.StatusSucceeded, cfg))
	for _, c := range []struct {
		userinfo string
		wantErr  error
	}{
		{"alice:s3cret@", nil},
		{"alice:wrong@", socks.ErrAuth},
		{"", socks.ErrAuth},
	} {
		t.Run(c.userinfo, func(t *testing.T) {
			fd := programSocket(t, unix.AF_INET, false)
			d := &Dialer{Chain: []*Proxy{fake.proxy(t, c.userinfo)}}
			_, err := d.ConnectSocket(context.Background(), fd, unix.AF_INET, socks.AddrFromAddrPort(dst))
			if c.wantErr == nil && err != nil || c.wantErr != nil && !errors.Is(err, c.wantErr) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			if err != nil && Errno(err) != syscall.ECONNREFUSED {
				t.Errorf("Errno = %v, want ECONNREFUSED", Errno(err))
			}
		})
	}
}

// TestConnectSocketFailures: each way a proxy can fail gives the program
// the right errno, names the hop, and leaves the socket reusable with its
// flags intact.
func TestConnectSocketFailures(t *testing.T) {
	refusedLn, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := refusedLn.Addr().String()
	refusedLn.Close() // nobody listens there now
	cases := []struct {
		name  string
		serve func(net.Conn)
		addr  string // instead of a fake
		errno syscall.Errno
		text  string
	}{
		{"proxy down", nil, closedAddr, syscall.ECONNREFUSED, "connection refused"},
		{"0x01 general failure", echoAfter(socks.StatusGeneralFailure, nil), "", syscall.ECONNREFUSED, "hop 1"},
		{"0x02 ruleset", echoAfter(socks.StatusNotAllowed, nil), "", syscall.ECONNREFUSED, "ruleset"},
		{"0x03 network unreachable", echoAfter(socks.StatusNetworkUnreachable, nil), "", syscall.ENETUNREACH, "unreachable"},
		{"0x04 host unreachable", echoAfter(socks.StatusHostUnreachable, nil), "", syscall.EHOSTUNREACH, "unreachable"},
		{"0x05 refused", echoAfter(socks.StatusConnectionRefused, nil), "", syscall.ECONNREFUSED, "refused"},
		{"0x06 TTL expired", echoAfter(socks.StatusTTLExpired, nil), "", syscall.ETIMEDOUT, "hop 1"},
		{"garbage reply", func(c net.Conn) { c.Write([]byte("HTTP/1.0 400 Bad\r\n\r\n")) }, "", syscall.EPROTO, "hop 1"},
		{"closes at once", func(c net.Conn) {}, "", syscall.ECONNRESET, "hop 1"},
		{"never answers", func(c net.Conn) { io.Copy(io.Discard, c) }, "", syscall.ETIMEDOUT, "hop 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			addr := c.addr
			if c.serve != nil {
				addr = startFake(t, c.serve).addr.String()
			}
			p, err := ParseProxy("socks5://" + addr)
			if err != nil {
				t.Fatal(err)
			}
			for _, nb := range []bool{false, true} {
				fd := programSocket(t, unix.AF_INET, nb)
				d := &Dialer{Chain: []*Proxy{p}, ReadTimeout: 300 * time.Millisecond}
				start := time.Now()
				_, err := d.ConnectSocket(context.Background(), fd, unix.AF_INET, socks.AddrFromAddrPort(dst))
				if err == nil {
					t.Fatal("no error")
				}
				if got := Errno(err); got != c.errno {
					t.Errorf("Errno(%v) = %v, want %v", err, unix.ErrnoName(got), unix.ErrnoName(c.errno))
				}
				if !strings.Contains(err.Error(), c.text) || !strings.HasPrefix(err.Error(), "hop 1 (socks5://") {
					t.Errorf("error %q should name the hop and say %q", err, c.text)
				}
				if time.Since(start) > 5*time.Second {
					t.Errorf("took %v", time.Since(start))
				}
				if got := nonBlocking(t, fd); got != nb {
					t.Errorf("O_NONBLOCK %v after failure, want %v", got, nb)
				}
				// Dissolved: the program may connect the same socket again.
				if _, err := unix.Getpeername(fd); err != unix.ENOTCONN {
					t.Errorf("getpeername after failure: %v, want ENOTCONN", err)
				}
			}
		})
	}
}

func TestConnectSocketCancelled(t *testing.T) {
	fake := startFake(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	fd := programSocket(t, unix.AF_INET, false)
	d := &Dialer{Chain: []*Proxy{fake.proxy(t, "")}}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := d.ConnectSocket(ctx, fd, unix.AF_INET, socks.AddrFromAddrPort(dst))
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("err %v after %v: cancellation did not end the handshake", err, time.Since(start))
	}
}

// TestConnectSocketAborted: the abort descriptor (the program's pidfd in
// chainrun) ends a handshake with a mute proxy at once, with no context
// cancelled, and the socket is dissolved.
func TestConnectSocketAborted(t *testing.T) {
	fake := startFake(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	fd := programSocket(t, unix.AF_INET, false)
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	d := &Dialer{Chain: []*Proxy{fake.proxy(t, "")}}
	time.AfterFunc(100*time.Millisecond, func() { unix.Write(p[1], []byte{1}) })
	start := time.Now()
	_, err := d.ConnectSocket(WithWaitInPlace(context.Background(), p[0]), fd, unix.AF_INET, socks.AddrFromAddrPort(dst))
	if !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
		t.Fatalf("err %v after %v: the abort descriptor did not end the handshake", err, time.Since(start))
	}
	if _, err := unix.Getpeername(fd); err != unix.ENOTCONN {
		t.Errorf("getpeername after the abort: %v, want ENOTCONN", err)
	}
}

func TestConnectSocketWrongFamily(t *testing.T) {
	p, _ := ParseProxy("socks5://[::1]:1080")
	fd := programSocket(t, unix.AF_INET, false)
	d := &Dialer{Chain: []*Proxy{p}}
	_, err := d.ConnectSocket(context.Background(), fd, unix.AF_INET, socks.AddrFromAddrPort(dst))
	if Errno(err) != syscall.ENETUNREACH {
		t.Fatalf("err %v (%v), want ENETUNREACH", err, Errno(err))
	}
}

func TestIsProxy(t *testing.T) {
	p, _ := ParseProxy("socks5://10.77.0.1:1080")
	p2, _ := ParseProxy("http://10.77.0.3:3128")
	d := &Dialer{Chain: []*Proxy{p, p2}}
	for addr, want := range map[string]bool{
		"10.77.0.1:1080":          true,
		"[::ffff:10.77.0.1]:1080": true,
		"10.77.0.1:1081":          false,
		"10.77.0.2:1080":          false,
		"10.77.0.3:3128":          true,
	} {
		if got := d.IsProxy(netip.MustParseAddrPort(addr)); got != want {
			t.Errorf("IsProxy(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestErrno(t *testing.T) {
	cases := []struct {
		err  error
		want syscall.Errno
	}{
		{fmt.Errorf("x: %w", os.ErrDeadlineExceeded), syscall.ETIMEDOUT},
		{context.DeadlineExceeded, syscall.ETIMEDOUT},
		{fmt.Errorf("hop 1: %w", syscall.EHOSTUNREACH), syscall.EHOSTUNREACH},
		{&socks.ReplyError{Reply: socks.StatusNetworkUnreachable}, syscall.ENETUNREACH},
		{errors.New("something odd"), syscall.ECONNREFUSED},
	}
	for _, c := range cases {
		if got := Errno(c.err); got != c.want {
			t.Errorf("Errno(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
