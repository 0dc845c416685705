package socksserver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chainrun/chainrun/socks"
)

// fakeResolver answers from maps; a name or address it does not know is
// "no such host". block makes every lookup wait for its ctx.
type fakeResolver struct {
	ips   map[string][]netip.Addr
	names map[string][]string
	block bool
}

func (r *fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if r.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if network != "ip" {
		return nil, errors.New("network " + network)
	}
	if ips, ok := r.ips[host]; ok {
		return ips, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (r *fakeResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	if r.block {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if names, ok := r.names[addr]; ok {
		return names, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: addr, IsNotFound: true}
}

// resolveVia sends RESOLVE for name to the server at proxy.
func resolveVia(t *testing.T, proxy, name string, auth *socks.Auth) (netip.Addr, error) {
	t.Helper()
	c, err := net.Dial("tcp", proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	return socks.Resolve5(ctx, c, name, auth)
}

// resolvePTRVia sends RESOLVE_PTR for addr to the server at proxy.
func resolvePTRVia(t *testing.T, proxy string, addr netip.Addr) (string, error) {
	t.Helper()
	c, err := net.Dial("tcp", proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	return socks.ResolvePTR5(ctx, c, addr, nil)
}

// TestResolveLocalhost resolves "localhost" with the default resolver,
// which answers it from /etc/hosts (or as a loopback name): no query
// leaves the host.
func TestResolveLocalhost(t *testing.T) {
	logs := newLogSink()
	proxy, _ := startServer(t, &Server{Logf: logs.logf})
	got, err := resolveVia(t, proxy, "localhost", nil)
	if err != nil {
		t.Fatalf("Resolve5(localhost): %v", err)
	}
	if !got.IsLoopback() {
		t.Errorf("localhost resolved to %v, want a loopback address", got)
	}
	if got.Is6() && !got.Is4In6() {
		// The server prefers IPv4; localhost has 127.0.0.1 about everywhere.
		t.Logf("localhost resolved to %v (no IPv4 address?)", got)
	}
	line := logs.next(t)
	if want := "result=\"RESOLVE ok: " + got.String() + "\""; !strings.Contains(line, want) || !strings.Contains(line, "dst=localhost ") {
		t.Errorf("log line %q, want dst=localhost and %s", line, want)
	}
}

func TestResolve(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.7")
	v6 := netip.MustParseAddr("2001:db8::7")
	res := &fakeResolver{
		ips: map[string][]netip.Addr{
			"both.test":   {v6, netip.MustParseAddr("::ffff:192.0.2.7"), netip.MustParseAddr("192.0.2.8")},
			"v6only.test": {v6, netip.MustParseAddr("2001:db8::8")},
			"empty.test":  {},
		},
		names: map[string][]string{
			"192.0.2.7":   {"host.test.", "alias.test."},
			"2001:db8::7": {"v6.test"},
			"192.0.2.9":   {"", strings.Repeat("a", 256), "third.test."},
			"192.0.2.10":  {strings.Repeat("a", 256)},
		},
	}
	logs := newLogSink()
	proxy, _ := startServer(t, &Server{Resolver: res, Logf: logs.logf})

	t.Run("RESOLVE", func(t *testing.T) {
		tests := []struct {
			name string
			want netip.Addr
			log  string
		}{
			{"both.test", v4, `result="RESOLVE ok: 192.0.2.7"`},
			{"v6only.test", v6, `result="RESOLVE ok: 2001:db8::7"`},
			{"192.0.2.99", netip.MustParseAddr("192.0.2.99"), "dst=192.0.2.99 "},
			{"missing.test", netip.Addr{}, `result="RESOLVE: host unreachable (lookup missing.test: no such host)"`},
			{"empty.test", netip.Addr{}, `result="RESOLVE: host unreachable (lookup empty.test: no addresses)"`},
		}
		for _, tt := range tests {
			got, err := resolveVia(t, proxy, tt.name, nil)
			switch {
			case tt.want.IsValid() && (err != nil || got != tt.want):
				t.Errorf("%s: Resolve5 = %v, %v; want %v", tt.name, got, err, tt.want)
			case !tt.want.IsValid():
				var re *socks.ReplyError
				if !errors.As(err, &re) || re.Reply != socks.StatusHostUnreachable || !errors.Is(err, syscall.EHOSTUNREACH) {
					t.Errorf("%s: Resolve5 = %v, %v; want reply 0x04", tt.name, got, err)
				}
			}
			if line := logs.next(t); !strings.Contains(line, tt.log) || !strings.Contains(line, "proto=socks5") {
				t.Errorf("%s: log line %q, want %s", tt.name, line, tt.log)
			}
		}
	})

	t.Run("RESOLVE_PTR", func(t *testing.T) {
		tests := []struct {
			addr netip.Addr
			want string
			log  string
		}{
			{v4, "host.test", `user=- dst=192.0.2.7 result="RESOLVE_PTR ok: host.test"`},
			{netip.MustParseAddr("::ffff:192.0.2.7"), "host.test", `result="RESOLVE_PTR ok: host.test"`},
			{v6, "v6.test", `user=- dst=2001:db8::7 result="RESOLVE_PTR ok: v6.test"`},
			{netip.MustParseAddr("192.0.2.9"), "third.test", `result="RESOLVE_PTR ok: third.test"`},
			{netip.MustParseAddr("192.0.2.10"), "", `result="RESOLVE_PTR: host unreachable (lookup 192.0.2.10: no name that fits a SOCKS5 reply)"`},
			{netip.MustParseAddr("192.0.2.11"), "", `result="RESOLVE_PTR: host unreachable (lookup 192.0.2.11: no such host)"`},
		}
		for _, tt := range tests {
			got, err := resolvePTRVia(t, proxy, tt.addr)
			switch {
			case tt.want != "" && (err != nil || got != tt.want):
				t.Errorf("%v: ResolvePTR5 = %q, %v; want %q", tt.addr, got, err, tt.want)
			case tt.want == "" && !errors.Is(err, syscall.EHOSTUNREACH):
				t.Errorf("%v: ResolvePTR5 = %q, %v; want reply 0x04", tt.addr, got, err)
			}
			if line := logs.next(t); !strings.Contains(line, tt.log) {
				t.Errorf("%v: log line %q, want %s", tt.addr, line, tt.log)
			}
		}
	})

	t.Run("RESOLVE_PTR of a name", func(t *testing.T) {
		// Tor takes an address written as a name; anything else is
		// refused.
		for name, want := range map[string]string{"192.0.2.7": "host.test", "host.test": ""} {
			c, err := net.Dial("tcp", proxy)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(testTimeout))
			c.Write([]byte{5, 1, 0})
			sel := make([]byte, 2)
			io.ReadFull(c, sel)
			c.Write(append(append([]byte{5, 0xf1, 0, 3, byte(len(name))}, name...), 0, 0))
			reply, _ := io.ReadAll(c)
			c.Close()
			wantReply := []byte{5, 4, 0, 1, 0, 0, 0, 0, 0, 0}
			if want != "" {
				wantReply = append(append([]byte{5, 0, 0, 3, byte(len(want))}, want...), 0, 0)
			}
			if !bytes.Equal(reply, wantReply) {
				t.Errorf("RESOLVE_PTR %q: reply % x, want % x", name, reply, wantReply)
			}
			logs.next(t)
		}
	})
}

// TestResolveTimeout checks that a lookup that never ends is cut at the
// handshake timeout and answered host unreachable.
func TestResolveTimeout(t *testing.T) {
	logs := newLogSink()
	proxy, _ := startServer(t, &Server{Resolver: &fakeResolver{block: true}, HandshakeTimeout: 200 * time.Millisecond, Logf: logs.logf})
	for _, ptr := range []bool{false, true} {
		start := time.Now()
		var err error
		if ptr {
			_, err = resolvePTRVia(t, proxy, netip.MustParseAddr("192.0.2.1"))
		} else {
			_, err = resolveVia(t, proxy, "slow.test", nil)
		}
		if !errors.Is(err, syscall.EHOSTUNREACH) {
			t.Errorf("ptr=%v: err = %v, want reply 0x04", ptr, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("ptr=%v: answered after %v, want about 200ms", ptr, d)
		}
		if line := logs.next(t); !strings.Contains(line, "host unreachable (context deadline exceeded)") {
			t.Errorf("ptr=%v: log line %q", ptr, line)
		}
	}
}

// TestResolveAuth checks that RESOLVE goes through the same
// authentication as CONNECT.
func TestResolveAuth(t *testing.T) {
	res := &fakeResolver{ips: map[string][]netip.Addr{"host.test": {netip.MustParseAddr("192.0.2.7")}}}
	logs := newLogSink()
	proxy, _ := startServer(t, &Server{
		Resolver: res,
		Auth: &socks.ServerConfig{
			Credentials: func(user, pass string) bool { return user == "alice" && pass == "s3cret" },
			RequireAuth: true,
		},
		Logf: logs.logf,
	})
	if _, err := resolveVia(t, proxy, "host.test", nil); !errors.Is(err, socks.ErrAuth) {
		t.Errorf("without credentials: err = %v, want ErrAuth", err)
	}
	logs.next(t)
	got, err := resolveVia(t, proxy, "host.test", &socks.Auth{Username: "alice", Password: "s3cret"})
	if err != nil || got != netip.MustParseAddr("192.0.2.7") {
		t.Errorf("with credentials: %v, %v", got, err)
	}
	if line := logs.next(t); !strings.Contains(line, "user=alice") {
		t.Errorf("log line %q", line)
	}
}
