package testnet

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/chainrun/chainrun/chain/fakedns"
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
func ReverseName(a netip.Addr) string { return fakedns.ReverseName(a) }

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
	dns     *dnsService
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
	s := &DNSServer{records: map[string][]dnsRR{}}
	for _, r := range records {
		rr, err := parseDNSRecord(r)
		if err != nil {
			t.Fatalf("testnet: DNS server record %q: %v", r, err)
		}
		key := strings.ToLower(strings.TrimSuffix(r.Name, "."))
		s.records[key] = append(s.records[key], rr)
	}

	var err error
	s.dns, err = startDNSService(ns, []netip.AddrPort{addr}, s.answer)
	if err != nil {
		t.Fatalf("testnet: DNS server on %s in %s: %v", addr, nsName(ns), err)
	}
	s.Addr = addrPortOf(s.dns.ls.tcp[0].Addr())
	t.Cleanup(s.dns.close)
	return s
}

// Queries returns every query that arrived so far, in order of arrival.
func (s *DNSServer) Queries() []DNSQuery { return s.dns.queries.all() }

// Take returns the queries that arrived since the last Take.
func (s *DNSServer) Take() []DNSQuery { return s.dns.queries.take() }

// answer returns what msg asks and the reply to it (nil: drop it). udp
// limits the reply's size (TC set when the answer does not fit).
func (s *DNSServer) answer(msg []byte, udp bool) (DNSQuery, []byte) {
	q, req, formerr := parseDNSQuery(msg)
	if q.Malformed != "" {
		return q, formerr
	}
	rhdr, question, edns := req.reply, req.question, req.edns
	rhdr.Authoritative = true
	var answers []dnsRR
	switch {
	case rhdr.OpCode != 0:
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
