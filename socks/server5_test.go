package socks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
)

func checkAlice(user, pass string) bool { return user == "alice" && pass == "s3cret" }

func TestServerHandshake5(t *testing.T) {
	credsCfg := &ServerConfig{Credentials: checkAlice}
	requireCfg := &ServerConfig{Credentials: checkAlice, RequireAuth: true}
	v6 := netip.MustParseAddr("2001:db8::1")
	v6b := v6.As16()
	failReply := func(code byte) []byte { return []byte{5, code, 0, 1, 0, 0, 0, 0, 0, 0} }
	tests := []serverCase{
		{
			name: "no auth, CONNECT IPv4",
			in:   cat(greetNone, req1234),
			out:  selNone,
			want: &Request{Version: Version5, Command: CmdConnect, Dst: dst1234},
		},
		{
			name: "CONNECT IPv6",
			in:   cat(greetNone, []byte{5, 1, 0, 4}, v6b[:], []byte{1, 0xbb}),
			out:  selNone,
			want: &Request{Version: Version5, Command: CmdConnect, Dst: Addr{IP: v6, Port: 443}},
		},
		{
			name: "CONNECT domain",
			in:   cat(greetNone, []byte{5, 1, 0, 3}, lenStr("example.com"), []byte{1, 0xbb}),
			out:  selNone,
			want: &Request{Version: Version5, Command: CmdConnect, Dst: Addr{Name: "example.com", Port: 443}},
		},
		{
			name: "reserved byte not zero is tolerated",
			in:   cat(greetNone, []byte{5, 1, 0x33, 1, 1, 2, 3, 4, 0, 80}),
			out:  selNone,
			want: &Request{Version: Version5, Command: CmdConnect, Dst: dst1234},
		},
		{
			name: "BIND is the caller's to refuse",
			in:   cat(greetNone, []byte{5, 2, 0, 1, 1, 2, 3, 4, 0, 80}),
			out:  selNone,
			want: &Request{Version: Version5, Command: CmdBind, Dst: dst1234},
		},
		{
			name: "UDP ASSOCIATE is the caller's to refuse",
			in:   cat(greetNone, []byte{5, 3, 0, 1, 0, 0, 0, 0, 0, 0}),
			out:  selNone,
			want: &Request{Version: Version5, Command: CmdUDPAssociate, Dst: Addr{IP: netip.IPv4Unspecified()}},
		},
		{
			name: "several methods offered, none picked",
			in:   cat([]byte{5, 3, 1, 0x80, 0}, req1234),
			out:  selNone,
			want: &Request{Version: Version5, Command: CmdConnect, Dst: dst1234},
		},
		{
			name: "credentials optional, client offers none",
			cfg:  credsCfg,
			in:   cat(greetNone, req1234),
			out:  selNone,
			want: &Request{Version: Version5, Command: CmdConnect, Dst: dst1234},
		},
		{
			name: "credentials optional, client offers both",
			cfg:  credsCfg,
			in:   cat(greetAuth, upAlice, req1234),
			out:  cat(selUP, upOK),
			want: &Request{Version: Version5, Command: CmdConnect, Dst: dst1234, Username: "alice"},
		},
		{
			name: "credentials required and given",
			cfg:  requireCfg,
			in:   cat(greetAuth, upAlice, req1234),
			out:  cat(selUP, upOK),
			want: &Request{Version: Version5, Command: CmdConnect, Dst: dst1234, Username: "alice"},
		},
		{
			name: "RequireAuth without Credentials accepts no auth",
			cfg:  &ServerConfig{RequireAuth: true},
			in:   cat(greetAuth, req1234),
			out:  selNone,
			want: &Request{Version: Version5, Command: CmdConnect, Dst: dst1234},
		},
		{
			name:    "credentials required, none given",
			cfg:     requireCfg,
			in:      greetNone,
			out:     []byte{5, 0xff},
			wantErr: ErrAuth,
			text:    "socks5: client offers no acceptable authentication method (offered: no authentication)",
		},
		{
			name:    "no credentials configured, client offers only username/password",
			in:      []byte{5, 1, 2},
			out:     []byte{5, 0xff},
			wantErr: ErrAuth,
		},
		{
			name:    "no methods offered",
			in:      []byte{5, 0},
			out:     []byte{5, 0xff},
			wantErr: ErrAuth,
			text:    "(offered: )",
		},
		{
			name:    "wrong password",
			cfg:     requireCfg,
			in:      cat(greetAuth, []byte{1}, lenStr("alice"), lenStr("guess")),
			out:     cat(selUP, []byte{1, 1}),
			wantErr: ErrAuth,
			text:    `socks5: wrong username or password for user "alice"`,
		},
		{
			name:    "greeting version 4",
			in:      []byte{4, 1, 0, 80, 1, 2, 3, 4, 0},
			wantErr: syscall.EPROTO,
			text:    "version 0x04 in the greeting, want 0x05",
		},
		{
			name:    "username/password version 5",
			cfg:     requireCfg,
			in:      cat(greetAuth, []byte{5, 5}),
			out:     cat(selUP, []byte{1, 1}),
			wantErr: syscall.EPROTO,
			text:    "version 0x05 in the username/password request, want 0x01",
		},
		{
			name:    "request version 4",
			in:      cat(greetNone, []byte{4, 1, 0, 1, 1, 2, 3, 4, 0, 80}),
			out:     cat(selNone, failReply(0x01)),
			wantErr: syscall.EPROTO,
		},
		{
			name:    "unknown command",
			in:      cat(greetNone, []byte{5, 9, 0, 1, 1, 2, 3, 4, 0, 80}),
			out:     cat(selNone, failReply(0x07)),
			wantErr: syscall.EPROTO,
			text:    "unknown command 0x09",
		},
		{
			name:    "command 0",
			in:      cat(greetNone, []byte{5, 0, 0, 1, 1, 2, 3, 4, 0, 80}),
			out:     cat(selNone, failReply(0x07)),
			wantErr: syscall.EPROTO,
		},
		{
			name:    "unknown address type",
			in:      cat(greetNone, []byte{5, 1, 0, 5, 1, 2, 3, 4, 0, 80}),
			out:     cat(selNone, failReply(0x08)),
			wantErr: syscall.EPROTO,
			text:    "unknown address type 0x05",
		},
		{
			name:    "empty domain",
			in:      cat(greetNone, []byte{5, 1, 0, 3, 0, 0, 80}),
			out:     cat(selNone, failReply(0x01)),
			wantErr: syscall.EPROTO,
			text:    "empty domain name",
		},
	}
	runServerCases(t, ServerHandshake5, tests)
}

// TestServerHandshake5Truncated cuts the client's messages short at every
// byte.
func TestServerHandshake5Truncated(t *testing.T) {
	in := cat(greetAuth, upAlice, []byte{5, 1, 0, 3}, lenStr("example.com"), []byte{0, 80})
	for cut := range len(in) {
		c := newBufConn(in[:cut])
		got, err := ServerHandshake5(c, &ServerConfig{Credentials: checkAlice})
		if got != nil || !errors.Is(err, syscall.ECONNRESET) ||
			!strings.Contains(fmt.Sprint(err), "client closed the connection during the handshake") {
			t.Errorf("cut at %d: ServerHandshake5 = %v, %v; want ECONNRESET", cut, got, err)
		}
	}
}

func TestWriteReply5(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::1")
	v6b := v6.As16()
	tests := []struct {
		r     Reply
		bound Addr
		want  []byte
	}{
		{StatusSucceeded, Addr{}, []byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0}},
		{StatusSucceeded, Addr{Port: 1080}, []byte{5, 0, 0, 1, 0, 0, 0, 0, 4, 0x38}},
		{StatusSucceeded, bound10001, reply10001},
		{StatusSucceeded, AddrFromAddrPort(netip.MustParseAddrPort("[::ffff:10.0.0.1]:8080")), reply10001},
		{StatusSucceeded, Addr{IP: netip.MustParseAddr("::ffff:10.0.0.1"), Port: 8080}, reply10001},
		{StatusSucceeded, Addr{IP: v6, Port: 53}, cat([]byte{5, 0, 0, 4}, v6b[:], []byte{0, 53})},
		{StatusSucceeded, Addr{Name: "proxy.example", Port: 1}, cat([]byte{5, 0, 0, 3}, lenStr("proxy.example"), []byte{0, 1})},
		{StatusHostUnreachable, Addr{}, []byte{5, 4, 0, 1, 0, 0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		c := newBufConn(nil)
		if err := WriteReply5(c, tt.r, tt.bound); err != nil {
			t.Errorf("WriteReply5(%v, %v): %v", tt.r, tt.bound, err)
			continue
		}
		if c.out.String() != string(tt.want) {
			t.Errorf("WriteReply5(%v, %v) sent % x, want % x", tt.r, tt.bound, c.out.Bytes(), tt.want)
		}
	}
	c := newBufConn(nil)
	err := WriteReply5(c, StatusSucceeded, Addr{Name: strings.Repeat("a", 256)})
	if !errors.Is(err, syscall.EINVAL) || c.out.Len() != 0 {
		t.Errorf("WriteReply5 with a 256-byte name: %v, sent % x", err, c.out.Bytes())
	}
}

func TestReplyForError(t *testing.T) {
	opErr := func(errno syscall.Errno) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errno)}
	}
	tests := []struct {
		err  error
		want Reply
	}{
		{nil, StatusSucceeded},
		{opErr(syscall.ECONNREFUSED), StatusConnectionRefused},
		{syscall.ECONNREFUSED, StatusConnectionRefused},
		{opErr(syscall.ENETUNREACH), StatusNetworkUnreachable},
		{opErr(syscall.ENETDOWN), StatusNetworkUnreachable},
		{opErr(syscall.EHOSTUNREACH), StatusHostUnreachable},
		{opErr(syscall.EHOSTDOWN), StatusHostUnreachable},
		{opErr(syscall.ETIMEDOUT), StatusTTLExpired},
		{&net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}, StatusTTLExpired},
		{context.DeadlineExceeded, StatusTTLExpired},
		{fmt.Errorf("dial: %w", os.ErrDeadlineExceeded), StatusTTLExpired},
		{&net.DNSError{Err: "no such host", Name: "nowhere.invalid", IsNotFound: true}, StatusHostUnreachable},
		{&net.DNSError{Err: "i/o timeout", Name: "slow.example", IsTimeout: true}, StatusTTLExpired},
		{opErr(syscall.EACCES), StatusNotAllowed},
		{opErr(syscall.EPERM), StatusNotAllowed},
		{opErr(syscall.EAFNOSUPPORT), StatusAddressTypeNotSupported},
		{opErr(syscall.EINVAL), StatusGeneralFailure},
		{context.Canceled, StatusGeneralFailure},
		{errors.New("something else"), StatusGeneralFailure},
	}
	for _, tt := range tests {
		if got := ReplyForError(tt.err); got != tt.want {
			t.Errorf("ReplyForError(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	// A server that maps a dial error to a reply and a client that maps the
	// reply back to an errno agree.
	for _, errno := range []syscall.Errno{syscall.ECONNREFUSED, syscall.ENETUNREACH, syscall.EHOSTUNREACH, syscall.ETIMEDOUT, syscall.EAFNOSUPPORT} {
		if got := ReplyForError(opErr(errno)).Errno(); got != errno {
			t.Errorf("ReplyForError(%v).Errno() = %v", errno, got)
		}
	}
}

// TestRoundTrip runs Connect5 against ServerHandshake5 and WriteReply5.
func TestRoundTrip(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::1")
	dsts := []Addr{
		dst1234,
		{IP: v6, Port: 443},
		{Name: "example.com", Port: 443},
	}
	bounds := []Addr{bound10001, {IP: v6, Port: 1}, {Name: "proxy.example", Port: 2}}
	type setup struct {
		name string
		cfg  *ServerConfig
		auth *Auth
		user string
	}
	setups := []setup{
		{"no auth", nil, nil, ""},
		{"optional auth, none given", &ServerConfig{Credentials: checkAlice}, nil, ""},
		{"required auth", &ServerConfig{Credentials: checkAlice, RequireAuth: true}, alice, "alice"},
	}
	for _, s := range setups {
		for i, dst := range dsts {
			bound := bounds[i]
			for _, reply := range []Reply{StatusSucceeded, ReplyForError(syscall.EHOSTUNREACH)} {
				client, server := pipeWithDeadline()
				srvErr := make(chan error, 1)
				go func() {
					defer server.Close()
					req, err := ServerHandshake5(server, s.cfg)
					if err != nil {
						srvErr <- err
						return
					}
					if req.Command != CmdConnect || req.Dst != dst || req.Username != s.user {
						srvErr <- fmt.Errorf("server got %+v", *req)
						return
					}
					err = WriteReply5(server, reply, bound)
					if reply != StatusSucceeded {
						// The client stops reading at the failure code.
						err = nil
					}
					srvErr <- err
				}()
				got, err := Connect5(context.Background(), client, dst, s.auth)
				client.Close()
				if serr := <-srvErr; serr != nil {
					t.Errorf("%s, %v: server: %v", s.name, dst, serr)
				}
				switch {
				case reply == StatusSucceeded && (err != nil || got != bound):
					t.Errorf("%s, %v: Connect5 = %v, %v; want %v", s.name, dst, got, err, bound)
				case reply != StatusSucceeded && !errors.Is(err, syscall.EHOSTUNREACH):
					t.Errorf("%s, %v: Connect5 err = %v, want EHOSTUNREACH", s.name, dst, err)
				}
			}
		}
	}
}

func TestRoundTripAuthRejected(t *testing.T) {
	for _, auth := range []*Auth{nil, {Username: "alice", Password: "guess"}} {
		client, server := pipeWithDeadline()
		srvErr := make(chan error, 1)
		go func() {
			defer server.Close()
			_, err := ServerHandshake5(server, &ServerConfig{Credentials: checkAlice, RequireAuth: true})
			srvErr <- err
		}()
		_, err := Connect5(context.Background(), client, dst1234, auth)
		client.Close()
		if serr := <-srvErr; !errors.Is(serr, ErrAuth) {
			t.Errorf("auth %v: server err = %v, want ErrAuth", auth, serr)
		}
		if !errors.Is(err, ErrAuth) || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("auth %v: client err = %v, want ErrAuth and ECONNREFUSED", auth, err)
		}
	}
}
