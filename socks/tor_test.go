package socks

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/chainrun/chainrun/internal/testnet"
)

// torPrompt bounds an answer that tor gives without a circuit (a
// malformed address, a refused destination): it decides alone, at once.
const torPrompt = 2 * time.Second

// torLate bounds an answer that waits for a circuit: tor gives up after
// its SocksTimeout.
const torLate = testnet.TorSocksTimeout + 5*time.Second

// TestTorOffline speaks SOCKS5 to the real tor, running offline in a
// namespace that has only loopback and knowing only a made-up directory
// authority on 127.0.0.1 (testnet.StartTor): its SocksPort opens, nothing
// leaves. What tor answers, observed with tor 0.4.9.11:
//
//   - a malformed .onion address (a v2 one, 16 characters, included):
//     0xF6 at once (ExtendedErrors), which maps to EINVAL;
//   - a well-formed v3 .onion address: 0x06 TTL expired after SocksTimeout
//     ("waiting for rendezvous desc": no descriptor can be fetched), not
//     0xF0; ETIMEDOUT;
//   - a CONNECT to a private address: 0x01 at once ("Rejecting SOCKS
//     request for anonymous connection to private address");
//   - RESOLVE of a name: 0x04 after SocksTimeout (no circuit); RESOLVE of
//     a .onion: 0x04 at once ("Resolve requests to hidden services not
//     allowed");
//   - username/password: picked and accepted, whatever they are
//     (IsolateSOCKSAuth).
func TestTorOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("starts tor")
	}
	tor := testnet.StartTor(t)
	t.Logf("tor %s, pid %d, namespace %s", tor.Version, tor.Pid(), tor.NS)
	dial := func(t *testing.T) net.Conn {
		t.Helper()
		c, err := tor.DialSOCKS(time.Second)
		if err != nil {
			t.Fatalf("tor's SocksPort: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// replyWithin runs a request and checks that it ends with reply want
	// (matching errno) within bound.
	replyWithin := func(t *testing.T, bound time.Duration, want Reply, errno syscall.Errno, do func(ctx context.Context, c net.Conn) error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), bound+5*time.Second)
		defer cancel()
		start := time.Now()
		err := do(ctx, dial(t))
		took := time.Since(start)
		t.Logf("tor answered %v in %v", err, took.Round(time.Millisecond))
		var re *ReplyError
		if !errors.As(err, &re) {
			t.Fatalf("got %v, want a well-formed SOCKS5 failure reply", err)
		}
		if re.Reply != want || !errors.Is(err, errno) {
			t.Errorf("reply %#02x %q (%v), want %#02x %q (%v)", byte(re.Reply), re.Reply, re.Reply.Errno(), byte(want), want, errno)
		}
		if took > bound {
			t.Errorf("the answer took %v, want at most %v", took, bound)
		}
	}
	connect := func(name string) func(context.Context, net.Conn) error {
		return func(ctx context.Context, c net.Conn) error {
			_, err := Connect5(ctx, c, Addr{Name: name, Port: 80}, nil)
			return err
		}
	}

	t.Run("malformed onion address", func(t *testing.T) {
		t.Parallel()
		for _, name := range []string{"this-is-not-an-onion-address.onion", "abcdefghijklmnop.onion"} {
			replyWithin(t, torPrompt, StatusOnionBadAddress, syscall.EINVAL, func(ctx context.Context, c net.Conn) error {
				err := connect(name)(ctx, c)
				if want := "socks5: onion service invalid address (Tor extended error 0xf6)"; err == nil || err.Error() != want {
					t.Errorf("%s: err = %v, want %q", name, err, want)
				}
				return err
			})
		}
	})

	t.Run("v3 onion address, no descriptor", func(t *testing.T) {
		t.Parallel()
		replyWithin(t, torLate, StatusTTLExpired, syscall.ETIMEDOUT, connect(testnet.OnionV3Address("socks")))
	})

	t.Run("private address", func(t *testing.T) {
		t.Parallel()
		replyWithin(t, torPrompt, StatusGeneralFailure, syscall.ECONNREFUSED, func(ctx context.Context, c net.Conn) error {
			_, err := Connect5(ctx, c, Addr{IP: testnet.TargetIP, Port: 80}, nil)
			return err
		})
	})

	t.Run("RESOLVE", func(t *testing.T) {
		t.Parallel()
		replyWithin(t, torLate, StatusHostUnreachable, syscall.EHOSTUNREACH, func(ctx context.Context, c net.Conn) error {
			ip, err := Resolve5(ctx, c, "example.com", nil)
			if err == nil {
				t.Errorf("an offline tor resolved example.com to %v", ip)
			}
			return err
		})
	})

	t.Run("RESOLVE onion", func(t *testing.T) {
		t.Parallel()
		replyWithin(t, torPrompt, StatusHostUnreachable, syscall.EHOSTUNREACH, func(ctx context.Context, c net.Conn) error {
			_, err := Resolve5(ctx, c, testnet.OnionV3Address("socks"), nil)
			return err
		})
	})

	t.Run("isolation credentials accepted", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), torPrompt)
		defer cancel()
		m, err := Greet5(ctx, dial(t), &Auth{Username: "chainrun-test", Password: "x"})
		if err != nil || m != AuthUsernamePassword {
			t.Errorf("Greet5 with credentials: %v, %v; want username/password accepted", m, err)
		}
		m, err = Greet5(ctx, dial(t), nil)
		if err != nil || m != AuthNone {
			t.Errorf("Greet5 without credentials: %v, %v; want no authentication", m, err)
		}
	})
}
