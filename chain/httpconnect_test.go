package chain

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chainrun/chainrun/internal/handshake"
	"github.com/chainrun/chainrun/socks"
)

// httpTestTimeout bounds every scripted exchange, so that a bug shows up as
// a failure instead of a hang.
const httpTestTimeout = 5 * time.Second

// httpBanner is what a server-first destination sends right after the
// proxy's header; it must stay readable from conn.
const httpBanner = "SSH-2.0-banner\r\n"

// httpScript is what a fake HTTP proxy does on the far end of a net.Pipe.
type httpScript struct {
	noRead bool   // never read the request
	resp   []byte // written after the request is read
	hold   bool   // keep the pipe open after resp (until the test ends)
}

// httpRecConn wraps the near end of the pipe and records what the code
// under test does with it.
type httpRecConn struct {
	net.Conn
	mu        sync.Mutex
	read      int // bytes read
	writes    int // Write calls
	deadlines []time.Time
}

func (c *httpRecConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	c.read += n
	c.mu.Unlock()
	return n, err
}

func (c *httpRecConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	return c.Conn.Write(b)
}

func (c *httpRecConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadlines = append(c.deadlines, t)
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

func (c *httpRecConn) stats() (read, writes int, deadlines []time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.read, c.writes, append([]time.Time(nil), c.deadlines...)
}

// startHTTPPeer runs s on the far end of a net.Pipe. It returns the near
// end, for the code under test, and a function that closes the near end
// and returns the request the peer read.
func startHTTPPeer(t *testing.T, s httpScript) (*httpRecConn, func() string) {
	t.Helper()
	c, p := net.Pipe()
	deadline := time.Now().Add(httpTestTimeout)
	_ = p.SetDeadline(deadline)
	// The near end has no deadline of its own: httpConnect clears the
	// deadlines it sets, and the tests check that it does.
	done := make(chan string, 1)
	stop := make(chan struct{})
	go func() {
		defer p.Close()
		var req []byte
		if !s.noRead {
			// The request ends at the first blank line.
			var b [1]byte
			for !bytes.HasSuffix(req, []byte("\r\n\r\n")) && len(req) < 64<<10 {
				if _, err := p.Read(b[:]); err != nil {
					break
				}
				req = append(req, b[0])
			}
			if len(s.resp) > 0 {
				_, _ = p.Write(s.resp) // may fail: the client may rightly stop reading
			}
		}
		done <- string(req)
		if s.hold || s.noRead {
			// Bounded, so that a client that ignores its ctx fails
			// (with an EOF) instead of hanging.
			select {
			case <-stop:
			case <-time.After(httpTestTimeout):
			}
		}
	}()
	var once sync.Once
	finish := func() string {
		once.Do(func() {
			close(stop)
			c.Close()
		})
		select {
		case req := <-done:
			done <- req
			return req
		case <-time.After(httpTestTimeout):
			t.Fatal("fake HTTP proxy did not finish")
			return ""
		}
	}
	t.Cleanup(func() { finish() })
	return &httpRecConn{Conn: c}, finish
}

// httpCtx is a context that bounds a test's exchange.
func httpCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), httpTestTimeout)
	t.Cleanup(cancel)
	return ctx
}

func basic(user, pass string) string {
	return "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass)) + "\r\n"
}

// checkClearedDeadline fails unless the last deadline set on conn is the
// zero time (or none was set).
func checkClearedDeadline(t *testing.T, conn *httpRecConn) {
	t.Helper()
	if _, _, ds := conn.stats(); len(ds) > 0 && !ds[len(ds)-1].IsZero() {
		t.Errorf("deadline left on conn: %v", ds[len(ds)-1])
	}
}

func TestHTTPConnectRequest(t *testing.T) {
	const ok = "HTTP/1.1 200 Connection established\r\n\r\n"
	cases := []struct {
		name   string
		target socks.Addr
		auth   *socks.Auth
		want   string
	}{
		{"IPv4", socks.Addr{IP: netip.MustParseAddr("10.78.0.2"), Port: 8080}, nil,
			"CONNECT 10.78.0.2:8080 HTTP/1.1\r\nHost: 10.78.0.2:8080\r\nUser-Agent: chainrun\r\n\r\n"},
		{"IPv6 in brackets", socks.Addr{IP: netip.MustParseAddr("fd78::2"), Port: 443}, nil,
			"CONNECT [fd78::2]:443 HTTP/1.1\r\nHost: [fd78::2]:443\r\nUser-Agent: chainrun\r\n\r\n"},
		{"IPv6 zone dropped", socks.Addr{IP: netip.MustParseAddr("fe80::1%eth0"), Port: 22}, nil,
			"CONNECT [fe80::1]:22 HTTP/1.1\r\nHost: [fe80::1]:22\r\nUser-Agent: chainrun\r\n\r\n"},
		{"IPv4-mapped as IPv4", socks.Addr{IP: netip.MustParseAddr("::ffff:10.78.0.2"), Port: 80}, nil,
			"CONNECT 10.78.0.2:80 HTTP/1.1\r\nHost: 10.78.0.2:80\r\nUser-Agent: chainrun\r\n\r\n"},
		{"name", socks.Addr{Name: "target.example", Port: 443}, nil,
			"CONNECT target.example:443 HTTP/1.1\r\nHost: target.example:443\r\nUser-Agent: chainrun\r\n\r\n"},
		{"name wins over IP", socks.Addr{Name: "a-b_c.example.", IP: netip.MustParseAddr("1.2.3.4"), Port: 1}, nil,
			"CONNECT a-b_c.example.:1 HTTP/1.1\r\nHost: a-b_c.example.:1\r\nUser-Agent: chainrun\r\n\r\n"},
		{"IPv4 with Basic auth", socks.Addr{IP: netip.MustParseAddr("10.78.0.2"), Port: 8080}, &socks.Auth{Username: "alice", Password: "s3cret"},
			"CONNECT 10.78.0.2:8080 HTTP/1.1\r\nHost: 10.78.0.2:8080\r\nUser-Agent: chainrun\r\nProxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n\r\n"},
		{"IPv6 with Basic auth", socks.Addr{IP: netip.MustParseAddr("::1"), Port: 80}, &socks.Auth{Username: "u", Password: "p:w ü"},
			"CONNECT [::1]:80 HTTP/1.1\r\nHost: [::1]:80\r\nUser-Agent: chainrun\r\n" + basic("u", "p:w ü") + "\r\n"},
		{"name with Basic auth", socks.Addr{Name: "target.example", Port: 22}, &socks.Auth{Username: "bob", Password: ""},
			"CONNECT target.example:22 HTTP/1.1\r\nHost: target.example:22\r\nUser-Agent: chainrun\r\nProxy-Authorization: Basic Ym9iOg==\r\n\r\n"},
		{"empty credentials", socks.Addr{Name: "t", Port: 22}, &socks.Auth{},
			"CONNECT t:22 HTTP/1.1\r\nHost: t:22\r\nUser-Agent: chainrun\r\nProxy-Authorization: Basic Og==\r\n\r\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn, finish := startHTTPPeer(t, httpScript{resp: []byte(ok), hold: true})
			if err := httpConnect(httpCtx(t), conn, c.target, c.auth); err != nil {
				t.Fatalf("httpConnect: %v", err)
			}
			read, writes, _ := conn.stats()
			if got := finish(); got != c.want {
				t.Errorf("request\n%q\nwant\n%q", got, c.want)
			}
			if writes != 1 {
				t.Errorf("request sent in %d writes, want 1", writes)
			}
			if read != len(ok) {
				t.Errorf("read %d bytes, want %d", read, len(ok))
			}
			checkClearedDeadline(t, conn)
		})
	}
}

// TestHTTPConnectSuccess: every 2xx answer succeeds after reading exactly
// its header, and what follows stays in conn.
func TestHTTPConnectSuccess(t *testing.T) {
	atBound := "HTTP/1.1 200 OK\r\nX-Pad: "
	atBound += strings.Repeat("a", maxHTTPResponseHeader-len(atBound)-4) + "\r\n\r\n"
	cases := []struct{ name, resp string }{
		{"CRLF", "HTTP/1.1 200 Connection established\r\n\r\n"},
		{"bare LF", "HTTP/1.1 200 Connection established\n\n"},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\n\r\n"},
		{"HTTP/1.0 LF", "HTTP/1.0 200 OK\n\n"},
		{"mixed endings", "HTTP/1.1 200 OK\r\nVia: 1.1 squid\n\r\n"},
		{"LF then CRLF blank", "HTTP/1.1 200 OK\n\r\n"},
		{"no reason", "HTTP/1.1 200\r\n\r\n"},
		{"empty reason", "HTTP/1.1 200 \r\n\r\n"},
		{"other 2xx", "HTTP/1.1 204 No Content\r\n\r\n"},
		{"299", "HTTP/1.1 299 Whatever\r\n\r\n"},
		{"extra headers", "HTTP/1.1 200 Connection established\r\nProxy-Agent: tinyproxy/1.11\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nX-Empty:\r\n\r\n"},
		{"body headers ignored", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{"obs-fold", "HTTP/1.1 200 OK\r\nX-Long: a\r\n  b\r\n\tc\r\n\r\n"},
		{"header exactly at the bound", atBound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn, finish := startHTTPPeer(t, httpScript{resp: []byte(c.resp + httpBanner), hold: true})
			target := socks.Addr{Name: "target.example", Port: 22}
			if err := httpConnect(httpCtx(t), conn, target, nil); err != nil {
				t.Fatalf("httpConnect: %v", err)
			}
			if read, _, _ := conn.stats(); read != len(c.resp) {
				t.Errorf("read %d bytes, want exactly the header's %d", read, len(c.resp))
			}
			checkClearedDeadline(t, conn)
			_ = conn.SetReadDeadline(time.Now().Add(time.Second))
			got := make([]byte, len(httpBanner))
			if _, err := io.ReadFull(conn, got); err != nil || string(got) != httpBanner {
				t.Errorf("after the header: %q, %v; want %q", got, err, httpBanner)
			}
			finish()
		})
	}
}

// TestHTTPConnectBannerTCP: over real TCP, where the proxy sends its header
// and the destination's banner in one segment, the banner stays in the
// socket for the program.
func TestHTTPConnectBannerTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		s, err := ln.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		_ = s.SetDeadline(time.Now().Add(httpTestTimeout))
		var req []byte
		var b [1]byte
		for !bytes.HasSuffix(req, []byte("\r\n\r\n")) {
			if _, err := s.Read(b[:]); err != nil {
				return
			}
			req = append(req, b[0])
		}
		_, _ = s.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n" + httpBanner))
		_, _ = io.Copy(io.Discard, s)
	}()
	conn, err := net.DialTimeout("tcp", ln.Addr().String(), httpTestTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := httpConnect(httpCtx(t), conn, socks.Addr{IP: netip.MustParseAddr("10.78.0.2"), Port: 22}, nil); err != nil {
		t.Fatalf("httpConnect: %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(httpTestTimeout))
	got := make([]byte, len(httpBanner))
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != httpBanner {
		t.Errorf("banner: %q, %v; want %q", got, err, httpBanner)
	}
}

// TestHTTPConnectStatus: each non-2xx status gives its errno, as soon as
// the status line is read (the fake proxy sends nothing more and holds
// the connection open).
func TestHTTPConnectStatus(t *testing.T) {
	secret := &socks.Auth{Username: "alice", Password: "hunter2-s3cret"}
	cases := []struct {
		line    string
		auth    *socks.Auth
		errno   syscall.Errno
		errAuth bool
		text    string
	}{
		{"HTTP/1.1 100 Continue", nil, syscall.EPROTO, false, "100 Continue, not a 2xx"},
		{"HTTP/1.1 101 Switching Protocols", nil, syscall.EPROTO, false, "101"},
		{"HTTP/1.1 301 Moved Permanently", nil, syscall.EPROTO, false, "301 Moved Permanently"},
		{"HTTP/1.0 302 Found", nil, syscall.EPROTO, false, "302"},
		{"HTTP/1.1 400 Bad Request", nil, syscall.ECONNREFUSED, false, "HTTP proxy answered 400 Bad Request"},
		{"HTTP/1.1 401 Unauthorized", nil, syscall.ECONNREFUSED, false, "401"},
		{"HTTP/1.1 401 Unauthorized", secret, syscall.ECONNREFUSED, true, "rejected the credentials (401"},
		{"HTTP/1.1 403 Forbidden", nil, syscall.EACCES, false, "HTTP proxy answered 403 Forbidden"},
		{"HTTP/1.1 404 Not Found", nil, syscall.ECONNREFUSED, false, "404"},
		{"HTTP/1.1 405 Method Not Allowed", nil, syscall.ECONNREFUSED, false, "405"},
		{"HTTP/1.1 407 Proxy Authentication Required", nil, syscall.ECONNREFUSED, true, "requires authentication, and no credentials are configured"},
		{"HTTP/1.1 407 Proxy Authentication Required", secret, syscall.ECONNREFUSED, true, "rejected the credentials"},
		{"HTTP/1.1 418 I'm a teapot", secret, syscall.ECONNREFUSED, false, "418"},
		{"HTTP/1.1 500 Internal Server Error", nil, syscall.ECONNREFUSED, false, "500"},
		{"HTTP/1.1 502 Bad Gateway", secret, syscall.ECONNREFUSED, false, "502 Bad Gateway"},
		{"HTTP/1.1 503 Service Unavailable", nil, syscall.ECONNREFUSED, false, "503"},
		{"HTTP/1.1 504 Gateway Timeout", nil, syscall.ETIMEDOUT, false, "504 Gateway Timeout"},
		{"HTTP/1.0 599", nil, syscall.ECONNREFUSED, false, "answered 599"},
	}
	for _, c := range cases {
		for _, eol := range []string{"\r\n", "\n"} {
			t.Run(c.line+"/"+strings.ReplaceAll(strings.ReplaceAll(eol, "\r", "CR"), "\n", "LF"), func(t *testing.T) {
				conn, _ := startHTTPPeer(t, httpScript{resp: []byte(c.line + eol), hold: true})
				err := httpConnect(httpCtx(t), conn, socks.Addr{Name: "target.example", Port: 443}, c.auth)
				var he *HTTPError
				if !errors.As(err, &he) {
					t.Fatalf("err = %v (%T), want *HTTPError", err, err)
				}
				code, reason, _ := strings.Cut(c.line[len("HTTP/1.1 "):], " ")
				if got := he.StatusCode; strconv.Itoa(got) != code {
					t.Errorf("StatusCode %d, want %s", got, code)
				}
				if he.Status != reason {
					t.Errorf("Status %q, want %q", he.Status, reason)
				}
				if he.AuthSent != (c.auth != nil) {
					t.Errorf("AuthSent %v with auth %v", he.AuthSent, c.auth != nil)
				}
				if !errors.Is(err, c.errno) || he.Errno() != c.errno {
					t.Errorf("errors.Is(%v, %v) false (Errno %v)", err, c.errno, he.Errno())
				}
				if got := Errno(err); got != c.errno {
					t.Errorf("Errno(err) = %v, want %v", got, c.errno)
				}
				if errors.Is(err, socks.ErrAuth) != c.errAuth {
					t.Errorf("errors.Is(err, socks.ErrAuth) = %v, want %v", !c.errAuth, c.errAuth)
				}
				if !strings.Contains(err.Error(), c.text) {
					t.Errorf("error %q does not say %q", err, c.text)
				}
				checkNoSecret(t, err, c.auth)
				if read, _, _ := conn.stats(); read != len(c.line)+len(eol) {
					t.Errorf("read %d bytes, want the status line's %d", read, len(c.line)+len(eol))
				}
				checkClearedDeadline(t, conn)
			})
		}
	}
}

// checkNoSecret fails if err's text carries the password or the
// Authorization header.
func checkNoSecret(t *testing.T, err error, auth *socks.Auth) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	if strings.Contains(msg, "Authorization") {
		t.Errorf("error %q mentions the Authorization header", msg)
	}
	if auth != nil {
		token := base64.StdEncoding.EncodeToString([]byte(auth.Username + ":" + auth.Password))
		if (auth.Password != "" && strings.Contains(msg, auth.Password)) || strings.Contains(msg, token) {
			t.Errorf("error %q carries the credentials", msg)
		}
	}
}

func TestHTTPErrorReasonSanitized(t *testing.T) {
	long := strings.Repeat("x", 200)
	cases := []struct{ reason, want string }{
		{"Forb\x01id\x7fden\xff", "Forb?id?den?"},
		{"caf\xc3\xa9", "caf??"},
		{"tab\there", "tab?here"},
		{long, long[:maxHTTPReason]},
	}
	for _, c := range cases {
		conn, _ := startHTTPPeer(t, httpScript{resp: []byte("HTTP/1.1 403 " + c.reason + "\r\n"), hold: true})
		err := httpConnect(httpCtx(t), conn, socks.Addr{Name: "t", Port: 1}, nil)
		var he *HTTPError
		if !errors.As(err, &he) {
			t.Fatalf("err = %v, want *HTTPError", err)
		}
		if he.Status != c.want {
			t.Errorf("reason %q: Status %q, want %q", c.reason, he.Status, c.want)
		}
		if !errors.Is(err, syscall.EACCES) {
			t.Errorf("reason %q: %v is not EACCES", c.reason, err)
		}
	}
}

// TestHTTPConnectMalformed: answers that are not well-formed HTTP/1.x
// match EPROTO; those marked early fail without waiting for more bytes
// (the fake proxy holds the connection open).
func TestHTTPConnectMalformed(t *testing.T) {
	cases := []struct {
		name, resp string
		text       string
	}{
		{"SSH banner", "SSH-2.0-OpenSSH_9.6\r\n", `other than an HTTP/1.x response (it starts "S")`},
		{"SOCKS5 reply", "\x05\xff", `it starts "\x05"`},
		{"HTTP/2", "HTTP/2 200\r\n\r\n", `it starts "HTTP/2"`},
		{"HTTP/2.0", "HTTP/2.0 200 OK\r\n\r\n", "other than an HTTP/1.x response"},
		{"HTTP/0.9", "HTTP/0.9 200 OK\r\n\r\n", "other than an HTTP/1.x response"},
		{"lower case", "http/1.1 200 OK\r\n\r\n", "other than an HTTP/1.x response"},
		{"leading blank line", "\r\nHTTP/1.1 200 OK\r\n\r\n", "other than an HTTP/1.x response"},
		{"empty LF line", "\nHTTP/1.1 200 OK\r\n\r\n", "malformed status line"},
		{"no minor version", "HTTP/1. 200 OK\r\n\r\n", "other than an HTTP/1.x response"},
		{"two spaces", "HTTP/1.1  200 OK\r\n\r\n", `malformed status line "HTTP/1.1  "`},
		{"letter in code", "HTTP/1.1 2x0 OK\r\n\r\n", `malformed status line "HTTP/1.1 2x"`},
		{"short code", "HTTP/1.1 20\r\n\r\n", `malformed status line "HTTP/1.1 20\r"`},
		{"version only", "HTTP/1.1\r\n\r\n", `malformed status line "HTTP/1.1\r"`},
		{"long code", "HTTP/1.1 2000 OK\r\n\r\n", `malformed status line "HTTP/1.1 2000 OK"`},
		{"code 099", "HTTP/1.1 099 Low\r\n\r\n", "malformed status line"},
		{"code 600", "HTTP/1.1 600 High\r\n\r\n", "malformed status line"},
		{"tab before reason", "HTTP/1.1 200\tOK\r\n\r\n", "malformed status line"},
		{"NUL in status line", "HTTP/1.1 200 O\x00K\r\n\r\n", "NUL byte"},
		{"NUL in header", "HTTP/1.1 200 OK\r\nX-A: \x00\r\n\r\n", "NUL byte"},
		{"NUL as blank line", "HTTP/1.1 200 OK\r\n\x00\r\n", "NUL byte"},
		{"header without colon", "HTTP/1.1 200 OK\r\nnot a header\r\n\r\n", "malformed header line (line 2 of its response)"},
		{"space before colon", "HTTP/1.1 200 OK\r\nX-A : b\r\n\r\n", "malformed header line"},
		{"empty name", "HTTP/1.1 200 OK\r\n: b\r\n\r\n", "malformed header line"},
		{"CR-only line", "HTTP/1.1 200 OK\r\n\r\r\n", "malformed header line"},
		{"fold after status line", "HTTP/1.1 200 OK\r\n folded\r\n\r\n", "continuation line"},
		{"response body as header", "HTTP/1.1 200 OK\r\nA: b\r\n<html>\r\n\r\n", "malformed header line (line 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn, _ := startHTTPPeer(t, httpScript{resp: []byte(c.resp), hold: true})
			auth := &socks.Auth{Username: "alice", Password: "hunter2-s3cret"}
			start := time.Now()
			err := httpConnect(httpCtx(t), conn, socks.Addr{Name: "target.example", Port: 443}, auth)
			if !errors.Is(err, syscall.EPROTO) {
				t.Fatalf("err = %v, want EPROTO", err)
			}
			if Errno(err) != syscall.EPROTO {
				t.Errorf("Errno(%v) = %v, want EPROTO", err, Errno(err))
			}
			var he *HTTPError
			if errors.As(err, &he) {
				t.Errorf("a malformed answer gave an *HTTPError: %v", err)
			}
			if !strings.Contains(err.Error(), c.text) {
				t.Errorf("error %q does not say %q", err, c.text)
			}
			if time.Since(start) > time.Second {
				t.Errorf("took %v: the error should come as soon as the bad byte is read", time.Since(start))
			}
			checkNoSecret(t, err, auth)
			checkClearedDeadline(t, conn)
		})
	}
}

// TestHTTPConnectHeaderBound: a header that does not end within the bound
// fails with EPROTO after reading at most the bound.
func TestHTTPConnectHeaderBound(t *testing.T) {
	overBy1 := "HTTP/1.1 200 OK\r\nX-Pad: "
	overBy1 += strings.Repeat("a", maxHTTPResponseHeader+1-len(overBy1)-4) + "\r\n\r\n"
	cases := []struct{ name, resp string }{
		{"20 KiB header line", "HTTP/1.1 200 OK\r\nX-Pad: " + strings.Repeat("a", 20<<10) + "\r\n\r\n"},
		{"20 KiB status line", "HTTP/1.1 200 " + strings.Repeat("a", 20<<10) + "\r\n\r\n"},
		{"many header lines", "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-A: b\r\n", 3000) + "\r\n"},
		{"one byte over", overBy1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn, _ := startHTTPPeer(t, httpScript{resp: []byte(c.resp), hold: true})
			err := httpConnect(httpCtx(t), conn, socks.Addr{Name: "t", Port: 1}, nil)
			if !errors.Is(err, syscall.EPROTO) || !strings.Contains(err.Error(), "over 16 KiB") {
				t.Fatalf("err = %v, want EPROTO about a header over 16 KiB", err)
			}
			if read, _, _ := conn.stats(); read > maxHTTPResponseHeader+1 {
				t.Errorf("read %d bytes, more than the bound %d + 1", read, maxHTTPResponseHeader)
			}
		})
	}
}

// TestHTTPConnectTruncated: a proxy that closes at any byte of a response
// gives ECONNRESET (or the status it managed to send), never a hang, a
// panic or success.
func TestHTTPConnectTruncated(t *testing.T) {
	responses := []string{
		"HTTP/1.1 200 Connection established\r\nProxy-Agent: x\r\n\r\n",
		"HTTP/1.0 200 OK\n\n",
		"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"p\"\r\n\r\n",
	}
	for _, resp := range responses {
		statusEnd := strings.IndexByte(resp, '\n') + 1
		for i := 0; i < len(resp); i++ {
			conn, _ := startHTTPPeer(t, httpScript{resp: []byte(resp[:i])})
			start := time.Now()
			err := httpConnect(httpCtx(t), conn, socks.Addr{Name: "t", Port: 1}, nil)
			if time.Since(start) > time.Second {
				t.Errorf("%q cut at %d: took %v", resp, i, time.Since(start))
			}
			var he *HTTPError
			switch {
			case err == nil:
				t.Errorf("%q cut at %d: success", resp, i)
			case i >= statusEnd && strings.Contains(resp, " 407 "):
				if !errors.As(err, &he) || he.StatusCode != 407 {
					t.Errorf("%q cut at %d: %v, want the 407", resp, i, err)
				}
			case !errors.Is(err, syscall.ECONNRESET) || Errno(err) != syscall.ECONNRESET:
				t.Errorf("%q cut at %d: %v, want ECONNRESET", resp, i, err)
			case i == 0 && !errors.Is(err, io.EOF), i > 0 && !errors.Is(err, io.ErrUnexpectedEOF):
				t.Errorf("%q cut at %d: %v does not match io.EOF / io.ErrUnexpectedEOF", resp, i, err)
			case !strings.Contains(err.Error(), "closed the connection during the handshake"):
				t.Errorf("%q cut at %d: error %q", resp, i, err)
			}
		}
	}
}

// TestHTTPConnectTimeout: a proxy that never answers (or never even reads
// the request) fails soon after ctx's deadline, with ETIMEDOUT, and the
// deadline is taken off conn.
func TestHTTPConnectTimeout(t *testing.T) {
	for _, s := range []httpScript{{hold: true}, {noRead: true}, {resp: []byte("HTTP/1.1 200 OK\r\n"), hold: true}} {
		conn, _ := startHTTPPeer(t, s)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		want, _ := ctx.Deadline()
		start := time.Now()
		err := httpConnect(ctx, conn, socks.Addr{Name: "t", Port: 1}, nil)
		cancel()
		if d := time.Since(start); d > time.Second {
			t.Errorf("%+v: returned after %v", s, d)
		}
		if !errors.Is(err, context.DeadlineExceeded) || Errno(err) != syscall.ETIMEDOUT {
			t.Errorf("%+v: err = %v (Errno %v), want context.DeadlineExceeded / ETIMEDOUT", s, err, Errno(err))
		} else if !strings.Contains(err.Error(), "timed out") {
			t.Errorf("%+v: error %q", s, err)
		}
		_, _, ds := conn.stats()
		if len(ds) == 0 || !ds[0].Equal(want) {
			t.Errorf("%+v: deadlines set %v, want ctx's %v first", s, ds, want)
		}
		checkClearedDeadline(t, conn)
	}
}

func TestHTTPConnectCancel(t *testing.T) {
	t.Run("during the handshake", func(t *testing.T) {
		conn, _ := startHTTPPeer(t, httpScript{hold: true})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		err := httpConnect(ctx, conn, socks.Addr{Name: "t", Port: 1}, nil)
		if d := time.Since(start); d > time.Second {
			t.Errorf("returned after %v", d)
		}
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "cancelled") {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		checkClearedDeadline(t, conn)
	})
	t.Run("before the handshake", func(t *testing.T) {
		conn, _ := startHTTPPeer(t, httpScript{noRead: true})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := httpConnect(ctx, conn, socks.Addr{Name: "t", Port: 1}, nil)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if _, writes, ds := conn.stats(); writes != 0 || len(ds) != 0 {
			t.Errorf("%d writes and deadlines %v on a cancelled ctx", writes, ds)
		}
	})
	t.Run("no deadline, no cancel", func(t *testing.T) {
		// A ctx that can never end leaves conn's deadlines alone.
		conn, _ := startHTTPPeer(t, httpScript{resp: []byte("HTTP/1.1 200 OK\r\n\r\n"), hold: true})
		if err := httpConnect(context.Background(), conn, socks.Addr{Name: "t", Port: 1}, nil); err != nil {
			t.Fatal(err)
		}
		if _, _, ds := conn.stats(); len(ds) != 0 {
			t.Errorf("deadlines set: %v", ds)
		}
	})
	t.Run("caller's own deadline", func(t *testing.T) {
		// A deadline the caller set on conn is a plain I/O timeout.
		conn, _ := startHTTPPeer(t, httpScript{hold: true})
		_ = conn.Conn.SetDeadline(time.Now().Add(100 * time.Millisecond))
		err := httpConnect(context.Background(), conn, socks.Addr{Name: "t", Port: 1}, nil)
		if !handshake.IsTimeout(err) || Errno(err) != syscall.ETIMEDOUT {
			t.Errorf("err = %v (Errno %v), want a timeout", err, Errno(err))
		}
	})
}

// TestHTTPConnectInvalid: requests that cannot be sent fail with EINVAL
// before a byte is written.
func TestHTTPConnectInvalid(t *testing.T) {
	name := socks.Addr{Name: "target.example", Port: 443}
	cases := []struct {
		name   string
		target socks.Addr
		auth   *socks.Auth
		text   string
	}{
		{"colon in username", name, &socks.Auth{Username: "a:b", Password: "hunter2-s3cret"}, "username contains ':'"},
		{"no name, no IP", socks.Addr{Port: 80}, nil, "neither a name nor an IP"},
		{"name too long", socks.Addr{Name: strings.Repeat("a", 256), Port: 80}, nil, "256 bytes long"},
		{"CRLF in name", socks.Addr{Name: "a\r\nX-Evil: 1", Port: 80}, nil, `contains "\r"`},
		{"space in name", socks.Addr{Name: "a b", Port: 80}, nil, `contains " "`},
		{"colon in name", socks.Addr{Name: "::1", Port: 80}, nil, `contains ":"`},
		{"slash in name", socks.Addr{Name: "a/b", Port: 80}, nil, `contains "/"`},
		{"at in name", socks.Addr{Name: "user@host", Port: 80}, nil, `contains "@"`},
		{"non-ASCII name", socks.Addr{Name: "café", Port: 80}, nil, `contains "\xc3"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			conn, _ := startHTTPPeer(t, httpScript{noRead: true})
			err := httpConnect(httpCtx(t), conn, c.target, c.auth)
			if !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), c.text) {
				t.Errorf("err = %v, want EINVAL saying %q", err, c.text)
			}
			checkNoSecret(t, err, c.auth)
			if _, writes, _ := conn.stats(); writes != 0 {
				t.Errorf("%d writes", writes)
			}
		})
	}
}

// TestHTTPConnectWriteError: a proxy that is gone before the request
// gives the write's error.
func TestHTTPConnectWriteError(t *testing.T) {
	c, p := net.Pipe()
	p.Close()
	defer c.Close()
	err := httpConnect(httpCtx(t), c, socks.Addr{Name: "t", Port: 1}, &socks.Auth{Username: "u", Password: "hunter2-s3cret"})
	if !errors.Is(err, io.ErrClosedPipe) || !strings.Contains(err.Error(), "sending the CONNECT request") {
		t.Errorf("err = %v, want the write's io.ErrClosedPipe", err)
	}
	checkNoSecret(t, err, &socks.Auth{Username: "u", Password: "hunter2-s3cret"})
}
