package socks

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"syscall"
	"testing"
)

// FuzzConnect5 feeds arbitrary proxy answers to the client. It must never
// panic or hang, every error must match an errno, and on success it must
// have read exactly the proxy's messages.
func FuzzConnect5(f *testing.F) {
	v6 := netip.MustParseAddr("2001:db8::1").As16()
	f.Add(cat(selNone, reply10001), false, false)
	f.Add(cat(selUP, upOK, reply10001), true, false)
	f.Add(cat(selUP, []byte{5, 0}, reply10001, []byte("HELLO")), true, true)
	f.Add(cat(selNone, []byte{5, 0, 0, 4}, v6[:], []byte{0, 1}), false, true)
	f.Add(cat(selNone, []byte{5, 0, 0, 3}, lenStr("proxy.example"), []byte{0, 1}), false, false)
	f.Add(cat(selNone, []byte{5, 0, 0, 3, 0, 0, 1}), false, false)
	f.Add(cat(selNone, []byte{5, 4, 0, 1}), false, false)
	f.Add([]byte{5, 0xff}, true, false)
	f.Add(cat(selUP, []byte{1, 1}), true, false)
	f.Add([]byte("HTTP/1.0 200 OK\r\n"), false, false)
	f.Add(cat(selNone, []byte{5, 0, 0, 9, 0, 0, 0}), false, false)
	f.Add([]byte{}, false, false)

	errnos := []syscall.Errno{
		syscall.EPROTO, syscall.ECONNRESET, syscall.ECONNREFUSED, syscall.ENETUNREACH,
		syscall.EHOSTUNREACH, syscall.ETIMEDOUT, syscall.EOPNOTSUPP, syscall.EAFNOSUPPORT,
	}
	f.Fuzz(func(t *testing.T, answers []byte, withAuth, domain bool) {
		var auth *Auth
		if withAuth {
			auth = alice
		}
		dst := dst1234
		if domain {
			dst = Addr{Name: "example.com", Port: 443}
		}
		c := newBufConn(answers)
		bound, err := Connect5(context.Background(), c, dst, auth)
		consumed := len(answers) - c.unread()
		if err != nil {
			if !strings.HasPrefix(err.Error(), "socks5: ") {
				t.Errorf("error without prefix: %q", err)
			}
			for _, errno := range errnos {
				if errors.Is(err, errno) {
					return
				}
			}
			t.Fatalf("error %v matches no errno", err)
		}
		// Success: method selection, maybe the username/password status,
		// and a reply whose length follows from the bound address.
		want := 2
		if answers[1] == byte(AuthUsernamePassword) {
			want += 2
		}
		switch {
		case bound.Name != "":
			want += 4 + 1 + len(bound.Name) + 2
		case bound.IP.Is4():
			want += 4 + 4 + 2
		case bound.IP.Is6():
			want += 4 + 16 + 2
		default: // empty domain name
			want += 4 + 1 + 2
		}
		if consumed != want {
			t.Fatalf("read %d bytes of the answers, want %d (bound %v)", consumed, want, bound)
		}
	})
}

// FuzzServerHandshake5 feeds arbitrary client messages to the server. It
// must never panic, and it must never read past the request.
func FuzzServerHandshake5(f *testing.F) {
	f.Add(cat(greetNone, req1234), uint8(0))
	f.Add(cat(greetAuth, upAlice, req1234, []byte("EXTRA")), uint8(1))
	f.Add(cat(greetAuth, upAlice, []byte{5, 1, 0, 3}, lenStr("example.com"), []byte{0, 80}), uint8(2))
	f.Add(cat(greetNone, []byte{5, 1, 0, 3, 0, 0, 80}), uint8(0))
	f.Add([]byte{5, 0}, uint8(2))
	f.Add([]byte{4, 1, 0, 80, 1, 2, 3, 4, 0}, uint8(0))
	f.Fuzz(func(t *testing.T, in []byte, kind uint8) {
		var cfg *ServerConfig
		switch kind % 3 {
		case 1:
			cfg = &ServerConfig{Credentials: checkAlice}
		case 2:
			cfg = &ServerConfig{Credentials: checkAlice, RequireAuth: true}
		}
		c := newBufConn(in)
		req, err := ServerHandshake5(c, cfg)
		if err != nil {
			if req != nil {
				t.Fatalf("request %v with error %v", req, err)
			}
			if !strings.HasPrefix(err.Error(), "socks5: ") {
				t.Errorf("error without prefix: %q", err)
			}
			return
		}
		if req.Dst.Name == "" && !req.Dst.IP.IsValid() {
			t.Fatalf("request without a destination: %+v", req)
		}
		if req.Command < CmdConnect || req.Command > CmdUDPAssociate {
			t.Fatalf("request with command %v", req.Command)
		}
		// Greeting, maybe username/password, and the request.
		want := 2 + int(in[1])
		if c.out.Bytes()[1] == byte(AuthUsernamePassword) {
			ulen := len(req.Username)
			plen := int(in[want+2+ulen]) // VER ULEN UNAME PLEN
			want += 3 + ulen + plen
		}
		want += 4 + 2
		switch {
		case req.Dst.Name != "":
			want += 1 + len(req.Dst.Name)
		case req.Dst.IP.Is4():
			want += 4
		default:
			want += 16
		}
		if consumed := len(in) - c.unread(); consumed != want {
			t.Fatalf("read %d bytes, want %d (request %+v)", consumed, want, req)
		}
	})
}
