package chain

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/chainrun/chainrun/socks"
)

// httpRef2xx matches the start of a successful status line, by a rule
// written apart from the parser's.
var httpRef2xx = regexp.MustCompile(`^HTTP/1\.[0-9] 2[0-9][0-9]( |\r?\n)`)

// httpRefHeaderEnd returns the length of data's response header, up to and
// including the first blank line ("\n" or "\r\n") after the status line, if
// data has one within maxHTTPResponseHeader bytes.
func httpRefHeaderEnd(data []byte) (int, bool) {
	off := 0
	for first := true; ; first = false {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			return 0, false
		}
		line := data[off : off+i]
		off += i + 1
		if off > maxHTTPResponseHeader {
			return 0, false
		}
		if !first && (len(line) == 0 || string(line) == "\r") {
			return off, true
		}
	}
}

// httpRefPlainHeader matches a header line any proxy might send; a response
// of only such lines must be accepted.
var httpRefPlainHeader = regexp.MustCompile(`^[A-Za-z0-9-]+:[ -~]*\r?$`)

// FuzzHTTPConnectResponse feeds arbitrary bytes to httpConnect as the
// proxy's response. It must never panic or hang, must succeed only on an
// HTTP/1.x 2xx status line whose header ends within the bound, must then
// leave every byte after the header in conn, and must accept every such
// response made of plain header lines.
func FuzzHTTPConnectResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 200 OK\n\nSSH-2.0-x\r\n"))
	f.Add([]byte("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nA: b\r\n  c\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nX"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, p := net.Pipe()
		defer c.Close()
		deadline := time.Now().Add(2 * time.Second)
		_ = p.SetDeadline(deadline)
		go func() {
			defer p.Close()
			// The request ends at its first blank line.
			var req []byte
			var b [1]byte
			for !bytes.HasSuffix(req, []byte("\r\n\r\n")) {
				if _, err := p.Read(b[:]); err != nil {
					return
				}
				req = append(req, b[0])
			}
			_, _ = p.Write(data)
		}()
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		err := httpConnect(ctx, c, socks.Addr{Name: "target.example", Port: 443}, &socks.Auth{Username: "u", Password: "fuzz-secret"})

		end, ended := httpRefHeaderEnd(data)
		valid := httpRef2xx.Match(data) && ended && bytes.IndexByte(data[:end], 0) < 0
		if err != nil {
			var he *HTTPError
			switch {
			case errors.As(err, &he):
				if he.StatusCode/100 == 2 || len(data) < 13 || !bytes.HasPrefix(data, []byte("HTTP/1.")) {
					t.Fatalf("*HTTPError %v for %q", err, data)
				}
			case errors.Is(err, syscall.EPROTO), errors.Is(err, syscall.ECONNRESET):
			default:
				t.Fatalf("unexpected error %v for %q", err, data)
			}
			if bytes.Contains([]byte(err.Error()), []byte("fuzz-secret")) {
				t.Fatalf("error %q carries the password", err)
			}
			if valid {
				plain := true
				for _, l := range bytes.Split(data[:end], []byte("\n"))[1:] {
					if len(l) > 0 && string(l) != "\r" && !httpRefPlainHeader.Match(l) {
						plain = false
					}
				}
				if plain {
					t.Fatalf("rejected a valid response %q: %v", data, err)
				}
			}
			return
		}
		if !valid {
			t.Fatalf("success for %q", data)
		}
		// Every byte after the header is still in conn.
		_ = c.SetReadDeadline(deadline)
		rest, rerr := io.ReadAll(c)
		if rerr != nil || !bytes.Equal(rest, data[end:]) {
			t.Fatalf("after the header of %q: read %q, %v; want %q", data, rest, rerr, data[end:])
		}
	})
}
