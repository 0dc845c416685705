package socks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Messages of the RESOLVE and RESOLVE_PTR tests.
var (
	reqResolveExample = cat([]byte{5, 0xf0, 0, 3}, lenStr("example.com"), []byte{0, 0})
	reqPTR10001       = []byte{5, 0xf1, 0, 1, 10, 0, 0, 1, 0, 0}
	replyV4           = []byte{5, 0, 0, 1, 93, 184, 215, 14, 0, 0}
	v4Example         = netip.MustParseAddr("93.184.215.14")
	ip10001           = netip.MustParseAddr("10.0.0.1")
)

func TestResolve5(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::1")
	v6b := v6.As16()
	tests := []struct {
		name  string
		host  string
		auth  *Auth
		steps []step
		want  netip.Addr
	}{
		{
			name: "IPv4",
			host: "example.com",
			steps: []step{
				{read: greetNone, write: selNone},
				{read: reqResolveExample, write: replyV4},
			},
			want: v4Example,
		},
		{
			name: "IPv6",
			host: "example.com",
			steps: []step{
				{read: greetNone, write: selNone},
				{read: reqResolveExample, write: cat([]byte{5, 0, 0, 4}, v6b[:], []byte{0, 0})},
			},
			want: v6,
		},
		{
			name: "port in the reply is ignored",
			host: "example.com",
			steps: []step{
				{read: greetNone, write: selNone},
				{read: reqResolveExample, write: []byte{5, 0, 0, 1, 93, 184, 215, 14, 0x1f, 0x90}},
			},
			want: v4Example,
		},
		{
			name: "username/password",
			host: "example.com",
			auth: alice,
			steps: []step{
				{read: greetAuth, quiet: 20 * time.Millisecond, write: selUP},
				{read: upAlice, quiet: 20 * time.Millisecond, write: upOK},
				{read: reqResolveExample, write: replyV4},
			},
			want: v4Example,
		},
		{
			name: "onion name of 255 bytes",
			host: strings.Repeat("a", 249) + ".onion",
			steps: []step{
				{read: greetNone, write: selNone},
				{read: cat([]byte{5, 0xf0, 0, 3, 255}, []byte(strings.Repeat("a", 249)+".onion"), []byte{0, 0}), write: replyV4},
			},
			want: v4Example,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, wait := startPeer(t, tt.steps...)
			got, err := Resolve5(context.Background(), conn, tt.host, tt.auth)
			if perr := wait(); perr != nil {
				t.Error(perr)
			}
			if err != nil {
				t.Fatalf("Resolve5: %v", err)
			}
			if got != tt.want {
				t.Errorf("Resolve5 = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestResolvePTR5(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::1")
	v6b := v6.As16()
	tests := []struct {
		name  string
		addr  netip.Addr
		auth  *Auth
		steps []step
		want  string
	}{
		{
			name: "IPv4",
			addr: ip10001,
			steps: []step{
				{read: greetNone, write: selNone},
				{read: reqPTR10001, write: cat([]byte{5, 0, 0, 3}, lenStr("host.example"), []byte{0, 0})},
			},
			want: "host.example",
		},
		{
			name: "IPv4-mapped goes as IPv4",
			addr: netip.MustParseAddr("::ffff:10.0.0.1"),
			steps: []step{
				{read: greetNone, write: selNone},
				{read: reqPTR10001, write: cat([]byte{5, 0, 0, 3}, lenStr("host.example"), []byte{0, 0})},
			},
			want: "host.example",
		},
		{
			name: "IPv6 with a zone",
			addr: v6.WithZone("eth0"),
			steps: []step{
				{read: greetNone, write: selNone},
				{read: cat([]byte{5, 0xf1, 0, 4}, v6b[:], []byte{0, 0}), write: cat([]byte{5, 0, 0, 3}, lenStr("v6.example"), []byte{0, 0})},
			},
			want: "v6.example",
		},
		{
			name: "username/password, name of 255 bytes",
			addr: ip10001,
			auth: alice,
			steps: []step{
				{read: greetAuth, write: selUP},
				{read: upAlice, write: upOK},
				{read: reqPTR10001, write: cat([]byte{5, 0, 0, 3}, lenStr(strings.Repeat("n", 255)), []byte{0, 0})},
			},
			want: strings.Repeat("n", 255),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, wait := startPeer(t, tt.steps...)
			got, err := ResolvePTR5(context.Background(), conn, tt.addr, tt.auth)
			if perr := wait(); perr != nil {
				t.Error(perr)
			}
			if err != nil {
				t.Fatalf("ResolvePTR5: %v", err)
			}
			if got != tt.want {
				t.Errorf("ResolvePTR5 = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestResolve5Replies(t *testing.T) {
	tests := []struct {
		code  byte
		errno syscall.Errno
		text  string
	}{
		{0x01, syscall.ECONNREFUSED, "socks5: general SOCKS server failure"},
		{0x04, syscall.EHOSTUNREACH, "socks5: host unreachable from proxy"},
		{0x07, syscall.EOPNOTSUPP, "socks5: command not supported by proxy"},
		{0x08, syscall.EAFNOSUPPORT, "socks5: address type not supported by proxy"},
		{0xf0, syscall.EHOSTUNREACH, "socks5: onion service descriptor not found (Tor extended error 0xf0)"},
		{0xf1, syscall.EHOSTUNREACH, "socks5: onion service descriptor invalid (Tor extended error 0xf1)"},
		{0xf2, syscall.EHOSTUNREACH, "socks5: onion service introduction failed (Tor extended error 0xf2)"},
		{0xf3, syscall.EHOSTUNREACH, "socks5: onion service rendezvous failed (Tor extended error 0xf3)"},
		{0xf4, syscall.EACCES, "socks5: onion service missing client authorization (Tor extended error 0xf4)"},
		{0xf5, syscall.EACCES, "socks5: onion service wrong client authorization (Tor extended error 0xf5)"},
		{0xf6, syscall.EINVAL, "socks5: onion service invalid address (Tor extended error 0xf6)"},
		{0xf7, syscall.ETIMEDOUT, "socks5: onion service introduction timed out (Tor extended error 0xf7)"},
		{0xf8, syscall.ECONNREFUSED, "socks5: proxy sent unknown reply 0xf8"},
	}
	for _, ptr := range []bool{false, true} {
		req := reqResolveExample
		if ptr {
			req = reqPTR10001
		}
		// Each code as a full reply, and cut short after the code.
		for _, cut := range []int{10, 2} {
			for _, tt := range tests {
				conn, wait := startPeer(t,
					step{read: greetNone, write: selNone},
					step{read: req, write: []byte{5, tt.code, 0, 1, 0, 0, 0, 0, 0, 0}[:cut]},
				)
				_, err := runResolve(context.Background(), ptr, conn, nil)
				if perr := wait(); perr != nil {
					t.Error(perr)
				}
				var re *ReplyError
				if !errors.As(err, &re) || re.Reply != Reply(tt.code) {
					t.Errorf("ptr=%v reply %#02x (%d bytes): err = %v, want *ReplyError{%#02x}", ptr, tt.code, cut, err, tt.code)
					continue
				}
				if !errors.Is(err, tt.errno) {
					t.Errorf("ptr=%v reply %#02x: errors.Is(err, %v) = false", ptr, tt.code, tt.errno)
				}
				if err.Error() != tt.text {
					t.Errorf("ptr=%v reply %#02x: err = %q, want %q", ptr, tt.code, err.Error(), tt.text)
				}
			}
		}
	}
}

// runResolve runs RESOLVE for "example.com" (ptr false) or RESOLVE_PTR for
// 10.0.0.1 over conn and returns the answer as a string.
func runResolve(ctx context.Context, ptr bool, conn net.Conn, auth *Auth) (string, error) {
	if ptr {
		return ResolvePTR5(ctx, conn, ip10001, auth)
	}
	ip, err := Resolve5(ctx, conn, "example.com", auth)
	if err != nil {
		return "", err
	}
	return ip.String(), nil
}

func TestResolve5Failures(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::1").As16()
	tests := []struct {
		name  string
		ptr   bool
		auth  *Auth
		steps []step
		errno syscall.Errno
		text  string // a substring of the error
	}{
		{
			name: "RESOLVE answered with a name",
			steps: []step{
				{read: greetNone, write: selNone},
				{read: reqResolveExample, write: cat([]byte{5, 0, 0, 3}, lenStr("other.example"), []byte{0, 0})},
			},
			errno: syscall.EPROTO,
			text:  `socks5: protocol error: the RESOLVE reply carries the name "other.example", not an address`,
		},
		{
			name: "RESOLVE answered with an empty name",
			steps: []step{
				{read: greetNone, write: selNone},
				{read: reqResolveExample, write: []byte{5, 0, 0, 3, 0, 0, 0}},
			},
			errno: syscall.EPROTO,
			text:  `the RESOLVE reply carries the name "", not an address`,
		},
		{
			name: "RESOLVE_PTR answered with an address",
			ptr:  true,
			steps: []step{
				{read: greetNone, write: selNone},
				{read: reqPTR10001, write: cat([]byte{5, 0, 0, 4}, v6[:], []byte{0, 0})},
			},
			errno: syscall.EPROTO,
			text:  "socks5: protocol error: the RESOLVE_PTR reply carries the address 2001:db8::1, not a name",
		},
		{
			name: "RESOLVE_PTR answered with an empty name",
			ptr:  true,
			steps: []step{
				{read: greetNone, write: selNone},
				{read: reqPTR10001, write: []byte{5, 0, 0, 3, 0, 0, 0}},
			},
			errno: syscall.EPROTO,
			text:  "the RESOLVE_PTR reply carries an empty name",
		},
		{
			name: "unknown address type",
			steps: []step{
				{read: greetNone, write: selNone},
				{read: reqResolveExample, write: []byte{5, 0, 0, 9, 0, 0, 0}},
			},
			errno: syscall.EPROTO,
			text:  "unknown address type 0x09 in the RESOLVE reply",
		},
		{
			name: "reply version 4",
			ptr:  true,
			steps: []step{
				{read: greetNone, write: selNone},
				{read: reqPTR10001, write: []byte{4, 0, 0, 1, 0, 0, 0, 0, 0, 0}},
			},
			errno: syscall.EPROTO,
			text:  "version 0x04 in the RESOLVE_PTR reply, want 0x05",
		},
		{
			name: "reply cut in the address",
			steps: []step{
				{read: greetNone, write: selNone},
				{read: reqResolveExample, write: []byte{5, 0, 0, 1, 93, 184}},
			},
			errno: syscall.ECONNRESET,
			text:  "socks5: proxy closed the connection during the handshake (reading the RESOLVE reply)",
		},
		{
			name: "reply cut in a domain name",
			ptr:  true,
			steps: []step{
				{read: greetNone, write: selNone},
				{read: reqPTR10001, write: []byte{5, 0, 0, 3, 12, 'h', 'o'}},
			},
			errno: syscall.ECONNRESET,
			text:  "(reading the RESOLVE_PTR reply)",
		},
		{
			name: "reply cut before the code",
			steps: []step{
				{read: greetNone, write: selNone},
				{read: reqResolveExample, write: []byte{5}},
			},
			errno: syscall.ECONNRESET,
		},
		{
			name:  "no reply at all",
			ptr:   true,
			steps: []step{{read: greetNone, write: selNone}, {read: reqPTR10001}},
			errno: syscall.ECONNRESET,
		},
		{
			name:  "password required, none configured",
			steps: []step{{read: greetNone, write: []byte{5, 0xff}}},
			errno: syscall.ECONNREFUSED,
			text:  "socks5: proxy requires username/password authentication",
		},
		{
			name: "credentials rejected",
			ptr:  true,
			auth: alice,
			steps: []step{
				{read: greetAuth, write: selUP},
				{read: upAlice, write: []byte{1, 1}},
			},
			errno: syscall.ECONNREFUSED,
			text:  "socks5: username/password rejected by proxy (status 0x01)",
		},
		{
			name:  "HTTP proxy",
			steps: []step{{read: greetNone, write: []byte("HTTP/1.1 400 Bad Request\r\n\r\n")}},
			errno: syscall.EPROTO,
			text:  "is it an HTTP proxy?",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, wait := startPeer(t, tt.steps...)
			got, err := runResolve(context.Background(), tt.ptr, conn, tt.auth)
			if perr := wait(); perr != nil {
				t.Error(perr)
			}
			if err == nil {
				t.Fatalf("success (%q), want an error", got)
			}
			if !errors.Is(err, tt.errno) {
				t.Errorf("err = %v, want one that matches %v", err, tt.errno)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("err = %q, want it to contain %q", err, tt.text)
			}
		})
	}
}

func TestResolve5InvalidArguments(t *testing.T) {
	tests := []struct {
		name string
		run  func(c net.Conn) error
		text string
	}{
		{"empty name", func(c net.Conn) error { _, err := Resolve5(context.Background(), c, "", nil); return err }, "empty name to resolve"},
		{"name of 256 bytes", func(c net.Conn) error {
			_, err := Resolve5(context.Background(), c, strings.Repeat("a", 256), nil)
			return err
		}, "domain name is 256 bytes long"},
		{"username of 256 bytes", func(c net.Conn) error {
			_, err := Resolve5(context.Background(), c, "example.com", &Auth{Username: strings.Repeat("u", 256)})
			return err
		}, "username is 256 bytes long"},
		{"no address", func(c net.Conn) error { _, err := ResolvePTR5(context.Background(), c, netip.Addr{}, nil); return err }, "no address to resolve"},
		{"password of 256 bytes", func(c net.Conn) error {
			_, err := ResolvePTR5(context.Background(), c, ip10001, &Auth{Password: strings.Repeat("p", 256)})
			return err
		}, "password is 256 bytes long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newBufConn(nil)
			err := tt.run(c)
			if !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("err = %v, want EINVAL with %q", err, tt.text)
			}
			if c.out.Len() != 0 {
				t.Errorf("sent % x before failing", c.out.Bytes())
			}
		})
	}
}

func TestResolve5Context(t *testing.T) {
	t.Run("deadline", func(t *testing.T) {
		hold := make(chan struct{})
		defer close(hold)
		conn, wait := startPeer(t,
			step{read: greetNone, write: selNone},
			step{read: reqResolveExample, hold: hold},
		)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := Resolve5(ctx, conn, "example.com", nil)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out") {
			t.Errorf("err = %v, want a timeout that wraps context.DeadlineExceeded", err)
		}
		_ = wait()
	})
	t.Run("cancelled", func(t *testing.T) {
		hold := make(chan struct{})
		defer close(hold)
		conn, wait := startPeer(t,
			step{read: greetNone, write: selNone},
			step{read: reqPTR10001, hold: hold},
		)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := ResolvePTR5(ctx, conn, ip10001, nil)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want one that wraps context.Canceled", err)
		}
		_ = wait()
	})
}

func TestServerHandshake5Resolve(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::1")
	v6b := v6.As16()
	cases := []serverCase{
		{
			name: "RESOLVE a name",
			in:   cat(greetNone, reqResolveExample),
			out:  selNone,
			want: &Request{Version: Version5, Command: CmdResolve, Dst: Addr{Name: "example.com"}},
		},
		{
			name: "RESOLVE an address is the caller's to answer",
			in:   cat(greetNone, []byte{5, 0xf0, 0, 1, 1, 2, 3, 4, 0, 0}),
			out:  selNone,
			want: &Request{Version: Version5, Command: CmdResolve, Dst: Addr{IP: netip.MustParseAddr("1.2.3.4")}},
		},
		{
			name: "RESOLVE_PTR IPv4 after username/password",
			cfg:  &ServerConfig{Credentials: checkAlice, RequireAuth: true},
			in:   cat(greetAuth, upAlice, reqPTR10001),
			out:  cat(selUP, upOK),
			want: &Request{Version: Version5, Command: CmdResolvePTR, Dst: Addr{IP: ip10001}, Username: "alice"},
		},
		{
			name: "RESOLVE_PTR IPv6",
			in:   cat(greetNone, []byte{5, 0xf1, 0, 4}, v6b[:], []byte{0, 0}),
			out:  selNone,
			want: &Request{Version: Version5, Command: CmdResolvePTR, Dst: Addr{IP: v6}},
		},
		{
			name:    "RESOLVE an empty name",
			in:      cat(greetNone, []byte{5, 0xf0, 0, 3, 0, 0, 0}),
			out:     cat(selNone, []byte{5, 1, 0, 1, 0, 0, 0, 0, 0, 0}),
			wantErr: syscall.EPROTO,
			text:    "empty domain name",
		},
		{
			name:    "command 0xf2 is unknown",
			in:      cat(greetNone, []byte{5, 0xf2, 0, 1, 1, 2, 3, 4, 0, 0}),
			out:     cat(selNone, []byte{5, 7, 0, 1, 0, 0, 0, 0, 0, 0}),
			wantErr: syscall.EPROTO,
			text:    "unknown command 0xf2",
		},
	}
	runServerCases(t, ServerHandshake5, cases)
	// The server for every version takes RESOLVE from a SOCKS5 client and
	// refuses it from a SOCKS4 one (Tor's SOCKS4a RESOLVE is not served).
	runServerCases(t, ServerHandshake, []serverCase{
		{
			name: "any version: RESOLVE",
			in:   cat(greetNone, reqResolveExample),
			out:  selNone,
			want: &Request{Version: Version5, Command: CmdResolve, Dst: Addr{Name: "example.com"}},
		},
		{
			name:    "any version: SOCKS4a RESOLVE",
			in:      cat([]byte{4, 0xf0, 0, 0, 0, 0, 0, 1, 0}, []byte("example.com\x00")),
			out:     []byte{0, 0x5b, 0, 0, 0, 0, 0, 0},
			wantErr: syscall.EPROTO,
		},
	})
}

// TestResolve5RoundTrip runs the clients against the server side.
func TestResolve5RoundTrip(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::1")
	cfgs := []struct {
		cfg  *ServerConfig
		auth *Auth
		user string
	}{
		{nil, nil, ""},
		{&ServerConfig{Credentials: checkAlice, RequireAuth: true}, alice, "alice"},
	}
	tests := []struct {
		ptr     bool
		reply   Reply
		bound   Addr
		wantDst Addr
		want    string
	}{
		{false, StatusSucceeded, Addr{IP: v4Example}, Addr{Name: "example.com"}, "93.184.215.14"},
		{false, StatusSucceeded, Addr{IP: v6}, Addr{Name: "example.com"}, "2001:db8::1"},
		{false, StatusHostUnreachable, Addr{}, Addr{Name: "example.com"}, ""},
		{false, StatusOnionBadAddress, Addr{}, Addr{Name: "example.com"}, ""},
		{true, StatusSucceeded, Addr{Name: "host.example"}, Addr{IP: ip10001}, "host.example"},
		{true, StatusHostUnreachable, Addr{}, Addr{IP: ip10001}, ""},
	}
	for _, c := range cfgs {
		for _, tt := range tests {
			client, server := pipeWithDeadline()
			srvErr := make(chan error, 1)
			go func() {
				defer server.Close()
				req, err := ServerHandshake5(server, c.cfg)
				if err != nil {
					srvErr <- err
					return
				}
				wantCmd := CmdResolve
				if tt.ptr {
					wantCmd = CmdResolvePTR
				}
				if req.Command != wantCmd || req.Dst != tt.wantDst || req.Username != c.user {
					srvErr <- fmt.Errorf("server got %+v", *req)
					return
				}
				err = WriteReply5(server, tt.reply, tt.bound)
				if tt.reply != StatusSucceeded {
					err = nil // the client stops reading at the failure code
				}
				srvErr <- err
			}()
			got, err := runResolve(context.Background(), tt.ptr, client, c.auth)
			client.Close()
			if serr := <-srvErr; serr != nil {
				t.Errorf("ptr=%v %v: server: %v", tt.ptr, tt.reply, serr)
			}
			switch {
			case tt.reply == StatusSucceeded && (err != nil || got != tt.want):
				t.Errorf("ptr=%v: got %q, %v; want %q", tt.ptr, got, err, tt.want)
			case tt.reply != StatusSucceeded && !errors.Is(err, tt.reply.Errno()):
				t.Errorf("ptr=%v %v: err = %v, want one that matches %v", tt.ptr, tt.reply, err, tt.reply.Errno())
			}
		}
	}
}
