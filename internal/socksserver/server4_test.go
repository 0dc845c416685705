package socksserver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chainrun/chainrun/socks"
)

// dialVia4 connects to dst through the proxy at proxyAddr with SOCKS4, or
// SOCKS4a when dst is a name.
func dialVia4(proxyAddr string, dst socks.Addr, userID string) (*net.TCPConn, error) {
	c, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := socks.Connect4(ctx, c, dst, userID); err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(testTimeout))
	return c.(*net.TCPConn), nil
}

// TestAllVersionsOnePort serves SOCKS4, SOCKS4a and SOCKS5 clients on one
// port, one after the other and at the same time.
func TestAllVersionsOnePort(t *testing.T) {
	echo := startEcho(t, "tcp", "127.0.0.1:0")
	logs := newLogSink()
	proxy, _ := startServer(t, &Server{Logf: logs.logf})
	byName := socks.Addr{Name: "localhost", Port: uint16(echo.Port)}
	clients := []struct {
		proto string
		user  string
		dst   socks.Addr
		dial  func() (*net.TCPConn, error)
	}{
		{"socks4", "carol", addrOf(echo), func() (*net.TCPConn, error) { return dialVia4(proxy, addrOf(echo), "carol") }},
		{"socks4a", "-", byName, func() (*net.TCPConn, error) { return dialVia4(proxy, byName, "") }},
		{"socks5", "-", byName, func() (*net.TCPConn, error) {
			c, _, err := dialVia(proxy, byName, nil)
			return c, err
		}},
	}
	for _, cl := range clients {
		c, err := cl.dial()
		if err != nil {
			t.Fatalf("%s: %v", cl.proto, err)
		}
		checkEcho(t, c, "hello over "+cl.proto)
		c.Close()
		line := logs.next(t)
		for _, want := range []string{"proto=" + cl.proto, "user=" + cl.user, "dst=" + cl.dst.String(), `result="ok"`} {
			if !strings.Contains(line, want) {
				t.Errorf("%s: log line %q lacks %q", cl.proto, line, want)
			}
		}
	}

	// All at once: each holds its connection open until all are in.
	var conns []*net.TCPConn
	for _, cl := range clients {
		c, err := cl.dial()
		if err != nil {
			t.Fatalf("%s, concurrently: %v", cl.proto, err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	for i, c := range conns {
		checkEcho(t, c, "concurrent "+clients[i].proto)
	}
}

// TestSOCKS4aIPv6Literal checks that a SOCKS4a name that is an IPv6
// literal reaches an IPv6 destination: SOCKS4 itself has no IPv6.
func TestSOCKS4aIPv6Literal(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ln.Close()
	echo := startEcho(t, "tcp6", "[::1]:0")
	proxy, _ := startServer(t, &Server{})
	c, err := dialVia4(proxy, socks.Addr{Name: "::1", Port: uint16(echo.Port)}, "")
	if err != nil {
		t.Fatalf("SOCKS4a to ::1: %v", err)
	}
	defer c.Close()
	checkEcho(t, c, "v6 by SOCKS4a")
}

func TestSOCKS4DialRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := addrOf(ln.Addr().(*net.TCPAddr))
	ln.Close()
	logs := newLogSink()
	proxy, _ := startServer(t, &Server{Logf: logs.logf})
	for _, dst := range []socks.Addr{closed, {Name: "localhost", Port: closed.Port}} {
		_, err := dialVia4(proxy, dst, "")
		var re *socks.Reply4Error
		if !errors.As(err, &re) || re.Reply != socks.Status4Rejected || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("%v: err = %v, want reply 0x5b and ECONNREFUSED", dst, err)
		}
		if line := logs.next(t); !strings.Contains(line, `result="connection refused (dial tcp`) {
			t.Errorf("%v: log line %q", dst, line)
		}
	}
}

// TestSOCKS4PasswordRequired checks that a server that wants a password
// refuses SOCKS4 clients, says why in its log, and still serves SOCKS5
// clients with the password on the same port.
func TestSOCKS4PasswordRequired(t *testing.T) {
	echo := startEcho(t, "tcp", "127.0.0.1:0")
	logs := newLogSink()
	proxy, _ := startServer(t, &Server{
		Auth: &socks.ServerConfig{
			Credentials: func(user, pass string) bool { return user == "alice" && pass == "s3cret" },
			RequireAuth: true,
		},
		Logf: logs.logf,
	})
	for _, dst := range []socks.Addr{addrOf(echo), {Name: "localhost", Port: uint16(echo.Port)}} {
		_, err := dialVia4(proxy, dst, "alice")
		var re *socks.Reply4Error
		if !errors.As(err, &re) || re.Reply != socks.Status4Rejected {
			t.Errorf("%v: err = %v, want reply 0x5b", dst, err)
		}
		if line := logs.next(t); !strings.Contains(line, "SOCKS4 cannot carry") {
			t.Errorf("%v: log line %q", dst, line)
		}
	}
	c, _, err := dialVia(proxy, addrOf(echo), &socks.Auth{Username: "alice", Password: "s3cret"})
	if err != nil {
		t.Fatalf("SOCKS5 with the password: %v", err)
	}
	defer c.Close()
	checkEcho(t, c, "authenticated")
}

func TestSOCKS4Bind(t *testing.T) {
	logs := newLogSink()
	proxy, _ := startServer(t, &Server{Logf: logs.logf})
	c, err := net.Dial("tcp", proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testTimeout))
	c.Write([]byte{4, 2, 0, 80, 127, 0, 0, 1, 0})
	reply, err := io.ReadAll(c)
	if want := []byte{0, 0x5b, 0, 0, 0, 0, 0, 0}; err != nil || !bytes.Equal(reply, want) {
		t.Errorf("reply % x, %v; want % x and EOF", reply, err, want)
	}
	if line := logs.next(t); !strings.Contains(line, "BIND not supported") || !strings.Contains(line, "proto=socks4") {
		t.Errorf("log line %q", line)
	}
}

// TestLogValuesQuoted checks that what a client says cannot forge log
// lines: a SOCKS4 user ID and a SOCKS4a name with spaces and newlines are
// quoted.
func TestLogValuesQuoted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	logs := newLogSink()
	proxy, _ := startServer(t, &Server{
		Logf: logs.logf,
		Dial: func(ctx context.Context, dst socks.Addr) (net.Conn, error) {
			return nil, syscall.ECONNREFUSED
		},
	})
	dialVia4(proxy, socks.Addr{Name: "evil\nclient=x", Port: port}, "a b\n")
	line := logs.next(t)
	if strings.Contains(line, "\n") || !strings.Contains(line, `user="a b\n"`) || !strings.Contains(line, `dst="evil\nclient=x:`) {
		t.Errorf("log line %q", line)
	}
	for in, want := range map[string]string{"": "-", "alice": "alice", "é": `"é"`, `a"b`: `"a\"b"`, "a=b": `"a=b"`, "[::1]:80": "[::1]:80"} {
		if got := logValue(in); got != want {
			t.Errorf("logValue(%q) = %s, want %s", in, got, want)
		}
	}
}
