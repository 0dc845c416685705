package testnet

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"
)

// SOCKSRecord is what one client told a [RecordingSOCKS5].
type SOCKSRecord struct {
	// Methods are the authentication methods the greeting offered (0x00
	// none, 0x02 username/password).
	Methods []byte
	// UserPass says the client authenticated with username/password
	// (RFC 1929); User and Pass are what it sent.
	UserPass   bool
	User, Pass string
	// Command is the request's command (0x01 CONNECT), 0 when none came;
	// Target its destination, "host:port" or "ip:port".
	Command byte
	Target  string
	// Err is why the exchange ended early ("" when it went to the
	// request).
	Err  string
	Time time.Time
}

// String is a one-line summary for test logs.
func (r SOCKSRecord) String() string {
	auth := "no auth"
	if r.UserPass {
		auth = fmt.Sprintf("user %q pass %q", r.User, r.Pass)
	}
	s := fmt.Sprintf("methods % x, %s, command 0x%02x %s", r.Methods, auth, r.Command, r.Target)
	if r.Err != "" {
		s += " (" + r.Err + ")"
	}
	return s
}

// RecordingSOCKS5 is a SOCKS5 server that records what clients say and
// lets none through: it accepts any username and password (it picks
// username/password whenever the client offers it, else no
// authentication), records the credentials and the request, and refuses
// every request with 0x05 (connection refused). Tor shows nobody the
// credentials that isolate streams (IsolateSOCKSAuth): this server does.
// Made by [StartRecordingSOCKS5].
type RecordingSOCKS5 struct {
	// Addr is where it listens (with the port the system chose when 0 was
	// asked).
	Addr netip.AddrPort

	ln      net.Listener
	mu      sync.Mutex
	records []SOCKSRecord
	conns   map[net.Conn]struct{}
	closed  bool
	wg      sync.WaitGroup
}

// recordingTimeout bounds one client's exchange with a RecordingSOCKS5.
const recordingTimeout = 10 * time.Second

// StartRecordingSOCKS5 starts a [RecordingSOCKS5] listening on addr (an IP
// literal and a port, 0 for any) in namespace ns ("" for the test's own).
// It is closed at cleanup.
func StartRecordingSOCKS5(t testing.TB, ns, addr string) *RecordingSOCKS5 {
	t.Helper()
	s := &RecordingSOCKS5{conns: map[net.Conn]struct{}{}}
	listen := func() (err error) {
		s.ln, err = net.Listen("tcp", addr)
		return err
	}
	var err error
	if ns == "" {
		err = listen()
	} else {
		err = InNS(ns, listen)
	}
	if err != nil {
		t.Fatalf("testnet: recording SOCKS5 server on %s in %s: %v", addr, nsName(ns), err)
	}
	s.Addr = addrPortOf(s.ln.Addr())
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.close)
	return s
}

// Records returns what every client that has finished said, in order of
// their ends.
func (s *RecordingSOCKS5) Records() []SOCKSRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SOCKSRecord(nil), s.records...)
}

// Wait waits, at most limit, until n clients have finished, and reports
// whether they have.
func (s *RecordingSOCKS5) Wait(n int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for {
		s.mu.Lock()
		got := len(s.records)
		s.mu.Unlock()
		if got >= n {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *RecordingSOCKS5) close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.ln.Close()
	s.wg.Wait()
}

func (s *RecordingSOCKS5) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			r := s.exchange(c)
			r.Time = time.Now()
			c.Close()
			s.mu.Lock()
			delete(s.conns, c)
			s.records = append(s.records, r)
			s.mu.Unlock()
		}()
	}
}

// exchange runs one client: greeting, credentials, request, refusal.
func (s *RecordingSOCKS5) exchange(c net.Conn) (r SOCKSRecord) {
	_ = c.SetDeadline(time.Now().Add(recordingTimeout))
	fail := func(format string, args ...any) SOCKSRecord {
		r.Err = fmt.Sprintf(format, args...)
		return r
	}
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return fail("greeting: %v", err)
	}
	if hdr[0] != 5 {
		return fail("version 0x%02x", hdr[0])
	}
	r.Methods = make([]byte, hdr[1])
	if _, err := io.ReadFull(c, r.Methods); err != nil {
		return fail("greeting methods: %v", err)
	}
	method := byte(0xff)
	for _, m := range r.Methods {
		if m == 0x02 {
			method = 0x02
			break
		}
		if m == 0x00 {
			method = 0x00
		}
	}
	if _, err := c.Write([]byte{5, method}); err != nil || method == 0xff {
		return fail("no acceptable method")
	}
	if method == 0x02 {
		var b [1]byte
		if _, err := io.ReadFull(c, b[:]); err != nil || b[0] != 1 {
			return fail("username/password version: %v % x", err, b)
		}
		user, err := readLenString(c)
		if err != nil {
			return fail("username: %v", err)
		}
		pass, err := readLenString(c)
		if err != nil {
			return fail("password: %v", err)
		}
		r.UserPass, r.User, r.Pass = true, user, pass
		if _, err := c.Write([]byte{1, 0}); err != nil {
			return fail("username/password status: %v", err)
		}
	}
	var req [4]byte // VER CMD RSV ATYP
	if _, err := io.ReadFull(c, req[:]); err != nil {
		return fail("request: %v", err)
	}
	r.Command = req[1]
	var host string
	switch req[3] {
	case 0x01, 0x04:
		ip := make([]byte, 4)
		if req[3] == 0x04 {
			ip = make([]byte, 16)
		}
		if _, err := io.ReadFull(c, ip); err != nil {
			return fail("request address: %v", err)
		}
		a, _ := netip.AddrFromSlice(ip)
		host = a.String()
	case 0x03:
		name, err := readLenString(c)
		if err != nil {
			return fail("request name: %v", err)
		}
		host = name
	default:
		return fail("address type 0x%02x", req[3])
	}
	var port [2]byte
	if _, err := io.ReadFull(c, port[:]); err != nil {
		return fail("request port: %v", err)
	}
	r.Target = net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(port[:]))))
	// Refused: connection refused (0x05), bound 0.0.0.0:0.
	c.Write([]byte{5, 0x05, 0, 1, 0, 0, 0, 0, 0, 0})
	return r
}

// readLenString reads a length byte and that many bytes.
func readLenString(r io.Reader) (string, error) {
	var n [1]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return "", err
	}
	b := make([]byte, n[0])
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return string(b), nil
}
