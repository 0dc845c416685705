package testnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ClientNameserver6 is the client namespace's second nameserver, an IPv6
// one, named in its resolv.conf once [Topology.StartDNSLogger] runs.
var ClientNameserver6 = netip.MustParseAddr("fd77::53")

// dnsConnTimeout bounds how long the logger's TCP side waits for the next
// query on a connection (and for writing an answer).
const dnsConnTimeout = 5 * time.Second

// DNSQuery is one query that reached a [DNSLogger].
type DNSQuery struct {
	Name      string         // the question's name, without the final dot ("target.chainrun.test")
	Type      string         // the question's type: "A", "AAAA", … or "TYPE65" for those without a name here
	Transport string         // "udp" or "tcp"
	Server    netip.AddrPort // where it arrived: 10.77.0.53:53 or [fd77::53]:53
	Source    netip.AddrPort // who sent it
	Time      time.Time
	Malformed string // non-empty when the message could not be parsed: why (Name and Type are then empty)
}

func (q DNSQuery) String() string {
	if q.Malformed != "" {
		return fmt.Sprintf("malformed query (%s) over %s from %s to %s", q.Malformed, q.Transport, q.Source, q.Server)
	}
	return fmt.Sprintf("%s %s over %s from %s to %s", q.Name, q.Type, q.Transport, q.Source, q.Server)
}

// DNSLogger is a nameserver that answers nothing: it records every query and
// answers SERVFAIL at once (so a program that leaks a query does not hang on
// it). It is made by [Topology.StartDNSLogger].
type DNSLogger struct {
	mu      sync.Mutex
	queries []DNSQuery // all of them, in order of arrival
	seen    int        // how many of queries have been reported or taken
	allow   bool       // no failure at cleanup

	closers []io.Closer
	wg      sync.WaitGroup
	conns   map[net.Conn]struct{}
	closed  bool
}

// StartDNSLogger puts the client namespace's nameservers, [ClientNameserver]
// (10.77.0.53) and [ClientNameserver6] (fd77::53), on the proxy namespace's
// client-side interface, names both in the client's resolv.conf (with
// "options timeout:1 attempts:1", so a resolver that gets no answer gives up
// soon), and listens
// on port 53 of both with UDP and TCP. Every query that arrives is recorded
// ([DNSLogger.Queries]) and answered SERVFAIL at once.
//
// A query that reaches it is a DNS leak: a t.Cleanup fails the test (t.Errorf
// "DNS leak: …", one line per query) when queries arrived that no
// [DNSLogger.Check] or [DNSLogger.Take] has already dealt with, unless
// [DNSLogger.AllowLeaks] was called. The listeners are closed at cleanup,
// before the topology goes away. Call it at most once per topology.
func (tp *Topology) StartDNSLogger(t testing.TB) *DNSLogger {
	t.Helper()
	tp.ip(t, "-n", tp.Proxy, "addr", "add", netip.PrefixFrom(ClientNameserver, 24).String(), "dev", proxyClientIf)
	tp.ip(t, "-n", tp.Proxy, "addr", "add", netip.PrefixFrom(ClientNameserver6, 64).String(), "dev", proxyClientIf, "nodad")
	tp.writeEtc(t, tp.Client, "resolv.conf",
		"nameserver "+ClientNameserver.String()+"\nnameserver "+ClientNameserver6.String()+"\noptions timeout:1 attempts:1\n")

	d := &DNSLogger{conns: map[net.Conn]struct{}{}}
	var udps []net.PacketConn
	var tcps []net.Listener
	err := InNS(tp.Proxy, func() error {
		for _, a := range []netip.Addr{ClientNameserver, ClientNameserver6} {
			ap := netip.AddrPortFrom(a, 53).String()
			pc, err := net.ListenPacket("udp", ap)
			if err != nil {
				return err
			}
			udps = append(udps, pc)
			d.closers = append(d.closers, pc)
			ln, err := net.Listen("tcp", ap)
			if err != nil {
				return err
			}
			tcps = append(tcps, ln)
			d.closers = append(d.closers, ln)
		}
		return nil
	})
	if err != nil {
		d.close()
		t.Fatalf("testnet: DNS logger in %s: %v", tp.Proxy, err)
	}
	for _, pc := range udps {
		d.wg.Add(1)
		go d.serveUDP(pc)
	}
	for _, ln := range tcps {
		d.wg.Add(1)
		go d.serveTCP(ln)
	}
	t.Cleanup(func() {
		d.close()
		d.mu.Lock()
		allow := d.allow
		d.mu.Unlock()
		if !allow {
			d.report(t, "")
		}
	})
	return d
}

// Queries returns every query recorded so far, in order of arrival (also
// those already checked or taken).
func (d *DNSLogger) Queries() []DNSQuery {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]DNSQuery(nil), d.queries...)
}

// Take returns the queries that arrived since the last Take or Check, and
// marks them as dealt with: a test that expects queries (a control run
// without chainrun) takes them, and they no longer fail it.
func (d *DNSLogger) Take() []DNSQuery {
	d.mu.Lock()
	defer d.mu.Unlock()
	q := append([]DNSQuery(nil), d.queries[d.seen:]...)
	d.seen = len(d.queries)
	return q
}

// Check fails t (t.Errorf "DNS leak: …", with what) when queries arrived since
// the last Take or Check, and marks them as dealt with; it reports whether
// there were none. Call it after each case so a leak is blamed on the case
// that made it.
func (d *DNSLogger) Check(t testing.TB, what string) bool {
	t.Helper()
	return d.report(t, what)
}

// AllowLeaks stops the cleanup from failing the test for queries not dealt
// with (Check still fails it).
func (d *DNSLogger) AllowLeaks() {
	d.mu.Lock()
	d.allow = true
	d.mu.Unlock()
}

// WaitQueries waits at most limit until at least n queries arrived since the
// last Take or Check and reports whether they did (a query that a program
// sends without waiting for the answer may arrive after the program ended).
func (d *DNSLogger) WaitQueries(n int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for i := 0; i < 100000; i++ {
		d.mu.Lock()
		got := len(d.queries) - d.seen
		d.mu.Unlock()
		if got >= n {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

func (d *DNSLogger) report(t testing.TB, what string) bool {
	t.Helper()
	q := d.Take()
	if len(q) == 0 {
		return true
	}
	var b strings.Builder
	for _, x := range q {
		b.WriteString("\n\t" + x.String())
	}
	if what != "" {
		what = " (" + what + ")"
	}
	t.Errorf("DNS leak%s: %d quer%s reached the client's nameserver:%s", what, len(q), plural(len(q), "y", "ies"), b.String())
	return false
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// close closes the listeners and open connections and waits for the
// serving goroutines (bounded: they end once their sockets are closed).
func (d *DNSLogger) close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	for _, c := range d.closers {
		c.Close()
	}
	for c := range d.conns {
		c.Close()
	}
	d.mu.Unlock()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

func (d *DNSLogger) record(q DNSQuery) {
	q.Time = time.Now()
	d.mu.Lock()
	d.queries = append(d.queries, q)
	d.mu.Unlock()
}

func (d *DNSLogger) serveUDP(pc net.PacketConn) {
	defer d.wg.Done()
	server := addrPortOf(pc.LocalAddr())
	buf := make([]byte, 65536)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // e.g. an ICMP error reported on the socket
			continue
		}
		msg := buf[:n]
		q, reply := parseDNSQuery(msg)
		q.Transport, q.Server, q.Source = "udp", server, addrPortOf(from)
		d.record(q)
		if reply != nil {
			pc.SetWriteDeadline(time.Now().Add(dnsConnTimeout))
			pc.WriteTo(reply, from)
		}
	}
}

func (d *DNSLogger) serveTCP(ln net.Listener) {
	defer d.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		d.mu.Lock()
		if d.closed {
			d.mu.Unlock()
			c.Close()
			return
		}
		d.conns[c] = struct{}{}
		d.wg.Add(1)
		d.mu.Unlock()
		go d.serveTCPConn(c)
	}
}

// serveTCPConn answers the length-prefixed queries on c, at most 100 of
// them, each within dnsConnTimeout.
func (d *DNSLogger) serveTCPConn(c net.Conn) {
	defer d.wg.Done()
	defer func() {
		c.Close()
		d.mu.Lock()
		delete(d.conns, c)
		d.mu.Unlock()
	}()
	server, source := addrPortOf(c.LocalAddr()), addrPortOf(c.RemoteAddr())
	for i := 0; i < 100; i++ {
		c.SetDeadline(time.Now().Add(dnsConnTimeout))
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return
		}
		msg := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(c, msg); err != nil {
			d.record(DNSQuery{Transport: "tcp", Server: server, Source: source, Malformed: "cut short: " + err.Error()})
			return
		}
		q, reply := parseDNSQuery(msg)
		q.Transport, q.Server, q.Source = "tcp", server, source
		d.record(q)
		if reply == nil {
			return
		}
		out := binary.BigEndian.AppendUint16(nil, uint16(len(reply)))
		if _, err := c.Write(append(out, reply...)); err != nil {
			return
		}
	}
}

func addrPortOf(a net.Addr) netip.AddrPort {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

var dnsTypeNames = map[uint16]string{
	1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT",
	28: "AAAA", 33: "SRV", 64: "SVCB", 65: "HTTPS", 255: "ANY",
}

// dnsTypeName returns the mnemonic of a query type ("A"), or "TYPE<n>".
func dnsTypeName(t uint16) string {
	if s, ok := dnsTypeNames[t]; ok {
		return s
	}
	return "TYPE" + strconv.Itoa(int(t))
}

// parseDNSQuery reads the header and first question of a DNS message and
// returns what it asks and the SERVFAIL answer to send back: the same id,
// opcode, RD bit and question, QR and RA set, rcode 2, no other records.
// reply is nil when msg is too short to carry an id. A message without a
// readable question gets a FORMERR answer and a Malformed reason.
func parseDNSQuery(msg []byte) (q DNSQuery, reply []byte) {
	if len(msg) < 12 {
		q.Malformed = fmt.Sprintf("%d bytes, shorter than a header", len(msg))
		return q, nil
	}
	flags := binary.BigEndian.Uint16(msg[2:4])
	qdcount := binary.BigEndian.Uint16(msg[4:6])
	// QR=1, opcode and RD kept, RA=1.
	rflags := uint16(0x8000) | flags&0x7900 | 0x0080
	if flags&0x8000 != 0 {
		q.Malformed = "a response, not a query"
		return q, nil
	}
	name, end, err := readDNSName(msg, 12)
	if qdcount == 0 || err != nil || end+4 > len(msg) {
		switch {
		case qdcount == 0:
			q.Malformed = "no question"
		case err != nil:
			q.Malformed = err.Error()
		default:
			q.Malformed = "question cut short"
		}
		reply = make([]byte, 12)
		copy(reply, msg[:2])
		binary.BigEndian.PutUint16(reply[2:], rflags|1) // FORMERR
		return q, reply
	}
	q.Name = name
	q.Type = dnsTypeName(binary.BigEndian.Uint16(msg[end : end+2]))
	reply = make([]byte, 0, end+4)
	reply = append(reply, msg[:2]...)
	reply = binary.BigEndian.AppendUint16(reply, rflags|2) // SERVFAIL
	reply = append(reply, 0, 1, 0, 0, 0, 0, 0, 0)
	reply = append(reply, msg[12:end+4]...)
	return q, reply
}

// readDNSName reads the (uncompressed: a question's name is never
// compressed in practice) name at off and returns it in presentation form
// without the final dot, and the offset after it.
func readDNSName(msg []byte, off int) (string, int, error) {
	var labels []string
	for i := 0; i < 128; i++ {
		if off >= len(msg) {
			return "", 0, errors.New("name cut short")
		}
		l := int(msg[off])
		off++
		switch {
		case l == 0:
			if len(labels) == 0 {
				return ".", off, nil
			}
			return strings.Join(labels, "."), off, nil
		case l&0xc0 != 0:
			return "", 0, errors.New("compressed or extended label in a question")
		case off+l > len(msg):
			return "", 0, errors.New("label cut short")
		}
		labels = append(labels, string(msg[off:off+l]))
		off += l
	}
	return "", 0, errors.New("too many labels")
}
