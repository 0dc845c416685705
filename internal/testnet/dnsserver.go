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

	"golang.org/x/net/dns/dnsmessage"
)

// DNSRecord is one record a [DNSServer] answers with.
type DNSRecord struct {
	// Name is the owner name, without the final dot ("www.tunnel.test",
	// "2.0.78.10.in-addr.arpa": see [ReverseName]). Questions match it
	// without regard to ASCII case.
	Name string
	// Type is "A", "AAAA", "MX", "TXT", "SRV" or "PTR".
	Type string
	// Data is the record's value in presentation form, by type: an IPv4
	// address (A) or an IPv6 one (AAAA); "PREFERENCE HOST" (MX, "10
	// mail.tunnel.test"); the text, one string of at most 255 bytes
	// (TXT); "PRIORITY WEIGHT PORT TARGET" (SRV, "0 5 8080
	// www.tunnel.test"); a name (PTR). Names without the final dot.
	Data string
}

func (r DNSRecord) String() string { return r.Name + " " + r.Type + " " + r.Data }

// ReverseName returns the name a PTR record of a has: "2.0.78.10.in-addr.arpa"
// for 10.78.0.2, the nibble form under ip6.arpa for an IPv6 address.
func ReverseName(a netip.Addr) string {
	a = a.Unmap()
	var b strings.Builder
	if a.Is4() {
		v := a.As4()
		for i := 3; i >= 0; i-- {
			b.WriteString(strconv.Itoa(int(v[i])) + ".")
		}
		b.WriteString("in-addr.arpa")
		return b.String()
	}
	v := a.As16()
	const hex = "0123456789abcdef"
	for i := 15; i >= 0; i-- {
		b.WriteByte(hex[v[i]&0xf])
		b.WriteByte('.')
		b.WriteByte(hex[v[i]>>4])
		b.WriteByte('.')
	}
	b.WriteString("ip6.arpa")
	return b.String()
}

// dnsRecordTTL is the TTL of every record a DNSServer answers with.
const dnsRecordTTL = 300

// dnsServerMaxUDP is the largest UDP reply a DNSServer sends to a query
// with EDNS (the size it announces); without EDNS it is 512 bytes.
const dnsServerMaxUDP = 1232

// DNSServer is a small authoritative nameserver that answers from a fixed
// table of records, over UDP and TCP. It is made by
// [Topology.StartDNSServer]. It answers a question with every record of its
// table that has the question's name and type (owner names as the question
// spelt them); NODATA (NOERROR, no answer) when the table has the name with
// other types only; NXDOMAIN when it does not have the name at all.
// Queries with an opcode other than QUERY get NOTIMP, a class other than IN
// REFUSED, an unreadable question FORMERR. A query with an EDNS OPT record
// gets one back. Every query that arrives is recorded ([DNSServer.Queries]).
type DNSServer struct {
	// Addr is where it listens, UDP and TCP (with the port chosen by the
	// system when 0 was asked).
	Addr netip.AddrPort

	records map[string][]dnsRR // by lower-case owner name

	mu      sync.Mutex
	queries []DNSQuery
	seen    int
	closers []io.Closer
	conns   map[net.Conn]struct{}
	closed  bool
	wg      sync.WaitGroup
}

// dnsRR is a parsed DNSRecord.
type dnsRR struct {
	typ  dnsmessage.Type
	body dnsmessage.ResourceBody
}

// StartDNSServer starts a [DNSServer] in namespace ns ("" for the test's own)
// listening on addr (an IP literal and a port; port 0 lets the system pick
// one, see [DNSServer.Addr]) over UDP and TCP, answering from records. It
// fails the test when a record cannot be parsed or when it cannot listen.
// The listeners and open connections are closed at cleanup.
//
// Put it in the target namespace (addr TargetIP:53) for a nameserver that
// the client can reach only through a proxy.
func (tp *Topology) StartDNSServer(t testing.TB, ns string, addr netip.AddrPort, records []DNSRecord) *DNSServer {
	t.Helper()
	return startDNSServer(t, ns, addr, records)
}

// startDNSServer is StartDNSServer without a topology.
func startDNSServer(t testing.TB, ns string, addr netip.AddrPort, records []DNSRecord) *DNSServer {
	t.Helper()
	s := &DNSServer{records: map[string][]dnsRR{}, conns: map[net.Conn]struct{}{}}
	for _, r := range records {
		rr, err := parseDNSRecord(r)
		if err != nil {
			t.Fatalf("testnet: DNS server record %q: %v", r, err)
		}
		key := strings.ToLower(strings.TrimSuffix(r.Name, "."))
		s.records[key] = append(s.records[key], rr)
	}

	var pc net.PacketConn
	var ln net.Listener
	listen := func() error {
		var err error
		if pc, err = net.ListenPacket("udp", addr.String()); err != nil {
			return err
		}
		// The same port for TCP as the system gave UDP.
		tcpAddr := netip.AddrPortFrom(addr.Addr(), addrPortOf(pc.LocalAddr()).Port())
		if ln, err = net.Listen("tcp", tcpAddr.String()); err != nil {
			pc.Close()
			return err
		}
		return nil
	}
	var err error
	if ns == "" {
		err = listen()
	} else {
		err = InNS(ns, listen)
	}
	if err != nil {
		t.Fatalf("testnet: DNS server on %s in %s: %v", addr, nsName(ns), err)
	}
	s.Addr = addrPortOf(ln.Addr())
	s.closers = []io.Closer{pc, ln}
	s.wg.Add(2)
	go s.serveUDP(pc)
	go s.serveTCP(ln)
	t.Cleanup(s.close)
	return s
}

// Queries returns every query that arrived so far, in order of arrival.
func (s *DNSServer) Queries() []DNSQuery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]DNSQuery(nil), s.queries...)
}

// Take returns the queries that arrived since the last Take.
func (s *DNSServer) Take() []DNSQuery {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := append([]DNSQuery(nil), s.queries[s.seen:]...)
	s.seen = len(s.queries)
	return q
}

func (s *DNSServer) record(q DNSQuery) {
	q.Time = time.Now()
	s.mu.Lock()
	s.queries = append(s.queries, q)
	s.mu.Unlock()
}

// close closes the listeners and open connections and waits (bounded) for
// the serving goroutines.
func (s *DNSServer) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for _, c := range s.closers {
		c.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

func (s *DNSServer) serveUDP(pc net.PacketConn) {
	defer s.wg.Done()
	server := addrPortOf(pc.LocalAddr())
	buf := make([]byte, 65536)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		q, reply := s.answer(buf[:n], true)
		q.Transport, q.Server, q.Source = "udp", server, addrPortOf(from)
		s.record(q)
		if reply != nil {
			pc.SetWriteDeadline(time.Now().Add(dnsConnTimeout))
			pc.WriteTo(reply, from)
		}
	}
}

func (s *DNSServer) serveTCP(ln net.Listener) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
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
		go s.serveTCPConn(c)
	}
}

// serveTCPConn answers the length-prefixed queries on c, at most 100 of
// them, each within dnsConnTimeout.
func (s *DNSServer) serveTCPConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
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
			s.record(DNSQuery{Transport: "tcp", Server: server, Source: source, Malformed: "cut short: " + err.Error()})
			return
		}
		q, reply := s.answer(msg, false)
		q.Transport, q.Server, q.Source = "tcp", server, source
		s.record(q)
		if reply == nil {
			return
		}
		out := binary.BigEndian.AppendUint16(nil, uint16(len(reply)))
		if _, err := c.Write(append(out, reply...)); err != nil {
			return
		}
	}
}

// answer returns what msg asks and the reply to it (nil: drop it). udp
// limits the reply's size (TC set when the answer does not fit).
func (s *DNSServer) answer(msg []byte, udp bool) (DNSQuery, []byte) {
	var q DNSQuery
	var p dnsmessage.Parser
	hdr, err := p.Start(msg)
	if err != nil {
		q.Malformed = err.Error()
		return q, nil
	}
	if hdr.Response {
		q.Malformed = "a response, not a query"
		return q, nil
	}
	rhdr := dnsmessage.Header{ID: hdr.ID, Response: true, OpCode: hdr.OpCode,
		Authoritative: true, RecursionDesired: hdr.RecursionDesired, RecursionAvailable: true}
	question, qerr := p.Question()
	if qerr != nil {
		q.Malformed = qerr.Error()
		rhdr.Authoritative = false
		rhdr.RCode = dnsmessage.RCodeFormatError
		return q, buildDNSReply(rhdr, nil, nil, false)
	}
	q.Name = strings.TrimSuffix(question.Name.String(), ".")
	q.Type = dnsTypeName(uint16(question.Type))

	// An OPT record in the additional section: EDNS.
	edns := false
	if p.SkipAllQuestions() == nil && p.SkipAllAnswers() == nil && p.SkipAllAuthorities() == nil {
		for i := 0; i < 100; i++ {
			h, err := p.AdditionalHeader()
			if err != nil {
				break
			}
			if h.Type == dnsmessage.TypeOPT {
				edns = true
			}
			if p.SkipAdditional() != nil {
				break
			}
		}
	}

	var answers []dnsRR
	switch {
	case hdr.OpCode != 0:
		rhdr.RCode = dnsmessage.RCodeNotImplemented
	case question.Class != dnsmessage.ClassINET:
		rhdr.RCode = dnsmessage.RCodeRefused
	default:
		rrs, known := s.records[strings.ToLower(q.Name)]
		if !known {
			rhdr.RCode = dnsmessage.RCodeNameError
		}
		for _, rr := range rrs {
			if rr.typ == question.Type {
				answers = append(answers, rr)
			}
		}
	}
	reply := buildDNSReply(rhdr, &question, answers, edns)
	limit := 512
	if edns {
		limit = dnsServerMaxUDP
	}
	if udp && len(reply) > limit {
		rhdr.Truncated = true
		reply = buildDNSReply(rhdr, &question, nil, edns)
	}
	return q, reply
}

// buildDNSReply builds a reply: the header, the question (when there is
// one), answers owned by the question's name, an OPT record when edns.
func buildDNSReply(hdr dnsmessage.Header, q *dnsmessage.Question, answers []dnsRR, edns bool) []byte {
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), hdr)
	b.EnableCompression()
	if q != nil {
		if b.StartQuestions() != nil || b.Question(*q) != nil {
			return nil
		}
		if b.StartAnswers() != nil {
			return nil
		}
		for _, rr := range answers {
			h := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: dnsRecordTTL}
			var err error
			switch body := rr.body.(type) {
			case *dnsmessage.AResource:
				err = b.AResource(h, *body)
			case *dnsmessage.AAAAResource:
				err = b.AAAAResource(h, *body)
			case *dnsmessage.MXResource:
				err = b.MXResource(h, *body)
			case *dnsmessage.TXTResource:
				err = b.TXTResource(h, *body)
			case *dnsmessage.SRVResource:
				err = b.SRVResource(h, *body)
			case *dnsmessage.PTRResource:
				err = b.PTRResource(h, *body)
			}
			if err != nil {
				return nil
			}
		}
	}
	if edns {
		if b.StartAdditionals() != nil {
			return nil
		}
		var h dnsmessage.ResourceHeader
		if h.SetEDNS0(dnsServerMaxUDP, hdr.RCode, false) != nil || b.OPTResource(h, dnsmessage.OPTResource{}) != nil {
			return nil
		}
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

// parseDNSRecord turns r into a type and a body for dnsmessage.
func parseDNSRecord(r DNSRecord) (dnsRR, error) {
	if _, err := dnsName(r.Name); err != nil {
		return dnsRR{}, err
	}
	f := strings.Fields(r.Data)
	num := func(s string) (uint16, error) {
		v, err := strconv.ParseUint(s, 10, 16)
		return uint16(v), err
	}
	switch strings.ToUpper(r.Type) {
	case "A", "AAAA":
		a, err := netip.ParseAddr(r.Data)
		switch {
		case err != nil:
			return dnsRR{}, err
		case strings.EqualFold(r.Type, "A") && a.Is4():
			return dnsRR{dnsmessage.TypeA, &dnsmessage.AResource{A: a.As4()}}, nil
		case strings.EqualFold(r.Type, "AAAA") && a.Is6() && !a.Is4In6():
			return dnsRR{dnsmessage.TypeAAAA, &dnsmessage.AAAAResource{AAAA: a.As16()}}, nil
		}
		return dnsRR{}, fmt.Errorf("%s is not an address for a %s record", a, r.Type)
	case "MX":
		if len(f) != 2 {
			return dnsRR{}, errors.New(`want "PREFERENCE HOST"`)
		}
		pref, err := num(f[0])
		if err != nil {
			return dnsRR{}, err
		}
		mx, err := dnsName(f[1])
		if err != nil {
			return dnsRR{}, err
		}
		return dnsRR{dnsmessage.TypeMX, &dnsmessage.MXResource{Pref: pref, MX: mx}}, nil
	case "TXT":
		if len(r.Data) > 255 {
			return dnsRR{}, errors.New("TXT text longer than 255 bytes")
		}
		return dnsRR{dnsmessage.TypeTXT, &dnsmessage.TXTResource{TXT: []string{r.Data}}}, nil
	case "SRV":
		if len(f) != 4 {
			return dnsRR{}, errors.New(`want "PRIORITY WEIGHT PORT TARGET"`)
		}
		var v [3]uint16
		for i := range v {
			var err error
			if v[i], err = num(f[i]); err != nil {
				return dnsRR{}, err
			}
		}
		target, err := dnsName(f[3])
		if err != nil {
			return dnsRR{}, err
		}
		return dnsRR{dnsmessage.TypeSRV, &dnsmessage.SRVResource{Priority: v[0], Weight: v[1], Port: v[2], Target: target}}, nil
	case "PTR":
		ptr, err := dnsName(r.Data)
		if err != nil {
			return dnsRR{}, err
		}
		return dnsRR{dnsmessage.TypePTR, &dnsmessage.PTRResource{PTR: ptr}}, nil
	}
	return dnsRR{}, fmt.Errorf("record type %q: want A, AAAA, MX, TXT, SRV or PTR", r.Type)
}

// dnsName is s (without its final dot) as an absolute dnsmessage.Name.
func dnsName(s string) (dnsmessage.Name, error) {
	s = strings.TrimSuffix(s, ".")
	if s == "" || strings.Contains(s, "..") {
		return dnsmessage.Name{}, fmt.Errorf("bad name %q", s)
	}
	return dnsmessage.NewName(s + ".")
}
