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

// Messages used throughout the client tests.
var (
	greetNone  = []byte{5, 1, 0}
	greetAuth  = []byte{5, 2, 0, 2}
	selNone    = []byte{5, 0}
	selUP      = []byte{5, 2}
	upAlice    = cat([]byte{1}, lenStr("alice"), lenStr("s3cret"))
	upOK       = []byte{1, 0}
	req1234    = []byte{5, 1, 0, 1, 1, 2, 3, 4, 0, 80}
	reply10001 = []byte{5, 0, 0, 1, 10, 0, 0, 1, 0x1f, 0x90}
	bound10001 = Addr{IP: netip.MustParseAddr("10.0.0.1"), Port: 8080}
	dst1234    = Addr{IP: netip.MustParseAddr("1.2.3.4"), Port: 80}
	alice      = &Auth{Username: "alice", Password: "s3cret"}
)

func TestConnect5Messages(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::1")
	v6b := v6.As16()
	tests := []struct {
		name  string
		dst   Addr
		auth  *Auth
		steps []step
		want  Addr
	}{
		{
			name: "no auth, IPv4",
			dst:  dst1234,
			steps: []step{
				{read: greetNone, write: selNone},
				{read: req1234, write: reply10001},
			},
			want: bound10001,
		},
		{
			name: "IPv4-mapped IPv6 goes as IPv4",
			dst:  Addr{IP: netip.MustParseAddr("::ffff:1.2.3.4"), Port: 80},
			steps: []step{
				{read: greetNone, write: selNone},
				{read: req1234, write: reply10001},
			},
			want: bound10001,
		},
		{
			name: "IPv6",
			dst:  Addr{IP: v6, Port: 443},
			steps: []step{
				{read: greetNone, write: selNone},
				{read: cat([]byte{5, 1, 0, 4}, v6b[:], []byte{1, 0xbb}), write: reply10001},
			},
			want: bound10001,
		},
		{
			name: "domain",
			dst:  Addr{Name: "example.com", Port: 443},
			steps: []step{
				{read: greetNone, write: selNone},
				{read: cat([]byte{5, 1, 0, 3}, lenStr("example.com"), []byte{1, 0xbb}), write: reply10001},
			},
			want: bound10001,
		},
		{
			name: "domain of 255 bytes",
			dst:  Addr{Name: strings.Repeat("a", 255), Port: 1},
			steps: []step{
				{read: greetNone, write: selNone},
				{read: cat([]byte{5, 1, 0, 3, 255}, []byte(strings.Repeat("a", 255)), []byte{0, 1}), write: reply10001},
			},
			want: bound10001,
		},
		{
			name: "auth offered, proxy picks none",
			dst:  dst1234,
			auth: alice,
			steps: []step{
				{read: greetAuth, write: selNone},
				{read: req1234, write: reply10001},
			},
			want: bound10001,
		},
		{
			name: "username/password",
			dst:  dst1234,
			auth: alice,
			steps: []step{
				{read: greetAuth, write: selUP},
				{read: cat([]byte{1, 5}, []byte("alice"), []byte{6}, []byte("s3cret")), write: upOK},
				{read: req1234, write: reply10001},
			},
			want: bound10001,
		},
		{
			name: "username/password status with version 5",
			dst:  dst1234,
			auth: alice,
			steps: []step{
				{read: greetAuth, write: selUP},
				{read: upAlice, write: []byte{5, 0}},
				{read: req1234, write: reply10001},
			},
			want: bound10001,
		},
		{
			name: "empty username and password",
			dst:  dst1234,
			auth: &Auth{},
			steps: []step{
				{read: greetAuth, write: selUP},
				{read: []byte{1, 0, 0}, write: upOK},
				{read: req1234, write: reply10001},
			},
			want: bound10001,
		},
		{
			name: "username and password of 255 bytes",
			dst:  dst1234,
			auth: &Auth{Username: strings.Repeat("u", 255), Password: strings.Repeat("p", 255)},
			steps: []step{
				{read: greetAuth, write: selUP},
				{read: cat([]byte{1}, lenStr(strings.Repeat("u", 255)), lenStr(strings.Repeat("p", 255))), write: upOK},
				{read: req1234, write: reply10001},
			},
			want: bound10001,
		},
		{
			name: "bound IPv6",
			dst:  dst1234,
			steps: []step{
				{read: greetNone, write: selNone},
				{read: req1234, write: cat([]byte{5, 0, 0, 4}, v6b[:], []byte{0, 53})},
			},
			want: Addr{IP: v6, Port: 53},
		},
		{
			name: "bound domain",
			dst:  dst1234,
			steps: []step{
				{read: greetNone, write: selNone},
				{read: req1234, write: cat([]byte{5, 0, 0, 3}, lenStr("proxy.example"), []byte{4, 0x38})},
			},
			want: Addr{Name: "proxy.example", Port: 1080},
		},
		{
			name: "bound empty domain",
			dst:  dst1234,
			steps: []step{
				{read: greetNone, write: selNone},
				{read: req1234, write: []byte{5, 0, 0, 3, 0, 0, 7}},
			},
			want: Addr{Port: 7},
		},
		{
			name: "reserved byte not zero is tolerated",
			dst:  dst1234,
			steps: []step{
				{read: greetNone, write: selNone},
				{read: req1234, write: []byte{5, 0, 0xee, 1, 10, 0, 0, 1, 0x1f, 0x90}},
			},
			want: bound10001,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, wait := startPeer(t, tt.steps...)
			got, err := Connect5(context.Background(), conn, tt.dst, tt.auth)
			if perr := wait(); perr != nil {
				t.Error(perr)
			}
			if err != nil {
				t.Fatalf("Connect5: %v", err)
			}
			if got != tt.want {
				t.Errorf("bound = %#v, want %#v", got, tt.want)
			}
		})
	}
}

// TestConnect5WaitsForEachAnswer checks that no message is pipelined: the
// peer makes sure the client is silent before it answers each one.
func TestConnect5WaitsForEachAnswer(t *testing.T) {
	const q = 50 * time.Millisecond
	conn, wait := startPeer(t,
		step{read: greetAuth, quiet: q, write: selUP},
		step{read: upAlice, quiet: q, write: upOK},
		step{read: req1234, quiet: q, write: reply10001},
	)
	if _, err := Connect5(context.Background(), conn, dst1234, alice); err != nil {
		t.Fatalf("Connect5: %v", err)
	}
	if err := wait(); err != nil {
		t.Error(err)
	}
}

func TestConnect5Replies(t *testing.T) {
	tests := []struct {
		code  byte
		errno syscall.Errno
		text  string
	}{
		{0x01, syscall.ECONNREFUSED, "socks5: general SOCKS server failure"},
		{0x02, syscall.ECONNREFUSED, "socks5: connection not allowed by ruleset"},
		{0x03, syscall.ENETUNREACH, "socks5: network unreachable from proxy"},
		{0x04, syscall.EHOSTUNREACH, "socks5: host unreachable from proxy"},
		{0x05, syscall.ECONNREFUSED, "socks5: connection refused by destination"},
		{0x06, syscall.ETIMEDOUT, "socks5: TTL expired (connection to destination timed out)"},
		{0x07, syscall.EOPNOTSUPP, "socks5: command not supported by proxy"},
		{0x08, syscall.EAFNOSUPPORT, "socks5: address type not supported by proxy"},
		{0x2a, syscall.ECONNREFUSED, "socks5: proxy sent unknown reply 0x2a"},
	}
	// Each code as a full reply, and as a reply cut short after the code:
	// the code is what matters.
	for _, cut := range []int{10, 2} {
		for _, tt := range tests {
			reply := []byte{5, tt.code, 0, 1, 0, 0, 0, 0, 0, 0}[:cut]
			conn, wait := startPeer(t,
				step{read: greetNone, write: selNone},
				step{read: req1234, write: reply},
			)
			_, err := Connect5(context.Background(), conn, dst1234, nil)
			if perr := wait(); perr != nil {
				t.Error(perr)
			}
			var re *ReplyError
			if !errors.As(err, &re) || re.Reply != Reply(tt.code) {
				t.Errorf("reply %#02x (%d bytes): err = %v, want *ReplyError{%#02x}", tt.code, cut, err, tt.code)
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

func TestConnect5AuthErrors(t *testing.T) {
	tests := []struct {
		name  string
		auth  *Auth
		steps []step
		want  AuthError
		text  string
	}{
		{
			name:  "password required, none configured",
			steps: []step{{read: greetNone, write: []byte{5, 0xff}}},
			want:  AuthError{Method: AuthNoAcceptableMethods, Offered: []AuthMethod{AuthNone}},
			text:  "socks5: proxy requires username/password authentication (no credentials configured)",
		},
		{
			name:  "no acceptable methods",
			auth:  alice,
			steps: []step{{read: greetAuth, write: []byte{5, 0xff}}},
			want:  AuthError{Method: AuthNoAcceptableMethods, Offered: []AuthMethod{AuthNone, AuthUsernamePassword}},
			text:  "socks5: proxy accepts none of the offered authentication methods (no authentication, username/password)",
		},
		{
			name: "credentials rejected",
			auth: alice,
			steps: []step{
				{read: greetAuth, write: selUP},
				{read: upAlice, write: []byte{1, 1}},
			},
			want: AuthError{Method: AuthUsernamePassword, Status: 1, Offered: []AuthMethod{AuthNone, AuthUsernamePassword}},
			text: "socks5: username/password rejected by proxy (status 0x01)",
		},
		{
			name: "credentials rejected with another status",
			auth: alice,
			steps: []step{
				{read: greetAuth, write: selUP},
				{read: upAlice, write: []byte{1, 0x7f}},
			},
			want: AuthError{Method: AuthUsernamePassword, Status: 0x7f, Offered: []AuthMethod{AuthNone, AuthUsernamePassword}},
			text: "socks5: username/password rejected by proxy (status 0x7f)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, wait := startPeer(t, tt.steps...)
			_, err := Connect5(context.Background(), conn, dst1234, tt.auth)
			if perr := wait(); perr != nil {
				t.Error(perr)
			}
			var ae *AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want *AuthError", err)
			}
			if ae.Method != tt.want.Method || ae.Status != tt.want.Status || !equalMethods(ae.Offered, tt.want.Offered) {
				t.Errorf("err = %#v, want %#v", *ae, tt.want)
			}
			if !errors.Is(err, syscall.ECONNREFUSED) || !errors.Is(err, ErrAuth) {
				t.Errorf("errors.Is(err, ECONNREFUSED/ErrAuth) = %v/%v, want true/true",
					errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, ErrAuth))
			}
			if err.Error() != tt.text {
				t.Errorf("err = %q, want %q", err.Error(), tt.text)
			}
		})
	}
}

func equalMethods(a, b []AuthMethod) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestConnect5ProtocolErrors(t *testing.T) {
	tests := []struct {
		name  string
		auth  *Auth
		steps []step
		text  string // a substring of the error
	}{
		{
			name:  "method selection version 4",
			steps: []step{{read: greetNone, write: []byte{4, 0}}},
			text:  "version 0x04 in the method selection, want 0x05",
		},
		{
			name:  "method selection version byte only",
			steps: []step{{read: greetNone, write: []byte{0}}},
			text:  "version 0x00 in the method selection",
		},
		{
			name:  "HTTP proxy",
			steps: []step{{read: greetNone, write: []byte("HTTP/1.1 400 Bad Request\r\n\r\n")}},
			text:  "is it an HTTP proxy?",
		},
		{
			name:  "method not offered: GSS-API",
			steps: []step{{read: greetNone, write: []byte{5, 1}}},
			text:  "proxy chose authentication method GSS-API, which was not offered",
		},
		{
			name:  "method not offered: username/password",
			steps: []step{{read: greetNone, write: selUP}},
			text:  "proxy chose authentication method username/password, which was not offered",
		},
		{
			name:  "method not offered: unknown",
			auth:  alice,
			steps: []step{{read: greetAuth, write: []byte{5, 0x80}}},
			text:  "unknown method 0x80",
		},
		{
			name: "username/password status version 2",
			auth: alice,
			steps: []step{
				{read: greetAuth, write: selUP},
				{read: upAlice, write: []byte{2, 0}},
			},
			text: "version 0x02 in the username/password status, want 0x01",
		},
		{
			name: "reply version 4",
			steps: []step{
				{read: greetNone, write: selNone},
				{read: req1234, write: []byte{4, 0, 0, 1, 0, 0, 0, 0, 0, 0}},
			},
			text: "version 0x04 in the CONNECT reply, want 0x05",
		},
		{
			name: "reply version 0 (SOCKS4 style)",
			steps: []step{
				{read: greetNone, write: selNone},
				{read: req1234, write: []byte{0, 0x5a, 0, 80, 1, 2, 3, 4}},
			},
			text: "version 0x00 in the CONNECT reply",
		},
		{
			name: "unknown address type",
			steps: []step{
				{read: greetNone, write: selNone},
				{read: req1234, write: []byte{5, 0, 0, 5, 0, 0, 0, 0, 0, 0}},
			},
			text: "unknown address type 0x05 in the CONNECT reply",
		},
		{
			name: "address type 0",
			steps: []step{
				{read: greetNone, write: selNone},
				{read: req1234, write: []byte{5, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
			},
			text: "unknown address type 0x00",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, wait := startPeer(t, tt.steps...)
			_, err := Connect5(context.Background(), conn, dst1234, tt.auth)
			if perr := wait(); perr != nil {
				t.Error(perr)
			}
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *ProtocolError", err)
			}
			if !errors.Is(err, syscall.EPROTO) {
				t.Errorf("errors.Is(err, EPROTO) = false for %v", err)
			}
			if !strings.Contains(err.Error(), tt.text) || !strings.HasPrefix(err.Error(), "socks5: ") {
				t.Errorf("err = %q, want it to contain %q", err, tt.text)
			}
		})
	}
}

// TestConnect5Truncated cuts the proxy's answers short at every byte: the
// client must report a closed connection, never hang, never panic, never
// succeed.
func TestConnect5Truncated(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::1").As16()
	scripts := []struct {
		name  string
		auth  *Auth
		steps []step
	}{
		{"no auth", nil, []step{{read: greetNone, write: selNone}, {read: req1234, write: reply10001}}},
		{"auth", alice, []step{{read: greetAuth, write: selUP}, {read: upAlice, write: upOK}, {read: req1234, write: reply10001}}},
		{"bound IPv6", nil, []step{{read: greetNone, write: selNone}, {read: req1234, write: cat([]byte{5, 0, 0, 4}, v6[:], []byte{0, 1})}}},
		{"bound domain", nil, []step{{read: greetNone, write: selNone}, {read: req1234, write: cat([]byte{5, 0, 0, 3}, lenStr("proxy.example"), []byte{0, 1})}}},
	}
	for _, sc := range scripts {
		total := 0
		for _, st := range sc.steps {
			total += len(st.write)
		}
		for cut := 0; cut < total; cut++ {
			// Keep the first cut bytes of the proxy's answers.
			var steps []step
			left := cut
			for _, st := range sc.steps {
				n := min(left, len(st.write))
				steps = append(steps, step{read: st.read, write: st.write[:n]})
				left -= n
				if n < len(st.write) {
					break
				}
			}
			conn, wait := startPeer(t, steps...)
			_, err := Connect5(context.Background(), conn, dst1234, sc.auth)
			if perr := wait(); perr != nil {
				t.Errorf("%s, cut at %d: %v", sc.name, cut, perr)
			}
			if !errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPROTO) {
				t.Errorf("%s, cut at %d: err = %v, want ECONNRESET", sc.name, cut, err)
				continue
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("%s, cut at %d: err = %v does not wrap io.EOF or io.ErrUnexpectedEOF", sc.name, cut, err)
			}
			if !strings.Contains(err.Error(), "proxy closed the connection during the handshake") {
				t.Errorf("%s, cut at %d: err = %q", sc.name, cut, err)
			}
		}
	}
}

// TestConnect5ReadsOnlyTheReply checks that bytes the destination sends
// right after the reply stay in the connection.
func TestConnect5ReadsOnlyTheReply(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::1").As16()
	replies := map[string][]byte{
		"IPv4":   reply10001,
		"IPv6":   cat([]byte{5, 0, 0, 4}, v6[:], []byte{0, 1}),
		"domain": cat([]byte{5, 0, 0, 3}, lenStr("proxy.example"), []byte{0, 1}),
		"empty":  []byte{5, 0, 0, 3, 0, 0, 1},
	}
	for name, reply := range replies {
		for _, auth := range []*Auth{nil, alice} {
			steps := []step{{read: greetNone, write: selNone}}
			if auth != nil {
				steps = []step{{read: greetAuth, write: selUP}, {read: upAlice, write: upOK}}
			}
			steps = append(steps, step{read: req1234, write: cat(reply, []byte("HELLO"))})
			conn, wait := startPeer(t, steps...)
			if _, err := Connect5(context.Background(), conn, dst1234, auth); err != nil {
				t.Errorf("%s: Connect5: %v", name, err)
				wait()
				continue
			}
			got := make([]byte, 5)
			if _, err := io.ReadFull(conn, got); err != nil || string(got) != "HELLO" {
				t.Errorf("%s, auth %v: read %q, %v after the reply, want \"HELLO\"", name, auth != nil, got, err)
			}
			if err := wait(); err != nil {
				t.Error(err)
			}
		}
	}
}

func TestConnect5InvalidArguments(t *testing.T) {
	long := strings.Repeat("x", 256)
	tests := []struct {
		name string
		dst  Addr
		auth *Auth
		text string
	}{
		{"long domain", Addr{Name: long, Port: 1}, nil, "domain name is 256 bytes long, the limit is 255"},
		{"no address", Addr{Port: 1}, nil, "neither a domain name nor an IP address"},
		{"zero Addr", Addr{}, nil, "neither a domain name nor an IP address"},
		{"long username", dst1234, &Auth{Username: long, Password: "p"}, "username is 256 bytes long"},
		{"long password", dst1234, &Auth{Username: "u", Password: long}, "password is 256 bytes long"},
	}
	for _, tt := range tests {
		c := newBufConn([]byte{5, 0, 5, 0, 0, 1, 0, 0, 0, 0, 0, 0})
		_, err := Connect5(context.Background(), c, tt.dst, tt.auth)
		if !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), tt.text) {
			t.Errorf("%s: err = %v, want EINVAL and %q", tt.name, err, tt.text)
		}
		if c.out.Len() != 0 {
			t.Errorf("%s: sent % x before failing", tt.name, c.out.Bytes())
		}
	}
}

func TestConnect5ContextCancel(t *testing.T) {
	hold := make(chan struct{})
	conn, wait := startPeer(t,
		step{read: greetNone, hold: hold},
		step{write: []byte("X")},
	)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := Connect5(ctx, conn, dst1234, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Connect5 took %v to notice the cancellation", d)
	}
	if !strings.Contains(err.Error(), "cancelled") {
		t.Errorf("err = %q", err)
	}
	// The deadline used to interrupt the read must be gone: the
	// connection still works.
	close(hold)
	var b [1]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil || b[0] != 'X' {
		t.Errorf("read after cancellation: %q, %v", b, err)
	}
	if err := wait(); err != nil {
		t.Error(err)
	}
}

func TestConnect5ContextDeadline(t *testing.T) {
	hold := make(chan struct{})
	conn, wait := startPeer(t, step{read: greetNone, write: selNone, hold: hold})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Connect5(ctx, conn, dst1234, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Connect5 took %v with a 100ms deadline", d)
	}
	if !strings.Contains(err.Error(), "timed out") {
		t.Errorf("err = %q", err)
	}
	close(hold)
	wait()
}

func TestConnect5ContextDoneBeforeStart(t *testing.T) {
	c := newBufConn([]byte{5, 0})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Connect5(ctx, c, dst1234, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if c.out.Len() != 0 {
		t.Errorf("sent % x with a cancelled context", c.out.Bytes())
	}
}

// TestConnect5CallerDeadline checks that a deadline the caller put on conn
// is kept and its error passed on as is.
func TestConnect5CallerDeadline(t *testing.T) {
	hold := make(chan struct{})
	conn, wait := startPeer(t, step{read: greetNone, hold: hold})
	_ = conn.SetDeadline(time.Now().Add(100 * time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background()) // cancellable, no deadline
	defer cancel()
	_, err := Connect5(ctx, conn, dst1234, nil)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err = %v, want os.ErrDeadlineExceeded", err)
	}
	if !strings.HasPrefix(err.Error(), "socks5: reading the method selection: ") {
		t.Errorf("err = %q", err)
	}
	close(hold)
	wait()
}

func TestConnect5WriteError(t *testing.T) {
	conn, wait := startPeer(t)
	wait() // closes both ends
	_, err := Connect5(context.Background(), conn, dst1234, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "socks5: sending greeting: ") {
		t.Errorf("err = %v, want a send error", err)
	}
}
