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
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// What [DNSLogger] and [DNSServer] share: the record of a query, its
// parsing, and serving DNS over UDP and TCP ([dnsService]).

// dnsConnTimeout bounds how long a nameserver's TCP side waits for the next
// query on a connection (and for writing an answer).
const dnsConnTimeout = 5 * time.Second

// dnsMaxQueriesPerConn bounds the queries answered on one TCP connection.
const dnsMaxQueriesPerConn = 100

// DNSQuery is one query that reached a [DNSLogger] or a [DNSServer].
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

// dnsRequest is a query that can be answered.
type dnsRequest struct {
	// reply is the header to answer with, but for the rcode and AA: the
	// query's id, opcode and RD bit, QR and RA set.
	reply    dnsmessage.Header
	question dnsmessage.Question // the first one
	edns     bool                // the query has an OPT record
}

// parseDNSQuery reads the header, the first question and the EDNS OPT
// record of the DNS message msg. When it cannot, q.Malformed says why and
// formerr is the answer to send: nil when msg is too short to carry an id
// or is a response, a FORMERR header when it has no readable question.
func parseDNSQuery(msg []byte) (q DNSQuery, req dnsRequest, formerr []byte) {
	if len(msg) < 12 {
		q.Malformed = fmt.Sprintf("%d bytes, shorter than a header", len(msg))
		return q, req, nil
	}
	var p dnsmessage.Parser
	hdr, err := p.Start(msg)
	if err != nil {
		q.Malformed = err.Error()
		return q, req, nil
	}
	if hdr.Response {
		q.Malformed = "a response, not a query"
		return q, req, nil
	}
	req.reply = dnsmessage.Header{ID: hdr.ID, Response: true, OpCode: hdr.OpCode,
		RecursionDesired: hdr.RecursionDesired, RecursionAvailable: true}
	req.question, err = p.Question()
	if err != nil {
		q.Malformed = err.Error()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			q.Malformed = "no question"
		}
		h := req.reply
		h.RCode = dnsmessage.RCodeFormatError
		return q, req, buildDNSReply(h, nil, nil, false)
	}
	q.Name = strings.TrimSuffix(req.question.Name.String(), ".")
	if q.Name == "" {
		q.Name = "."
	}
	q.Type = dnsTypeName(uint16(req.question.Type))
	// An OPT record in the additional section: EDNS.
	if p.SkipAllQuestions() == nil && p.SkipAllAnswers() == nil && p.SkipAllAuthorities() == nil {
		for i := 0; i < 100; i++ {
			h, err := p.AdditionalHeader()
			if err != nil {
				break
			}
			if h.Type == dnsmessage.TypeOPT {
				req.edns = true
			}
			if p.SkipAdditional() != nil {
				break
			}
		}
	}
	return q, req, nil
}

// dnsService serves DNS on [listeners]: every datagram, and every
// length-prefixed message on a TCP connection (RFC 1035 4.2.2: at most
// dnsMaxQueriesPerConn of them, each within dnsConnTimeout), is answered
// by answer and recorded.
type dnsService struct {
	ls      *listeners
	queries arrivalLog[DNSQuery]
	// answer returns what msg asks and the reply to send (nil: none).
	// udp says the reply goes in a datagram.
	answer func(msg []byte, udp bool) (DNSQuery, []byte)
}

// startDNSService listens on addrs in namespace ns ("" for the test's own)
// with UDP and TCP (port 0: one port, chosen by the system, for both), and
// serves DNS there with answer until close.
func startDNSService(ns string, addrs []netip.AddrPort, answer func(msg []byte, udp bool) (DNSQuery, []byte)) (*dnsService, error) {
	var eps []endpoint
	for _, a := range addrs {
		eps = append(eps, endpoint{addr: a, udp: true, tcp: true})
	}
	ls, err := listen(ns, eps)
	if err != nil {
		return nil, err
	}
	s := &dnsService{ls: ls, answer: answer}
	ls.serve(s.datagram, s.serveConn)
	return s, nil
}

// close closes the listeners and open connections and waits (bounded) for
// the serving goroutines.
func (s *dnsService) close() { s.ls.close() }

func (s *dnsService) record(q DNSQuery, transport string, server, source netip.AddrPort) {
	q.Transport, q.Server, q.Source, q.Time = transport, server, source, time.Now()
	s.queries.add(q)
}

func (s *dnsService) datagram(server, from netip.AddrPort, msg []byte) []byte {
	q, reply := s.answer(msg, true)
	s.record(q, "udp", server, from)
	return reply
}

// serveConn answers the length-prefixed queries on c.
func (s *dnsService) serveConn(c net.Conn) {
	server, source := addrPortOf(c.LocalAddr()), addrPortOf(c.RemoteAddr())
	for i := 0; i < dnsMaxQueriesPerConn; i++ {
		c.SetDeadline(time.Now().Add(dnsConnTimeout))
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return
		}
		msg := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(c, msg); err != nil {
			s.record(DNSQuery{Malformed: "cut short: " + err.Error()}, "tcp", server, source)
			return
		}
		q, reply := s.answer(msg, false)
		s.record(q, "tcp", server, source)
		if reply == nil {
			return
		}
		out := binary.BigEndian.AppendUint16(nil, uint16(len(reply)))
		if _, err := c.Write(append(out, reply...)); err != nil {
			return
		}
	}
}
