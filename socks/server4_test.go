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

// TestServerHandshake covers the entry point that serves every version: the
// SOCKS4 and SOCKS4a requests in detail, and that SOCKS5 goes through.
func TestServerHandshake(t *testing.T) {
	credsCfg := &ServerConfig{Credentials: checkAlice}
	requireCfg := &ServerConfig{Credentials: checkAlice, RequireAuth: true}
	long := strings.Repeat("a", 255)
	tests := []serverCase{
		{
			name: "SOCKS4 CONNECT",
			in:   req4IP,
			want: &Request{Version: Version4, Command: CmdConnect, Dst: dst1234},
		},
		{
			name: "SOCKS4 with a user ID",
			in:   cat([]byte{4, 1, 0, 80, 1, 2, 3, 4}, z("alice")),
			want: &Request{Version: Version4, Command: CmdConnect, Dst: dst1234, Username: "alice"},
		},
		{
			name: "SOCKS4 BIND is the caller's to refuse",
			in:   []byte{4, 2, 0, 80, 1, 2, 3, 4, 0},
			want: &Request{Version: Version4, Command: CmdBind, Dst: dst1234},
		},
		{
			name: "SOCKS4 to 0.0.0.0 is not SOCKS4a",
			in:   []byte{4, 1, 0, 80, 0, 0, 0, 0, 0},
			want: &Request{Version: Version4, Command: CmdConnect, Dst: Addr{IP: netip.IPv4Unspecified(), Port: 80}},
		},
		{
			name: "SOCKS4 to 0.0.1.1 is not SOCKS4a",
			in:   []byte{4, 1, 0, 80, 0, 0, 1, 1, 0},
			want: &Request{Version: Version4, Command: CmdConnect, Dst: Addr{IP: netip.MustParseAddr("0.0.1.1"), Port: 80}},
		},
		{
			name: "SOCKS4 user ID of 255 bytes",
			in:   cat([]byte{4, 1, 0, 80, 1, 2, 3, 4}, z(long)),
			want: &Request{Version: Version4, Command: CmdConnect, Dst: dst1234, Username: long},
		},
		{
			name: "SOCKS4a",
			in:   req4a,
			want: &Request{Version: Version4, Command: CmdConnect, Dst: dstExample},
		},
		{
			name: "SOCKS4a with DSTIP 0.0.0.255 and a user ID",
			in:   cat([]byte{4, 1, 1, 0xbb, 0, 0, 0, 255}, z("bob"), z("localhost")),
			want: &Request{Version: Version4, Command: CmdConnect, Dst: Addr{Name: "localhost", Port: 443}, Username: "bob"},
		},
		{
			name: "SOCKS4a name of 255 bytes",
			in:   cat([]byte{4, 1, 0, 1, 0, 0, 0, 1, 0}, z(long)),
			want: &Request{Version: Version4, Command: CmdConnect, Dst: Addr{Name: long, Port: 1}},
		},
		{
			name: "SOCKS4 with optional credentials",
			cfg:  credsCfg,
			in:   req4IP,
			want: &Request{Version: Version4, Command: CmdConnect, Dst: dst1234},
		},
		{
			name: "SOCKS4 with RequireAuth but no Credentials",
			cfg:  &ServerConfig{RequireAuth: true},
			in:   req4a,
			want: &Request{Version: Version4, Command: CmdConnect, Dst: dstExample},
		},
		{
			name:    "SOCKS4 when a password is required",
			cfg:     requireCfg,
			in:      cat([]byte{4, 1, 0, 80, 1, 2, 3, 4}, z("alice")),
			out:     reply4Reject,
			wantErr: ErrAuth,
			text:    `socks4: refused a request for 1.2.3.4:80 (user ID "alice"): this server requires a password, which SOCKS4 cannot carry (use SOCKS5)`,
		},
		{
			name:    "SOCKS4a when a password is required",
			cfg:     requireCfg,
			in:      req4a,
			out:     reply4Reject,
			wantErr: ErrAuth,
			text:    "SOCKS4 cannot carry",
		},
		{
			name:    "SOCKS4 user ID of 256 bytes",
			in:      cat([]byte{4, 1, 0, 80, 1, 2, 3, 4}, z(long+"a")),
			out:     reply4Reject,
			wantErr: syscall.EPROTO,
			text:    "socks4: protocol error: user ID in the request is longer than 255 bytes",
		},
		{
			name:    "SOCKS4a name of 256 bytes",
			in:      cat([]byte{4, 1, 0, 1, 0, 0, 0, 1, 0}, z(long+"a")),
			out:     reply4Reject,
			wantErr: syscall.EPROTO,
			text:    "socks4: protocol error: domain name in the request is longer than 255 bytes",
		},
		{
			name:    "SOCKS4a empty name",
			in:      []byte{4, 1, 0, 1, 0, 0, 0, 1, 0, 0},
			out:     reply4Reject,
			wantErr: syscall.EPROTO,
			text:    "empty domain name in a SOCKS4a request",
		},
		{
			name:    "SOCKS4 unknown command",
			in:      []byte{4, 3, 0, 80, 1, 2, 3, 4, 0},
			out:     reply4Reject,
			wantErr: syscall.EPROTO,
			text:    "socks4: protocol error: UDP ASSOCIATE in the request",
		},
		{
			name:    "SOCKS4 command 0",
			in:      []byte{4, 0, 0, 80, 1, 2, 3, 4, 0},
			out:     reply4Reject,
			wantErr: syscall.EPROTO,
			text:    "unknown command 0x00",
		},
		{
			name: "SOCKS5",
			in:   cat(greetNone, req1234),
			out:  selNone,
			want: &Request{Version: Version5, Command: CmdConnect, Dst: dst1234},
		},
		{
			name: "SOCKS5 with username/password",
			cfg:  requireCfg,
			in:   cat(greetAuth, upAlice, []byte{5, 1, 0, 3}, lenStr("example.com"), []byte{1, 0xbb}),
			out:  cat(selUP, upOK),
			want: &Request{Version: Version5, Command: CmdConnect, Dst: dstExample, Username: "alice"},
		},
		{
			name:    "SOCKS5 without a password when one is required",
			cfg:     requireCfg,
			in:      greetNone,
			out:     []byte{5, 0xff},
			wantErr: ErrAuth,
		},
		{
			name:    "SOCKS5 bad request",
			in:      cat(greetNone, []byte{5, 9, 0, 1, 1, 2, 3, 4, 0, 80}),
			out:     cat(selNone, []byte{5, 7, 0, 1, 0, 0, 0, 0, 0, 0}),
			wantErr: syscall.EPROTO,
			text:    "socks5: protocol error: unknown command 0x09",
		},
		{
			name:    "version 0",
			in:      reply4OK,
			wantErr: syscall.EPROTO,
			text:    "socks: protocol error: version 0x00 in the greeting, want 0x04 or 0x05",
		},
		{
			name:    "HTTP",
			in:      []byte("CONNECT example.com:443 HTTP/1.1\r\n\r\n"),
			wantErr: syscall.EPROTO,
			text:    "version 0x43 in the greeting, want 0x04 or 0x05 (is the client speaking HTTP to a SOCKS server?)",
		},
	}
	runServerCases(t, ServerHandshake, tests)
}

// TestServerHandshakeNeverReadsUnbounded feeds a user ID and a name that
// never end: the server stops after 255 bytes and the NUL that is not there.
func TestServerHandshakeNeverReadsUnbounded(t *testing.T) {
	endless := []byte(strings.Repeat("x", 10000))
	for _, in := range [][]byte{
		cat([]byte{4, 1, 0, 80, 1, 2, 3, 4}, endless),
		cat([]byte{4, 1, 0, 80, 0, 0, 0, 1, 0}, endless),
	} {
		c := newBufConn(in)
		_, err := ServerHandshake(c, nil)
		if !errors.Is(err, syscall.EPROTO) {
			t.Errorf("err = %v, want EPROTO", err)
		}
		if read := len(in) - c.unread(); read > 8+256+256 {
			t.Errorf("read %d bytes of an endless request", read)
		}
	}
}

// TestServerHandshakeTruncated cuts every kind of request short at every
// byte: the server reports a closed connection and answers nothing but the
// SOCKS5 method selection and status it owed.
func TestServerHandshakeTruncated(t *testing.T) {
	for _, in := range [][]byte{
		cat([]byte{4, 1, 0, 80, 1, 2, 3, 4}, z("alice")),
		cat([]byte{4, 1, 1, 0xbb, 0, 0, 0, 1}, z("bob"), z("example.com")),
		cat(greetAuth, upAlice, []byte{5, 1, 0, 3}, lenStr("example.com"), []byte{0, 80}),
	} {
		for cut := range len(in) {
			c := newBufConn(in[:cut])
			got, err := ServerHandshake(c, &ServerConfig{Credentials: checkAlice})
			if got != nil || !errors.Is(err, syscall.ECONNRESET) ||
				!strings.Contains(fmt.Sprint(err), "client closed the connection during the handshake") {
				t.Errorf("% x cut at %d: ServerHandshake = %v, %v; want ECONNRESET", in, cut, got, err)
			}
			if in[0] == Version4 && c.out.Len() != 0 {
				t.Errorf("% x cut at %d: server sent % x", in, cut, c.out.Bytes())
			}
		}
	}
	_, err := ServerHandshake(newBufConn(nil), nil)
	if want := "socks: client closed the connection during the handshake (reading the version byte)"; err == nil || err.Error() != want {
		t.Errorf("nothing sent: err = %v, want %q", err, want)
	}
}

// TestServerHandshakeOverPipe runs the handshake against a scripted client
// on a real net.Conn: it answers, then the client's next bytes are still
// there for the relay.
func TestServerHandshakeOverPipe(t *testing.T) {
	for _, steps := range [][]step{
		{{write: req4IP}, {read: reply4Bound, write: []byte("DATA")}},
		{{write: req4a}, {read: reply4Bound, write: []byte("DATA")}},
		{{write: greetNone}, {read: selNone, write: req1234}, {read: reply10001, write: []byte("DATA")}},
	} {
		server, wait := startPeer(t, steps...)
		req, err := ServerHandshake(server, nil)
		if err != nil {
			t.Fatalf("% x: ServerHandshake: %v", steps[0].write, err)
		}
		if err := WriteReply(server, req, StatusSucceeded, bound10001); err != nil {
			t.Fatalf("% x: WriteReply: %v", steps[0].write, err)
		}
		buf := make([]byte, 4)
		if _, err := server.Read(buf); err != nil || string(buf) != "DATA" {
			t.Errorf("% x: after the handshake: %q, %v", steps[0].write, buf, err)
		}
		if err := wait(); err != nil {
			t.Error(err)
		}
	}
}

func TestWriteReply(t *testing.T) {
	v4 := &Request{Version: Version4}
	v5 := &Request{Version: Version5}
	tests := []struct {
		req   *Request
		r     Reply
		bound Addr
		want  []byte
	}{
		{v4, StatusSucceeded, Addr{}, reply4OK},
		{v4, StatusSucceeded, bound10001, reply4Bound},
		{v4, StatusSucceeded, Addr{IP: netip.MustParseAddr("::ffff:10.0.0.1"), Port: 8080}, reply4Bound},
		{v4, StatusSucceeded, Addr{IP: netip.MustParseAddr("2001:db8::1"), Port: 8080}, []byte{0, 0x5a, 0x1f, 0x90, 0, 0, 0, 0}},
		{v4, StatusSucceeded, Addr{Name: "proxy.example", Port: 8080}, []byte{0, 0x5a, 0x1f, 0x90, 0, 0, 0, 0}},
		{v4, StatusGeneralFailure, Addr{}, reply4Reject},
		{v4, StatusNotAllowed, Addr{}, reply4Reject},
		{v4, StatusConnectionRefused, Addr{}, reply4Reject},
		{v4, StatusHostUnreachable, Addr{}, reply4Reject},
		{v4, StatusCommandNotSupported, Addr{}, reply4Reject},
		{v4, Reply(0x99), Addr{}, reply4Reject},
		{v5, StatusSucceeded, bound10001, reply10001},
		{v5, StatusHostUnreachable, Addr{}, []byte{5, 4, 0, 1, 0, 0, 0, 0, 0, 0}},
		{&Request{}, StatusSucceeded, bound10001, reply10001},
	}
	for _, tt := range tests {
		c := newBufConn(nil)
		if err := WriteReply(c, tt.req, tt.r, tt.bound); err != nil {
			t.Errorf("WriteReply(v%d, %v, %v): %v", tt.req.Version, tt.r, tt.bound, err)
			continue
		}
		if c.out.String() != string(tt.want) {
			t.Errorf("WriteReply(v%d, %v, %v) sent % x, want % x", tt.req.Version, tt.r, tt.bound, c.out.Bytes(), tt.want)
		}
	}
	c := newBufConn(nil)
	if err := WriteReply(c, &Request{Version: 6}, StatusSucceeded, Addr{}); !errors.Is(err, syscall.EINVAL) || c.out.Len() != 0 {
		t.Errorf("WriteReply for version 6: %v, sent % x", err, c.out.Bytes())
	}
}

// TestRoundTripAllVersions runs Connect4 (SOCKS4 and SOCKS4a) and Connect5
// against one server configuration: ServerHandshake and WriteReply.
func TestRoundTripAllVersions(t *testing.T) {
	type client struct {
		name    string
		version byte
		dst     Addr
		user    string // the Username the server must see
		connect func(context.Context, net.Conn) error
	}
	via4 := func(dst Addr, user string) func(context.Context, net.Conn) error {
		return func(ctx context.Context, c net.Conn) error { return Connect4(ctx, c, dst, user) }
	}
	via5 := func(dst Addr, auth *Auth) func(context.Context, net.Conn) error {
		return func(ctx context.Context, c net.Conn) error {
			bound, err := Connect5(ctx, c, dst, auth)
			if err == nil && bound != bound10001 {
				err = fmt.Errorf("bound %v, want %v", bound, bound10001)
			}
			return err
		}
	}
	dstLocal := Addr{Name: "localhost", Port: 8080}
	clients := []client{
		{"socks4", Version4, dst1234, "", via4(dst1234, "")},
		{"socks4 with a user ID", Version4, dst1234, "carol", via4(dst1234, "carol")},
		{"socks4a", Version4, dstLocal, "", via4(dstLocal, "")},
		{"socks4a with a user ID", Version4, dstLocal, "carol", via4(dstLocal, "carol")},
		{"socks5", Version5, dst1234, "", via5(dst1234, nil)},
		{"socks5 domain", Version5, dstLocal, "", via5(dstLocal, nil)},
		{"socks5 IPv6", Version5, Addr{IP: netip.IPv6Loopback(), Port: 80}, "", via5(Addr{IP: netip.IPv6Loopback(), Port: 80}, nil)},
		{"socks5 with a password", Version5, dstLocal, "alice", via5(dstLocal, alice)},
	}
	cfg := &ServerConfig{Credentials: checkAlice}
	for _, cl := range clients {
		for _, reply := range []Reply{StatusSucceeded, StatusConnectionRefused} {
			c, s := pipeWithDeadline()
			srvErr := make(chan error, 1)
			go func() {
				defer s.Close()
				req, err := ServerHandshake(s, cfg)
				if err != nil {
					srvErr <- err
					return
				}
				if req.Version != cl.version || req.Command != CmdConnect || req.Dst != cl.dst || req.Username != cl.user {
					srvErr <- fmt.Errorf("server got %+v", *req)
					return
				}
				err = WriteReply(s, req, reply, bound10001)
				if reply != StatusSucceeded {
					err = nil // the client stops reading at the failure code
				}
				srvErr <- err
			}()
			err := cl.connect(context.Background(), c)
			c.Close()
			if serr := <-srvErr; serr != nil {
				t.Errorf("%s: server: %v", cl.name, serr)
			}
			switch {
			case reply == StatusSucceeded && err != nil:
				t.Errorf("%s: %v", cl.name, err)
			case reply != StatusSucceeded && !errors.Is(err, syscall.ECONNREFUSED):
				t.Errorf("%s: err = %v, want ECONNREFUSED", cl.name, err)
			}
		}
	}
}

// TestRoundTripSOCKS4PasswordRequired checks both ends of a SOCKS4 client
// meeting a server that wants a password.
func TestRoundTripSOCKS4PasswordRequired(t *testing.T) {
	c, s := pipeWithDeadline()
	srvErr := make(chan error, 1)
	go func() {
		defer s.Close()
		_, err := ServerHandshake(s, &ServerConfig{Credentials: checkAlice, RequireAuth: true})
		srvErr <- err
	}()
	err := Connect4(context.Background(), c, dstExample, "alice")
	c.Close()
	if serr := <-srvErr; !errors.Is(serr, ErrAuth) {
		t.Errorf("server err = %v, want ErrAuth", serr)
	}
	var re *Reply4Error
	if !errors.As(err, &re) || re.Reply != Status4Rejected || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("client err = %v, want Status4Rejected and ECONNREFUSED", err)
	}
}

// pipeWithDeadline is net.Pipe with testTimeout on both ends, so that a
// client and a server that disagree fail instead of hanging.
func pipeWithDeadline() (net.Conn, net.Conn) {
	c, s := net.Pipe()
	deadline := time.Now().Add(testTimeout)
	_ = c.SetDeadline(deadline)
	_ = s.SetDeadline(deadline)
	return c, s
}
