package fakedns

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// ednsUDPSize is the UDP payload size our OPT records announce (the DNS
// flag day 2020 value).
const ednsUDPSize = 1232

// reply packs the reply to req for out, and returns it with its RCode and
// the answers as Event shows them. An upstream reply is passed on when it
// parses; the real addresses in it are remembered for NameOf.
func (r *Resolver) reply(req *request, out *outcome) ([]byte, dnsmessage.RCode, []string) {
	if out.raw != nil {
		rcode, answers, err := r.inspect(req, out.raw)
		if err == nil {
			return out.raw, rcode, answers
		}
		*out = outcome{rcode: dnsmessage.RCodeServerFailure, how: "servfail", err: err}
	}
	msg := dnsmessage.Message{Header: dnsmessage.Header{
		ID:                 req.hdr.ID,
		Response:           true,
		OpCode:             req.hdr.OpCode,
		RecursionDesired:   req.hdr.RecursionDesired,
		RecursionAvailable: true,
		CheckingDisabled:   req.hdr.CheckingDisabled,
		RCode:              out.rcode & 0x0f,
	}}
	if req.hasQ && req.qdcount == 1 {
		msg.Questions = []dnsmessage.Question{req.q}
	}
	var answers []string
	ttl := ttlSeconds(r.pool.TTL())
	hdr := dnsmessage.ResourceHeader{Name: req.q.Name, Class: dnsmessage.ClassINET, TTL: ttl}
	for _, a := range out.addrs {
		if a.Is4() {
			hdr.Type = dnsmessage.TypeA
			msg.Answers = append(msg.Answers, dnsmessage.Resource{Header: hdr, Body: &dnsmessage.AResource{A: a.As4()}})
		} else {
			hdr.Type = dnsmessage.TypeAAAA
			msg.Answers = append(msg.Answers, dnsmessage.Resource{Header: hdr, Body: &dnsmessage.AAAAResource{AAAA: a.As16()}})
		}
		answers = append(answers, a.String())
	}
	if out.ptr != "" {
		if n, err := dnsmessage.NewName(out.ptr + "."); err == nil {
			hdr.Type = dnsmessage.TypePTR
			msg.Answers = append(msg.Answers, dnsmessage.Resource{Header: hdr, Body: &dnsmessage.PTRResource{PTR: n}})
			answers = append(answers, out.ptr)
		}
	}
	if req.edns {
		var oh dnsmessage.ResourceHeader
		oh.SetEDNS0(ednsUDPSize, out.rcode, false)
		msg.Additionals = []dnsmessage.Resource{{Header: oh, Body: &dnsmessage.OPTResource{}}}
	}
	b, err := msg.AppendPack(make([]byte, 0, 512))
	if err != nil {
		// Our records did not pack (cannot happen with checked names):
		// SERVFAIL, and without the question if even that fails.
		out.err, out.how = err, "servfail"
		msg.Header.RCode = dnsmessage.RCodeServerFailure
		msg.Answers, msg.Additionals = nil, nil
		if b, err = msg.AppendPack(nil); err != nil {
			msg.Questions = nil
			b, _ = msg.AppendPack(nil)
		}
		return b, dnsmessage.RCodeServerFailure, nil
	}
	return b, out.rcode, answers
}

// inspect checks an upstream reply to req (header and question parse),
// remembers the real addresses it gives for the question's name, and
// returns its RCode and answers for Event.
func (r *Resolver) inspect(req *request, reply []byte) (dnsmessage.RCode, []string, error) {
	var p dnsmessage.Parser
	h, err := p.Start(reply)
	if err != nil {
		return 0, nil, fmt.Errorf("fakedns: upstream reply: %w", err)
	}
	if h.ID != req.hdr.ID || !h.Response {
		return 0, nil, fmt.Errorf("fakedns: upstream reply ID %#04x (response %v) to query ID %#04x", h.ID, h.Response, req.hdr.ID)
	}
	if err := p.SkipAllQuestions(); err != nil {
		return 0, nil, fmt.Errorf("fakedns: upstream reply: %w", err)
	}
	name, valid := normalizeName(req.q.Name.String())
	var answers []string
	for range 256 {
		rh, err := p.AnswerHeader()
		if err != nil {
			break // the end, or a record we cannot read: pass it on anyway
		}
		switch rh.Type {
		case dnsmessage.TypeA:
			rr, err := p.AResource()
			if err != nil {
				return h.RCode, answers, nil
			}
			a := netip.AddrFrom4(rr.A)
			if valid {
				r.real.add(a, name)
			}
			answers = append(answers, a.String())
		case dnsmessage.TypeAAAA:
			rr, err := p.AAAAResource()
			if err != nil {
				return h.RCode, answers, nil
			}
			a := netip.AddrFrom16(rr.AAAA)
			if valid {
				r.real.add(a, name)
			}
			answers = append(answers, a.String())
		case dnsmessage.TypeCNAME:
			rr, err := p.CNAMEResource()
			if err != nil {
				return h.RCode, answers, nil
			}
			answers = append(answers, "CNAME "+strings.TrimSuffix(rr.CNAME.String(), "."))
		case dnsmessage.TypePTR:
			rr, err := p.PTRResource()
			if err != nil {
				return h.RCode, answers, nil
			}
			answers = append(answers, strings.TrimSuffix(rr.PTR.String(), "."))
		default:
			if p.SkipAnswer() != nil {
				return h.RCode, answers, nil
			}
			answers = append(answers, typeString(rh.Type))
		}
	}
	return h.RCode, answers, nil
}

// ttlSeconds is d in whole seconds for a record, at least 1.
func ttlSeconds(d time.Duration) uint32 {
	s := (d + time.Second - 1) / time.Second
	if s < 1 {
		return 1
	}
	return uint32(s)
}
