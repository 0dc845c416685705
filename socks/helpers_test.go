package socks

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// testTimeout bounds every scripted exchange, so that a bug shows up as a
// failure instead of a hang.
const testTimeout = 5 * time.Second

// A step is one turn of a scripted peer: it reads exactly read from the
// client (failing on any difference), optionally checks that the client
// stays silent for quiet (it must wait for the answer), writes write, and
// then waits for hold to be closed, if set (or for the test to end).
type step struct {
	read  []byte
	quiet time.Duration
	write []byte
	hold  <-chan struct{}
}

// startPeer runs steps on the far end of a net.Pipe and closes it when they
// are done. It returns the near end, for the code under test, and a wait
// function that closes the near end and returns the peer's first error. A
// failed write is not an error: the client may rightly stop reading early.
func startPeer(t *testing.T, steps ...step) (net.Conn, func() error) {
	t.Helper()
	c, s := net.Pipe()
	deadline := time.Now().Add(testTimeout)
	_ = c.SetDeadline(deadline)
	_ = s.SetDeadline(deadline)
	done := make(chan error, 1)
	stop := make(chan struct{})
	var once sync.Once
	closeAll := func() {
		once.Do(func() {
			close(stop)
			c.Close()
		})
	}
	go func() {
		defer s.Close()
		done <- runSteps(s, deadline, stop, steps)
	}()
	t.Cleanup(func() {
		closeAll()
		s.Close()
	})
	return c, func() error {
		closeAll()
		return <-done
	}
}

func runSteps(s net.Conn, deadline time.Time, stop <-chan struct{}, steps []step) error {
	for i, st := range steps {
		if len(st.read) > 0 {
			got := make([]byte, len(st.read))
			if n, err := io.ReadFull(s, got); err != nil {
				return fmt.Errorf("peer step %d: read % x, want % x: %v", i, got[:n], st.read, err)
			}
			if !bytes.Equal(got, st.read) {
				return fmt.Errorf("peer step %d: client sent\n\t% x\nwant\n\t% x", i, got, st.read)
			}
		}
		if st.quiet > 0 {
			_ = s.SetReadDeadline(time.Now().Add(st.quiet))
			var b [64]byte
			n, err := s.Read(b[:])
			if n > 0 {
				return fmt.Errorf("peer step %d: client sent % x before it had the answer", i, b[:n])
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("peer step %d: waiting for silence: %v", i, err)
			}
			_ = s.SetReadDeadline(deadline)
		}
		if len(st.write) > 0 {
			if _, err := s.Write(st.write); err != nil {
				return nil
			}
		}
		if st.hold != nil {
			select {
			case <-st.hold:
			case <-stop:
				return nil
			}
		}
	}
	return nil
}

// bufConn is a net.Conn that reads from a fixed input and records what is
// written to it. Reads past the input return io.EOF.
type bufConn struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func newBufConn(in []byte) *bufConn { return &bufConn{in: bytes.NewReader(in)} }

func (c *bufConn) Read(b []byte) (int, error)       { return c.in.Read(b) }
func (c *bufConn) Write(b []byte) (int, error)      { return c.out.Write(b) }
func (c *bufConn) Close() error                     { return nil }
func (c *bufConn) LocalAddr() net.Addr              { return Addr{} }
func (c *bufConn) RemoteAddr() net.Addr             { return Addr{} }
func (c *bufConn) SetDeadline(time.Time) error      { return nil }
func (c *bufConn) SetReadDeadline(time.Time) error  { return nil }
func (c *bufConn) SetWriteDeadline(time.Time) error { return nil }
func (c *bufConn) unread() int                      { return c.in.Len() }

// cat concatenates byte slices.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// lenStr is s preceded by its length byte.
func lenStr(s string) []byte { return append([]byte{byte(len(s))}, s...) }

// serverCase is one table entry for a server handshake: the client's bytes,
// the server's answer, and the request or error that must come of it.
type serverCase struct {
	name    string
	cfg     *ServerConfig
	in      []byte // what the client sends
	out     []byte // what the server must answer
	want    *Request
	wantErr error // an error the result must match, when want is nil
	text    string
}

// runServerCases runs handshake over each case's bytes (followed by bytes
// the server must leave unread) and checks its answer and result.
func runServerCases(t *testing.T, handshake func(net.Conn, *ServerConfig) (*Request, error), tests []serverCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newBufConn(cat(tt.in, []byte("EXTRA")))
			got, err := handshake(c, tt.cfg)
			if c.out.String() != string(tt.out) {
				t.Errorf("server sent\n\t% x\nwant\n\t% x", c.out.Bytes(), tt.out)
			}
			if tt.want != nil {
				if err != nil {
					t.Fatalf("handshake: %v", err)
				}
				if *got != *tt.want {
					t.Errorf("request = %+v, want %+v", *got, *tt.want)
				}
				if c.unread() != len("EXTRA") {
					t.Errorf("%d bytes left unread, want %d", c.unread(), len("EXTRA"))
				}
				return
			}
			if got != nil || !errors.Is(err, tt.wantErr) {
				t.Fatalf("handshake = %v, %v; want an error matching %v", got, err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("err = %q, want it to contain %q", err, tt.text)
			}
		})
	}
}
