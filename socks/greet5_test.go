package socks

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestGreet5(t *testing.T) {
	alice := &Auth{Username: "alice", Password: "pw"}
	userPass := []byte{authVersion, 5, 'a', 'l', 'i', 'c', 'e', 2, 'p', 'w'}
	cases := []struct {
		name    string
		auth    *Auth
		steps   []step
		want    AuthMethod
		errno   syscall.Errno // 0: success
		errText string
	}{
		{"no auth", nil, []step{{read: []byte{5, 1, 0}, write: []byte{5, 0}}}, AuthNone, 0, ""},
		{"credentials not asked for", alice, []step{{read: []byte{5, 2, 0, 2}, write: []byte{5, 0}}}, AuthNone, 0, ""},
		{"credentials accepted", alice, []step{
			{read: []byte{5, 2, 0, 2}, quiet: 20 * time.Millisecond, write: []byte{5, 2}},
			{read: userPass, write: []byte{1, 0}},
		}, AuthUsernamePassword, 0, ""},
		{"credentials rejected", alice, []step{
			{read: []byte{5, 2, 0, 2}, write: []byte{5, 2}},
			{read: userPass, write: []byte{1, 1}},
		}, 0, syscall.ECONNREFUSED, "username/password rejected by proxy (status 0x01)"},
		{"no acceptable method", nil, []step{{read: []byte{5, 1, 0}, write: []byte{5, 0xff}}}, 0, syscall.ECONNREFUSED,
			"proxy requires username/password authentication"},
		{"not SOCKS5", nil, []step{{read: []byte{5, 1, 0}, write: []byte("HTTP/1.1 400 Bad Request\r\n")}}, 0, syscall.EPROTO,
			"the proxy answered in HTTP"},
		{"closed", nil, []step{{read: []byte{5, 1, 0}}}, 0, syscall.ECONNRESET, "closed the connection"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn, wait := startPeer(t, c.steps...)
			got, err := Greet5(context.Background(), conn, c.auth)
			if perr := wait(); perr != nil {
				t.Error(perr)
			}
			if c.errno == 0 {
				if err != nil || got != c.want {
					t.Fatalf("Greet5 = %v, %v; want %v", got, err, c.want)
				}
				return
			}
			if err == nil || !errors.Is(err, c.errno) || !strings.Contains(err.Error(), c.errText) {
				t.Fatalf("Greet5 = %v, %v; want an error matching %v and saying %q", got, err, c.errno, c.errText)
			}
		})
	}

	t.Run("credentials too long", func(t *testing.T) {
		conn, wait := startPeer(t)
		_, err := Greet5(context.Background(), conn, &Auth{Username: strings.Repeat("u", 256)})
		if !errors.Is(err, syscall.EINVAL) {
			t.Errorf("err = %v, want EINVAL", err)
		}
		if perr := wait(); perr != nil {
			t.Error(perr)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		hold := make(chan struct{})
		defer close(hold)
		conn, _ := startPeer(t, step{read: []byte{5, 1, 0}, hold: hold})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := Greet5(ctx, conn, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want a timeout", err)
		}
	})
}
