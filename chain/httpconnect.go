package chain

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"

	"github.com/chainrun/chainrun/internal/handshake"
	"github.com/chainrun/chainrun/socks"
)

// maxHTTPResponseHeader bounds the status line plus headers a proxy may send (16 KiB).
const maxHTTPResponseHeader = 16 << 10

// httpUserAgent is the User-Agent of every CONNECT request.
const httpUserAgent = "chainrun"

// maxHTTPReason bounds the reason phrase kept in an HTTPError.
const maxHTTPReason = 64

// HTTPError is a non-2xx answer from an HTTP proxy to CONNECT.
//
// errors.Is(err, errno) holds for the errno of Errno, and a 407 also matches
// socks.ErrAuth. So does a 401 after credentials were sent: tinyproxy before
// 1.11.2 (Debian 12's) answers wrong credentials with 401.
type HTTPError struct {
	StatusCode int
	// Status is the reason phrase, e.g. "Proxy Authentication Required":
	// printable ASCII only (other bytes become '?'), at most 64 bytes.
	Status string
	// AuthSent reports whether the request carried credentials; it picks
	// the wording of a 407.
	AuthSent bool
}

// Errno returns the error number a connect(2) through the proxy should fail
// with: EACCES for 403, ETIMEDOUT for 504 Gateway Timeout, ECONNREFUSED for
// every other 4xx and 5xx (407 included), EPROTO for 1xx, 3xx and codes
// outside 100–599, and 0 for 2xx.
func (e *HTTPError) Errno() syscall.Errno {
	switch c := e.StatusCode; {
	case c >= 200 && c <= 299:
		return 0
	case c == 403:
		return syscall.EACCES
	case c == 504:
		return syscall.ETIMEDOUT
	case c >= 400 && c <= 599:
		return syscall.ECONNREFUSED
	}
	return syscall.EPROTO
}

// Error describes the answer, e.g. "HTTP proxy answered 403 Forbidden" or
// "HTTP proxy rejected the credentials (407 Proxy Authentication Required)".
func (e *HTTPError) Error() string {
	status := strconv.Itoa(e.StatusCode)
	if e.Status != "" {
		status += " " + e.Status
	}
	switch c := e.StatusCode; {
	case e.authFailure() && e.AuthSent:
		return "HTTP proxy rejected the credentials (" + status + ")"
	case e.authFailure():
		return "HTTP proxy requires authentication, and no credentials are configured (" + status + ")"
	case c >= 400 && c <= 599:
		return "HTTP proxy answered " + status
	}
	return "HTTP proxy answered CONNECT with " + status + ", not a 2xx status"
}

// Unwrap returns the errno of Errno, and socks.ErrAuth first for a 407.
func (e *HTTPError) Unwrap() []error {
	errno := e.Errno()
	switch {
	case errno == 0:
		return nil
	case e.authFailure():
		return []error{socks.ErrAuth, errno}
	}
	return []error{errno}
}

// authFailure reports an answer about credentials: 407, or 401 to a
// request that carried them.
func (e *HTTPError) authFailure() bool {
	return e.StatusCode == 407 || e.StatusCode == 401 && e.AuthSent
}

// httpProtocolError is an answer that is not a well-formed HTTP/1.x
// response. errors.Is(err, syscall.EPROTO) holds.
type httpProtocolError struct{ msg string }

func (e *httpProtocolError) Error() string { return e.msg }

func (e *httpProtocolError) Unwrap() error { return syscall.EPROTO }

// httpClosedError is a proxy that closed the connection before the end of
// its response header. errors.Is(err, syscall.ECONNRESET) holds, and so
// does errors.Is with io.EOF (nothing read) or io.ErrUnexpectedEOF.
type httpClosedError struct {
	n   int // bytes of the response read before the end
	err error
}

func (e *httpClosedError) Error() string {
	return "HTTP proxy closed the connection during the handshake (after " + strconv.Itoa(e.n) + " bytes of its response)"
}

func (e *httpClosedError) Unwrap() []error { return []error{syscall.ECONNRESET, e.err} }

// httpIOError is a failed read or write on the connection to the proxy.
type httpIOError struct {
	what string // e.g. "sending the CONNECT request"
	err  error
}

func (e *httpIOError) Error() string { return "HTTP proxy: " + e.what + ": " + e.err.Error() }

func (e *httpIOError) Unwrap() error { return e.err }

// httpInvalidArgError is a request httpConnect refuses to send.
// errors.Is(err, syscall.EINVAL) holds.
type httpInvalidArgError struct{ msg string }

func (e *httpInvalidArgError) Error() string { return "HTTP CONNECT: " + e.msg }

func (e *httpInvalidArgError) Unwrap() error { return syscall.EINVAL }

// httpConnect asks the HTTP proxy at the other end of conn to open a tunnel
// to target. It sends, in one write,
//
//	CONNECT host:port HTTP/1.1
//	Host: host:port
//	User-Agent: chainrun
//	Proxy-Authorization: Basic base64(username:password)   (only if auth != nil)
//
// with CRLF line endings, IPv6 literals in brackets (zone dropped, an
// IPv4-mapped address as plain IPv4) and a name as is. It then reads the
// response one byte at a time, never past the blank line that ends its
// header, so that whatever the destination sends next (an SSH or SMTP
// banner) stays in conn for the program. Lines may end in CRLF or a bare LF.
//
// Any 2xx status is success; Content-Length and Transfer-Encoding in it are
// ignored, as RFC 9110 says for CONNECT. Any other status is an *HTTPError,
// returned as soon as the status line is read (see HTTPError.Errno for the
// errno). A response that is not HTTP/1.x, a malformed status or header
// line, a NUL byte, or a header longer than maxHTTPResponseHeader (of which
// at most that many bytes are read) matches syscall.EPROTO; a proxy that
// closes the connection before the end of the header matches
// syscall.ECONNRESET. A target name that an authority cannot carry (over
// 255 bytes, or with a byte outside RFC 3986's unreserved and
// sub-delims), a target with neither name nor IP, and a username containing
// ':' match syscall.EINVAL, before anything is sent. No error text contains
// the password, the Authorization header or a header line of the response.
//
// ctx is honoured as by socks.Connect5: its deadline is set on conn; a
// cancellation sets a deadline in the past so that blocked I/O returns, and
// the error wraps ctx.Err(); the deadline is cleared before returning if one
// was set. httpConnect never closes conn.
func httpConnect(ctx context.Context, conn net.Conn, target socks.Addr, auth *socks.Auth) error {
	req, err := httpConnectRequest(target, auth)
	if err != nil {
		return err
	}
	return handshake.Run(ctx, conn, "HTTP CONNECT", func() error {
		return httpHandshake(conn, req, auth != nil)
	})
}

// httpConnectRequest builds the CONNECT request for target.
func httpConnectRequest(target socks.Addr, auth *socks.Auth) ([]byte, error) {
	authority, err := httpAuthority(target)
	if err != nil {
		return nil, err
	}
	var cred string
	if auth != nil {
		if strings.IndexByte(auth.Username, ':') >= 0 {
			return nil, &httpInvalidArgError{msg: "the proxy username contains ':', which Basic authentication cannot carry"}
		}
		cred = base64.StdEncoding.EncodeToString([]byte(auth.Username + ":" + auth.Password))
	}
	b := make([]byte, 0, 96+2*len(authority)+len(cred))
	b = append(b, "CONNECT "...)
	b = append(b, authority...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, authority...)
	b = append(b, "\r\nUser-Agent: "+httpUserAgent+"\r\n"...)
	if auth != nil {
		b = append(b, "Proxy-Authorization: Basic "...)
		b = append(b, cred...)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...), nil
}

// httpAuthority returns target as the authority of a CONNECT request:
// "1.2.3.4:80", "[2001:db8::1]:80" or "example.com:443".
func httpAuthority(a socks.Addr) (string, error) {
	port := strconv.Itoa(int(a.Port))
	if a.Name == "" {
		if !a.IP.IsValid() {
			return "", &httpInvalidArgError{msg: "the target has neither a name nor an IP address"}
		}
		return netip.AddrPortFrom(a.IP.Unmap().WithZone(""), a.Port).String(), nil
	}
	if len(a.Name) > socks.MaxNameLen {
		return "", &httpInvalidArgError{msg: "the target name is " + strconv.Itoa(len(a.Name)) + " bytes long, the limit is 255"}
	}
	for i := 0; i < len(a.Name); i++ {
		if !httpHostByte(a.Name[i]) {
			return "", &httpInvalidArgError{msg: fmt.Sprintf("the target name contains %q, which a CONNECT authority cannot carry", a.Name[i:i+1])}
		}
	}
	return a.Name + ":" + port, nil
}

// httpHostByte reports whether c may appear in a host name of a CONNECT
// authority: RFC 3986 unreserved and sub-delims (no '%', ':', '@', '/',
// brackets, spaces, controls or non-ASCII bytes).
func httpHostByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,;=", c) >= 0
}

// httpHandshake sends req and reads the response header.
func httpHandshake(conn net.Conn, req []byte, authSent bool) error {
	if _, err := conn.Write(req); err != nil {
		return &httpIOError{what: "sending the CONNECT request", err: err}
	}
	return readHTTPConnectResponse(conn, authSent)
}

// httpVersionPrefix is what every status line we accept starts with; an
// HTTP/1.x minor version digit and a space follow.
const httpVersionPrefix = "HTTP/1."

// readHTTPConnectResponse reads the response to CONNECT one byte at a time,
// up to and including the blank line that ends its header, and not one byte
// more. It fails as soon as the bytes read so far cannot begin a valid
// status line, and returns an *HTTPError as soon as a non-2xx status line
// is complete.
func readHTTPConnectResponse(conn net.Conn, authSent bool) error {
	p := httpResponseParser{authSent: authSent}
	var b [1]byte
	idle := 0 // consecutive reads that returned nothing
	for {
		if p.n == maxHTTPResponseHeader {
			return &httpProtocolError{msg: "HTTP proxy sent a response header over " + strconv.Itoa(maxHTTPResponseHeader>>10) + " KiB"}
		}
		m, err := conn.Read(b[:])
		if m > 0 {
			idle = 0
			if done, perr := p.feed(b[0]); done || perr != nil {
				return perr
			}
		}
		switch {
		case err == io.EOF:
			if p.n == 0 {
				return &httpClosedError{n: p.n, err: io.EOF}
			}
			return &httpClosedError{n: p.n, err: io.ErrUnexpectedEOF}
		case err != nil:
			return &httpIOError{what: "reading the response to CONNECT", err: err}
		case m == 0:
			if idle++; idle >= 100 {
				return &httpIOError{what: "reading the response to CONNECT", err: io.ErrNoProgress}
			}
		}
	}
}

// httpResponseParser checks a response to CONNECT fed to it byte by byte.
type httpResponseParser struct {
	authSent bool
	n        int    // bytes fed
	line     []byte // the current line so far, without its '\n'
	lines    int    // complete lines fed
	header   bool   // a header field line has been fed
}

// feed takes the next byte of the response. It returns done once the blank
// line that ends a 2xx response's header is complete, or an error as soon
// as one is certain.
func (p *httpResponseParser) feed(c byte) (done bool, err error) {
	p.n++
	switch {
	case c == 0:
		return false, &httpProtocolError{msg: "HTTP proxy sent a NUL byte in its response header"}
	case c != '\n':
		p.line = append(p.line, c)
		if p.lines == 0 && !httpStatusPrefixOK(p.line) {
			if len(p.line) <= len(httpVersionPrefix)+1 {
				return false, &httpProtocolError{msg: fmt.Sprintf("HTTP proxy sent something other than an HTTP/1.x response (it starts %q)", p.line)}
			}
			return false, &httpProtocolError{msg: fmt.Sprintf("HTTP proxy sent a malformed status line %q", p.line)}
		}
		return false, nil
	}
	l := p.line
	if len(l) > 0 && l[len(l)-1] == '\r' {
		l = l[:len(l)-1]
	}
	switch {
	case p.lines == 0:
		code, reason, ok := parseHTTPStatusLine(l)
		if !ok {
			return false, &httpProtocolError{msg: fmt.Sprintf("HTTP proxy sent a malformed status line %q", httpSnippet(l, 32))}
		}
		if code/100 != 2 {
			return false, &HTTPError{StatusCode: code, Status: reason, AuthSent: p.authSent}
		}
	case len(l) == 0:
		return true, nil // the blank line that ends the header
	case l[0] == ' ' || l[0] == '\t':
		// obs-fold: continues the previous header field.
		if !p.header {
			return false, &httpProtocolError{msg: "HTTP proxy sent a continuation line right after its status line"}
		}
	default:
		if !httpHeaderLineOK(l) {
			return false, &httpProtocolError{msg: "HTTP proxy sent a malformed header line (line " + strconv.Itoa(p.lines+1) + " of its response)"}
		}
		p.header = true
	}
	p.lines++
	p.line = p.line[:0]
	return false, nil
}

// httpStatusPrefixOK reports whether line, a status line being read, can
// still begin "HTTP/1.x NNN": it checks the byte just appended.
func httpStatusPrefixOK(line []byte) bool {
	i := len(line) - 1
	c := line[i]
	switch {
	case i < len(httpVersionPrefix):
		return c == httpVersionPrefix[i]
	case i == len(httpVersionPrefix): // minor version
		return '0' <= c && c <= '9'
	case i == len(httpVersionPrefix)+1:
		return c == ' '
	case i <= len(httpVersionPrefix)+4: // status code
		return '0' <= c && c <= '9'
	}
	return true
}

// parseHTTPStatusLine parses "HTTP/1.x NNN reason" (l without its line
// ending) and returns the code, in 100–599, and the sanitized reason.
func parseHTTPStatusLine(l []byte) (code int, reason string, ok bool) {
	const codeAt = len(httpVersionPrefix) + 2 // "HTTP/1.x "
	if len(l) < codeAt+3 || string(l[:len(httpVersionPrefix)]) != httpVersionPrefix ||
		l[codeAt-2] < '0' || l[codeAt-2] > '9' || l[codeAt-1] != ' ' {
		return 0, "", false
	}
	for _, c := range l[codeAt : codeAt+3] {
		if c < '0' || c > '9' {
			return 0, "", false
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 || code > 599 {
		return 0, "", false
	}
	rest := l[codeAt+3:]
	if len(rest) == 0 {
		return code, "", true
	}
	if rest[0] != ' ' {
		return 0, "", false
	}
	return code, httpSnippet(rest[1:], maxHTTPReason), true
}

// httpHeaderLineOK reports whether l is "name: value" with a non-empty
// token for a name.
func httpHeaderLineOK(l []byte) bool {
	i := 0
	for i < len(l) && httpTokenByte(l[i]) {
		i++
	}
	return i > 0 && i < len(l) && l[i] == ':'
}

// httpTokenByte reports whether c is a tchar of RFC 9110.
func httpTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// httpSnippet returns at most limit bytes of b, trimmed of spaces, with
// every byte that is not printable ASCII replaced by '?'.
func httpSnippet(b []byte, limit int) string {
	if len(b) > limit {
		b = b[:limit]
	}
	s := []byte(strings.TrimSpace(string(b)))
	for i, c := range s {
		if c < ' ' || c > '~' {
			s[i] = '?'
		}
	}
	return string(s)
}
