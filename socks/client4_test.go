package socks

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SOCKS4 messages used throughout the tests.
var (
	req4IP       = []byte{4, 1, 0, 80, 1, 2, 3, 4, 0}                          // CONNECT 1.2.3.4:80, no user ID
	req4a        = cat([]byte{4, 1, 1, 0xbb, 0, 0, 0, 1, 0}, z("example.com")) // CONNECT example.com:443
	reply4OK     = []byte{0, 0x5a, 0, 0, 0, 0, 0, 0}
	reply4Bound  = []byte{0, 0x5a, 0x1f, 0x90, 10, 0, 0, 1} // granted, 10.0.0.1:8080
	dstExample   = Addr{Name: "example.com", Port: 443}
	reply4Reject = []byte{0, 0x5b, 0, 0, 0, 0, 0, 0}
)

// z is s followed by a NUL byte.
func z(s string) []byte { return append([]byte(s), 0) }

func TestConnect4Messages(t *testing.T) {
	long := strings.Repeat("a", 255)
	tests := []struct {
		name  string
		dst   Addr
		user  string
		req   []byte
		reply []byte
	}{
		{"IPv4", dst1234, "", req4IP, reply4OK},
		{"IPv4 with a user ID", dst1234, "alice", cat([]byte{4, 1, 0, 80, 1, 2, 3, 4}, z("alice")), reply4OK},
		{"IPv4-mapped IPv6 goes as IPv4", Addr{IP: netip.MustParseAddr("::ffff:1.2.3.4"), Port: 80}, "", req4IP, reply4OK},
		{"high port", Addr{IP: netip.MustParseAddr("10.0.0.1"), Port: 65535}, "", []byte{4, 1, 0xff, 0xff, 10, 0, 0, 1, 0}, reply4OK},
		{"SOCKS4a", dstExample, "", req4a, reply4OK},
		{"SOCKS4a with a user ID", dstExample, "bob", cat([]byte{4, 1, 1, 0xbb, 0, 0, 0, 1}, z("bob"), z("example.com")), reply4OK},
		{"SOCKS4a name of 255 bytes", Addr{Name: long, Port: 1}, "", cat([]byte{4, 1, 0, 1, 0, 0, 0, 1, 0}, z(long)), reply4OK},
		{"user ID of 255 bytes", dst1234, long, cat([]byte{4, 1, 0, 80, 1, 2, 3, 4}, z(long)), reply4OK},
		{"a name wins over an IP", Addr{Name: "example.com", IP: netip.MustParseAddr("1.2.3.4"), Port: 443}, "", req4a, reply4OK},
		{"reply with a bound address", dst1234, "", req4IP, reply4Bound},
		{"reply with any port and address", dst1234, "", req4IP, []byte{0, 0x5a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, wait := startPeer(t, step{read: tt.req, write: cat(tt.reply, []byte("HELLO"))})
			if err := Connect4(context.Background(), conn, tt.dst, tt.user); err != nil {
				t.Fatalf("Connect4: %v", err)
			}
			// Exactly the reply was read: the destination's bytes follow.
			got := make([]byte, 5)
			if _, err := io.ReadFull(conn, got); err != nil || string(got) != "HELLO" {
				t.Errorf("after the reply: read %q, %v; want \"HELLO\"", got, err)
			}
			if err := wait(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestConnect4Replies(t *testing.T) {
	tests := []struct {
		code  byte
		errno syscall.Errno
		text  string
	}{
		{0x5b, syscall.ECONNREFUSED, "socks4: request rejected or failed by proxy"},
		{0x5c, syscall.EACCES, "socks4: request rejected by proxy: it cannot reach identd on the client"},
		{0x5d, syscall.EACCES, "socks4: request rejected by proxy: identd on the client reports another user ID"},
		{0x00, syscall.ECONNREFUSED, "socks4: proxy sent unknown reply 0x00"},
		{0x2a, syscall.ECONNREFUSED, "socks4: proxy sent unknown reply 0x2a"},
		{0x5e, syscall.ECONNREFUSED, "socks4: proxy sent unknown reply 0x5e"},
		{0xff, syscall.ECONNREFUSED, "socks4: proxy sent unknown reply 0xff"},
	}
	// Each code as a full reply, and cut short after the code: the code
	// is what matters.
	for _, cut := range []int{8, 2} {
		for _, tt := range tests {
			reply := []byte{0, tt.code, 0, 80, 1, 2, 3, 4}[:cut]
			conn, wait := startPeer(t, step{read: req4IP, write: reply})
			err := Connect4(context.Background(), conn, dst1234, "")
			if perr := wait(); perr != nil {
				t.Error(perr)
			}
			var re *Reply4Error
			if !errors.As(err, &re) || re.Reply != Reply4(tt.code) {
				t.Errorf("reply %#02x (%d bytes): err = %v, want *Reply4Error{%#02x}", tt.code, cut, err, tt.code)
				continue
			}
			if !errors.Is(err, tt.errno) {
				t.Errorf("reply %#02x: errors.Is(err, %v) = false", tt.code, tt.errno)
			}
			if err.Error() != tt.text {
				t.Errorf("reply %#02x: err = %q, want %q", tt.code, err.Error(), tt.text)
			}
		}
	}
}

func TestConnect4ProtocolErrors(t *testing.T) {
	tests := []struct {
		name  string
		reply []byte
		text  string
	}{
		{"version 4", []byte{4, 0x5a, 0, 0, 0, 0, 0, 0}, "version 0x04 in the CONNECT reply, want 0x00"},
		{"version byte only", []byte{1}, "version 0x01 in the CONNECT reply"},
		{"SOCKS5 proxy", []byte{5, 0xff}, "the proxy answered in SOCKS5"},
		{"HTTP proxy", []byte("HTTP/1.1 400 Bad Request\r\n\r\n"), "is it an HTTP proxy?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, wait := startPeer(t, step{read: req4IP, write: tt.reply})
			err := Connect4(context.Background(), conn, dst1234, "")
			if perr := wait(); perr != nil {
				t.Error(perr)
			}
			var pe *ProtocolError
			if !errors.As(err, &pe) || !errors.Is(err, syscall.EPROTO) {
				t.Fatalf("err = %v, want *ProtocolError matching EPROTO", err)
			}
			if !strings.HasPrefix(err.Error(), "socks4: protocol error: ") || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("err = %q, want it to contain %q", err, tt.text)
			}
		})
	}
}

// TestConnect4Truncated cuts the reply short at every byte: the client
// must report a closed connection, never hang, never succeed.
func TestConnect4Truncated(t *testing.T) {
	for _, dst := range []Addr{dst1234, dstExample} {
		req := req4IP
		if dst.Name != "" {
			req = req4a
		}
		for cut := range len(reply4Bound) {
			conn, wait := startPeer(t, step{read: req, write: reply4Bound[:cut]})
			err := Connect4(context.Background(), conn, dst, "")
			if perr := wait(); perr != nil {
				t.Errorf("%v, cut at %d: %v", dst, cut, perr)
			}
			if !errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPROTO) {
				t.Errorf("%v, cut at %d: err = %v, want ECONNRESET", dst, cut, err)
				continue
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("%v, cut at %d: err = %v does not wrap io.EOF", dst, cut, err)
			}
			if want := "socks4: proxy closed the connection during the handshake (reading the CONNECT reply)"; err.Error() != want {
				t.Errorf("%v, cut at %d: err = %q, want %q", dst, cut, err, want)
			}
		}
	}
}

func TestConnect4InvalidArguments(t *testing.T) {
	long := strings.Repeat("x", 256)
	tests := []struct {
		name  string
		dst   Addr
		user  string
		errno syscall.Errno
		text  string
	}{
		{"IPv6", Addr{IP: netip.MustParseAddr("2001:db8::1"), Port: 443}, "", syscall.EAFNOSUPPORT,
			"socks4: [2001:db8::1]:443 is an IPv6 address, which SOCKS4 cannot carry (use SOCKS5)"},
		{"IPv6 loopback", Addr{IP: netip.IPv6Loopback(), Port: 80}, "alice", syscall.EAFNOSUPPORT, "IPv6"},
		{"long name", Addr{Name: long, Port: 1}, "", syscall.EINVAL, "socks4: domain name is 256 bytes long, the limit is 255"},
		{"long user ID", dst1234, long, syscall.EINVAL, "socks4: user ID is 256 bytes long, the limit is 255"},
		{"NUL in the user ID", dst1234, "al\x00ice", syscall.EINVAL, "socks4: user ID contains a NUL byte"},
		{"NUL in the name", Addr{Name: "a\x00b", Port: 1}, "", syscall.EINVAL, "socks4: domain name contains a NUL byte"},
		{"no address", Addr{Port: 1}, "", syscall.EINVAL, "neither a domain name nor an IP address"},
		{"zero Addr", Addr{}, "", syscall.EINVAL, "neither a domain name nor an IP address"},
	}
	for _, tt := range tests {
		c := newBufConn(reply4OK)
		err := Connect4(context.Background(), c, tt.dst, tt.user)
		if !errors.Is(err, tt.errno) || !strings.Contains(err.Error(), tt.text) {
			t.Errorf("%s: err = %v, want %v and %q", tt.name, err, tt.errno, tt.text)
		}
		if c.out.Len() != 0 {
			t.Errorf("%s: sent % x before failing", tt.name, c.out.Bytes())
		}
	}
}

func TestConnect4ContextCancel(t *testing.T) {
	hold := make(chan struct{})
	conn, wait := startPeer(t,
		step{read: req4IP, hold: hold},
		step{write: []byte("X")},
	)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	err := Connect4(ctx, conn, dst1234, "")
	if !errors.Is(err, context.Canceled) || err.Error() != "socks4: handshake with proxy cancelled: context canceled" {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Connect4 took %v to notice the cancellation", d)
	}
	// The deadline used to interrupt the read is gone: conn still works.
	close(hold)
	var b [1]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil || b[0] != 'X' {
		t.Errorf("read after cancellation: %q, %v", b, err)
	}
	if err := wait(); err != nil {
		t.Error(err)
	}
}

func TestConnect4ContextDeadline(t *testing.T) {
	hold := make(chan struct{})
	conn, wait := startPeer(t, step{read: req4a, hold: hold})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := Connect4(ctx, conn, dstExample, "")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "socks4: handshake with proxy timed out") {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Connect4 took %v with a 100ms deadline", d)
	}
	close(hold)
	wait()
}

func TestConnect4ContextDoneBeforeStart(t *testing.T) {
	c := newBufConn(reply4OK)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Connect4(ctx, c, dst1234, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if c.out.Len() != 0 {
		t.Errorf("sent % x with a cancelled context", c.out.Bytes())
	}
}

// TestConnect4CallerDeadline checks that a deadline the caller put on conn
// is kept and its error passed on as is.
func TestConnect4CallerDeadline(t *testing.T) {
	hold := make(chan struct{})
	conn, wait := startPeer(t, step{read: req4IP, hold: hold})
	_ = conn.SetDeadline(time.Now().Add(100 * time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := Connect4(ctx, conn, dst1234, "")
	if !errors.Is(err, os.ErrDeadlineExceeded) || !strings.HasPrefix(err.Error(), "socks4: reading the CONNECT reply: ") {
		t.Fatalf("err = %v, want os.ErrDeadlineExceeded", err)
	}
	close(hold)
	wait()
}

func TestConnect4WriteError(t *testing.T) {
	conn, wait := startPeer(t)
	wait() // closes both ends
	err := Connect4(context.Background(), conn, dst1234, "")
	if err == nil || !strings.HasPrefix(err.Error(), "socks4: sending CONNECT request: ") {
		t.Errorf("err = %v, want a send error", err)
	}
}
