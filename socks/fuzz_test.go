package socks

import (
	"bytes"
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
	f.Add(cat(greetNone, []byte{5, 0xf0, 0, 3}, lenStr("example.com"), []byte{0, 0}), uint8(0))
	f.Add(cat(greetNone, []byte{5, 0xf1, 0, 1, 1, 2, 3, 4, 0, 0}), uint8(0))
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
		if !req.Command.server5() {
			t.Fatalf("request with command %v", req.Command)
		}
		if consumed := len(in) - c.unread(); consumed != requestLen(in, req, c.out.Bytes()) {
			t.Fatalf("read %d bytes, want %d (request %+v)", consumed, requestLen(in, req, c.out.Bytes()), req)
		}
	})
}

// requestLen is how many bytes of in make up the client's messages that
// led to req, given what the server sent back (out).
func requestLen(in []byte, req *Request, out []byte) int {
	if req.Version == Version4 {
		// VN CD DSTPORT DSTIP USERID NUL [NAME NUL]
		n := 8 + len(req.Username) + 1
		if req.Dst.Name != "" {
			n += len(req.Dst.Name) + 1
		}
		return n
	}
	// Greeting, maybe username/password, and the request.
	want := 2 + int(in[1])
	if out[1] == byte(AuthUsernamePassword) {
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
	return want
}

// FuzzConnect4 feeds arbitrary proxy answers to the SOCKS4 client. It must
// never panic or hang, every error must match an errno, and on success it
// must have read exactly the 8-byte reply.
func FuzzConnect4(f *testing.F) {
	f.Add(reply4OK, false)
	f.Add(cat(reply4Bound, []byte("HELLO")), true)
	f.Add(reply4Reject, false)
	f.Add([]byte{0, 0x5c, 0, 0, 0, 0, 0, 0}, true)
	f.Add([]byte{0, 0x5d}, false)
	f.Add([]byte{0, 0x5a, 0, 0}, false)
	f.Add([]byte{4, 0x5a, 0, 0, 0, 0, 0, 0}, false)
	f.Add([]byte{5, 0xff}, true)
	f.Add([]byte("HTTP/1.0 400 Bad Request\r\n"), false)
	f.Add([]byte{}, false)

	errnos := []syscall.Errno{syscall.EPROTO, syscall.ECONNRESET, syscall.ECONNREFUSED, syscall.EACCES}
	f.Fuzz(func(t *testing.T, answers []byte, domain bool) {
		dst, req := dst1234, req4IP
		if domain {
			dst, req = dstExample, req4a
		}
		c := newBufConn(answers)
		err := Connect4(context.Background(), c, dst, "")
		if !bytes.Equal(c.out.Bytes(), req) {
			t.Fatalf("sent % x, want % x", c.out.Bytes(), req)
		}
		consumed := len(answers) - c.unread()
		if err != nil {
			if !strings.HasPrefix(err.Error(), "socks4: ") {
				t.Errorf("error without prefix: %q", err)
			}
			if consumed > 8 {
				t.Errorf("read %d bytes of the answer", consumed)
			}
			for _, errno := range errnos {
				if errors.Is(err, errno) {
					return
				}
			}
			t.Fatalf("error %v matches no errno", err)
		}
		if consumed != 8 || answers[0] != 0 || Reply4(answers[1]) != Status4Granted {
			t.Fatalf("success after reading % x", answers[:consumed])
		}
	})
}

// FuzzServerHandshake feeds arbitrary client messages to the server that
// takes every version. It must never panic, never read past the request,
// never read more than a bounded SOCKS4 request, and return only requests
// it can answer.
func FuzzServerHandshake(f *testing.F) {
	f.Add(req4IP, uint8(0))
	f.Add(cat([]byte{4, 1, 0, 80, 1, 2, 3, 4}, z("alice"), []byte("EXTRA")), uint8(1))
	f.Add(cat(req4a, []byte("EXTRA")), uint8(0))
	f.Add(req4a, uint8(2))
	f.Add([]byte{4, 2, 0, 80, 0, 0, 0, 9, 0, 0}, uint8(0))
	f.Add([]byte{4, 1, 0, 80, 1, 2}, uint8(0))
	f.Add(cat(greetNone, req1234), uint8(0))
	f.Add(cat(greetAuth, upAlice, req1234, []byte("EXTRA")), uint8(2))
	f.Add(cat(greetNone, []byte{5, 0xf0, 0, 3}, lenStr("example.com"), []byte{0, 0}), uint8(0))
	f.Add([]byte{4, 0xf0, 0, 0, 0, 0, 0, 1, 0, 'a', 0}, uint8(0))
	f.Add([]byte("GET / HTTP/1.1\r\n"), uint8(0))
	f.Add([]byte{}, uint8(0))
	f.Fuzz(func(t *testing.T, in []byte, kind uint8) {
		var cfg *ServerConfig
		switch kind % 3 {
		case 1:
			cfg = &ServerConfig{Credentials: checkAlice}
		case 2:
			cfg = &ServerConfig{Credentials: checkAlice, RequireAuth: true}
		}
		c := newBufConn(in)
		req, err := ServerHandshake(c, cfg)
		consumed := len(in) - c.unread()
		if len(in) > 0 && in[0] == Version4 && consumed > 8+MaxNameLen+1+MaxNameLen+1 {
			t.Fatalf("read %d bytes of a SOCKS4 request", consumed)
		}
		if err != nil {
			if req != nil {
				t.Fatalf("request %v with error %v", req, err)
			}
			if !strings.HasPrefix(err.Error(), "socks") {
				t.Errorf("error without prefix: %q", err)
			}
			return
		}
		switch {
		case req.Version != in[0]:
			t.Fatalf("request version %d from a message that starts with %d", req.Version, in[0])
		case req.Dst.Name == "" && !req.Dst.IP.IsValid():
			t.Fatalf("request without a destination: %+v", req)
		case !req.Command.server5(),
			req.Version == Version4 && req.Command != CmdConnect && req.Command != CmdBind:
			t.Fatalf("request with command %v", req.Command)
		case req.Version == Version4 && (len(req.Username) > MaxNameLen || len(req.Dst.Name) > MaxNameLen):
			t.Fatalf("SOCKS4 request with overlong fields: %+v", req)
		case req.Version == Version4 && cfg.passwordRequired():
			t.Fatalf("SOCKS4 request accepted without a password: %+v", req)
		}
		if want := requestLen(in, req, c.out.Bytes()); consumed != want {
			t.Fatalf("read %d bytes, want %d (request %+v)", consumed, want, req)
		}
		sent := c.out.Len()
		if err := WriteReply(c, req, StatusSucceeded, bound10001); err != nil {
			t.Fatalf("WriteReply: %v", err)
		}
		if reply := c.out.Bytes()[sent:]; reply[0] != map[byte]byte{4: 0, 5: 5}[req.Version] {
			t.Fatalf("reply % x to a version %d request", reply, req.Version)
		}
	})
}

// FuzzResolve5 feeds arbitrary proxy answers to Tor's RESOLVE and
// RESOLVE_PTR clients. They must never panic or hang, every error must
// match an errno, and on success they must have read exactly the proxy's
// messages and return an address (RESOLVE) or a non-empty name
// (RESOLVE_PTR).
func FuzzResolve5(f *testing.F) {
	v6 := netip.MustParseAddr("2001:db8::1").As16()
	f.Add(cat(selNone, []byte{5, 0, 0, 1, 10, 0, 0, 1, 0, 0}), false, false)
	f.Add(cat(selUP, upOK, []byte{5, 0, 0, 4}, v6[:], []byte{0, 0}, []byte("EXTRA")), false, true)
	f.Add(cat(selNone, []byte{5, 0, 0, 3}, lenStr("host.example"), []byte{0, 0}), true, false)
	f.Add(cat(selNone, []byte{5, 0, 0, 3}, lenStr("host.example"), []byte{0, 0}), false, false)
	f.Add(cat(selNone, []byte{5, 0, 0, 3, 0, 0, 0}), true, false)
	f.Add(cat(selNone, []byte{5, 0xf6, 0, 1}), false, false)
	f.Add(cat(selNone, []byte{5, 4}), true, false)
	f.Add([]byte{5, 0xff}, false, true)

	errnos := []syscall.Errno{
		syscall.EPROTO, syscall.ECONNRESET, syscall.ECONNREFUSED, syscall.ENETUNREACH,
		syscall.EHOSTUNREACH, syscall.ETIMEDOUT, syscall.EOPNOTSUPP, syscall.EAFNOSUPPORT,
		syscall.EACCES, syscall.EINVAL,
	}
	f.Fuzz(func(t *testing.T, answers []byte, ptr, withAuth bool) {
		var auth *Auth
		if withAuth {
			auth = alice
		}
		c := newBufConn(answers)
		var err error
		var ip netip.Addr
		var name string
		if ptr {
			name, err = ResolvePTR5(context.Background(), c, netip.MustParseAddr("10.0.0.1"), auth)
		} else {
			ip, err = Resolve5(context.Background(), c, "host.example", auth)
		}
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
		want := 2
		if answers[1] == byte(AuthUsernamePassword) {
			want += 2
		}
		switch {
		case ptr && name == "":
			t.Fatal("RESOLVE_PTR succeeded with an empty name")
		case ptr:
			want += 4 + 1 + len(name) + 2
		case ip.Is4():
			want += 4 + 4 + 2
		case ip.Is6():
			want += 4 + 16 + 2
		default:
			t.Fatalf("RESOLVE succeeded with %v", ip)
		}
		if consumed := len(answers) - c.unread(); consumed != want {
			t.Fatalf("read %d bytes of the answers, want %d", consumed, want)
		}
	})
}
