package fakedns

import (
	"encoding/binary"

	"golang.org/x/net/dns/dnsmessage"
)

// request is a parsed query: what the reply must echo and what the policy
// looks at.
type request struct {
	raw     []byte
	hdr     dnsmessage.Header
	qdcount uint16
	q       dnsmessage.Question
	hasQ    bool // the first question parsed
	edns    bool // the query has an OPT record
	version uint8
	udpSize uint16 // the OPT's UDP payload size
}

// parseRequest parses what a reply needs from query. It reports false for
// a message that is not a query: shorter than a header, or a response.
func parseRequest(query []byte) (*request, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil || h.Response {
		return nil, false
	}
	req := &request{raw: query, hdr: h, qdcount: binary.BigEndian.Uint16(query[4:6])}
	if req.qdcount > 0 {
		if q, err := p.Question(); err == nil {
			req.q, req.hasQ = q, true
		}
	}
	if p.SkipAllQuestions() != nil || p.SkipAllAnswers() != nil || p.SkipAllAuthorities() != nil {
		return req, true
	}
	for {
		rh, err := p.AdditionalHeader()
		if err != nil {
			break
		}
		if rh.Type == dnsmessage.TypeOPT && !req.edns {
			req.edns = true
			req.version = uint8(rh.TTL >> 16)
			req.udpSize = uint16(rh.Class)
		}
		if p.SkipAdditional() != nil {
			break
		}
	}
	return req, true
}

// maxUDPReply is the size of a UDP reply the client accepts: 512 bytes
// without EDNS, else what its OPT says (at least 512).
func (req *request) maxUDPReply() int {
	if !req.edns || req.udpSize < 512 {
		return 512
	}
	return int(req.udpSize)
}
