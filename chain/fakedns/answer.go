package fakedns

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// outcome is how one question is answered: records of ours, or a whole
// reply from upstream.
type outcome struct {
	rcode dnsmessage.RCode
	addrs []netip.Addr // A or AAAA records
	ptr   string       // a PTR record, without the trailing dot
	raw   []byte       // an upstream reply, passed on as it is
	how   string
	err   error
}

// Answer returns the reply to a DNS query in wire format, following the
// policy of the package documentation, or nil to drop a message that is not
// a query. It never panics, whatever the input. ctx bounds the upstream
// work together with Config.Timeout.
func (r *Resolver) Answer(ctx context.Context, query []byte) []byte {
	start := time.Now()
	req, ok := parseRequest(query)
	if !ok {
		return nil
	}
	var out outcome
	switch {
	case req.hdr.OpCode != 0:
		out = outcome{rcode: dnsmessage.RCodeNotImplemented, how: "notimp",
			err: fmt.Errorf("fakedns: opcode %d is not implemented", req.hdr.OpCode)}
	case req.qdcount != 1 || !req.hasQ:
		out = outcome{rcode: dnsmessage.RCodeFormatError, how: "formerr",
			err: fmt.Errorf("fakedns: query with %d questions", req.qdcount)}
	case req.version > 0:
		out = outcome{rcode: rcodeBadVers, how: "badvers",
			err: fmt.Errorf("fakedns: EDNS version %d", req.version)}
	case req.q.Class != dnsmessage.ClassINET:
		out = outcome{rcode: dnsmessage.RCodeRefused, how: "refused",
			err: fmt.Errorf("fakedns: class %v", req.q.Class)}
	default:
		out = r.resolve(ctx, req)
	}
	reply, rcode, answers := r.reply(req, &out)
	if r.log != nil {
		ev := Event{How: out.how, RCode: rcodeString(rcode), Answers: answers, Err: out.err, Elapsed: time.Since(start)}
		if req.hasQ {
			ev.Name = req.q.Name.String()
			if len(ev.Name) > 1 {
				ev.Name = strings.TrimSuffix(ev.Name, ".")
			}
			ev.Type = typeString(req.q.Type)
		}
		r.log(ev)
	}
	return reply
}

// resolve applies the policy to one IN-class question.
func (r *Resolver) resolve(ctx context.Context, req *request) outcome {
	name := lowerASCII(strings.TrimSuffix(req.q.Name.String(), "."))
	t := req.q.Type
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()

	if err := r.loadHosts(); err != nil {
		return outcome{rcode: dnsmessage.RCodeServerFailure, how: "servfail", err: err}
	}
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return localhostAnswer(t)
	}
	if t == dnsmessage.TypeA || t == dnsmessage.TypeAAAA {
		if addrs, found := r.hosts.lookup(name, t == dnsmessage.TypeAAAA); found {
			return outcome{addrs: addrs, how: "hosts"}
		}
	}
	var rev netip.Addr
	if t == dnsmessage.TypePTR {
		var ok bool
		if rev, ok = parseReverse(name); ok {
			if out, ok := r.reverse(rev); ok {
				return out
			}
		}
	}
	if strings.HasSuffix(name, ".onion") {
		if t == dnsmessage.TypeA || t == dnsmessage.TypeAAAA {
			return r.fake(name, t)
		}
		return outcome{how: "nodata"}
	}
	if r.local != nil && r.local(name) {
		return r.forward(ctx, r.system, req, "local")
	}
	switch r.mode {
	case ModeTunnel:
		if r.tunnel == nil {
			return outcome{rcode: dnsmessage.RCodeServerFailure, how: "servfail",
				err: errors.New("fakedns: DNS mode tunnel needs a dns_server")}
		}
		return r.forward(ctx, r.tunnel, req, "tunnel")
	case ModeTorResolve:
		switch {
		case t == dnsmessage.TypeA || t == dnsmessage.TypeAAAA:
			return r.tor(ctx, name, t)
		case t == dnsmessage.TypePTR && rev.IsValid() && r.torResolvePTR != nil:
			return r.torPTR(ctx, rev)
		}
	case ModeRemote:
		if t == dnsmessage.TypeA || t == dnsmessage.TypeAAAA {
			return r.fake(name, t)
		}
	}
	if t == dnsmessage.TypeHTTPS || t == dnsmessage.TypeSVCB {
		// No answer: clients then use A and AAAA.
		return outcome{how: "nodata"}
	}
	if r.tunnel != nil {
		return r.forward(ctx, r.tunnel, req, "tunnel")
	}
	// No one to ask: an empty answer (NODATA). Clients go on as for a
	// name without such records (mail to the A record, apt without SRV,
	// host(1) with its A and AAAA lines), where REFUSED made them fail.
	return outcome{how: "nodata (no dns_server)"}
}

func localhostAnswer(t dnsmessage.Type) outcome {
	switch t {
	case dnsmessage.TypeA:
		return outcome{addrs: []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1})}, how: "localhost"}
	case dnsmessage.TypeAAAA:
		return outcome{addrs: []netip.Addr{netip.IPv6Loopback()}, how: "localhost"}
	}
	return outcome{how: "localhost"}
}

// reverse answers a PTR question for a that is known here: fake, in the
// hosts file, or loopback.
func (r *Resolver) reverse(a netip.Addr) (outcome, bool) {
	a = a.Unmap()
	switch {
	case r.pool.Contains(a):
		if name, ok := r.pool.Name(a); ok {
			return outcome{ptr: name, how: "remote"}, true
		}
		return outcome{rcode: dnsmessage.RCodeNameError, how: "nxdomain",
			err: fmt.Errorf("fakedns: fake address %v is not mapped", a)}, true
	case r.hosts.names[a] != "":
		return outcome{ptr: r.hosts.names[a], how: "hosts"}, true
	case a.IsLoopback():
		return outcome{ptr: "localhost", how: "localhost"}, true
	}
	return outcome{}, false
}

// fake answers A or AAAA with the name's fake address.
func (r *Resolver) fake(name string, t dnsmessage.Type) outcome {
	if t == dnsmessage.TypeAAAA && !r.pool.IPv6() {
		return outcome{how: "nodata"}
	}
	v4, v6, err := r.pool.Assign(name)
	switch {
	case errors.Is(err, ErrInvalidName):
		return outcome{rcode: dnsmessage.RCodeNameError, how: "nxdomain", err: err}
	case err != nil:
		return outcome{rcode: dnsmessage.RCodeServerFailure, how: "servfail", err: err}
	case t == dnsmessage.TypeA:
		return outcome{addrs: []netip.Addr{v4}, how: "remote"}
	}
	return outcome{addrs: []netip.Addr{v6}, how: "remote"}
}

// forward passes the query as it is to ex.
func (r *Resolver) forward(ctx context.Context, ex Exchanger, req *request, how string) outcome {
	reply, err := ex.Exchange(ctx, req.raw)
	if err != nil {
		return outcome{rcode: dnsmessage.RCodeServerFailure, how: "servfail",
			err: fmt.Errorf("fakedns: %s query: %w", how, err)}
	}
	return outcome{raw: reply, how: how}
}

// tor answers A or AAAA with Tor's RESOLVE: the address it returns answers
// the question of its family only.
func (r *Resolver) tor(ctx context.Context, name string, t dnsmessage.Type) outcome {
	n, ok := normalizeName(name)
	if !ok {
		return outcome{rcode: dnsmessage.RCodeNameError, how: "nxdomain", err: fmt.Errorf("%w: %q", ErrInvalidName, name)}
	}
	a, err := r.torResolve(ctx, n)
	if err != nil {
		return torFailure(fmt.Errorf("fakedns: tor-resolve %s: %w", n, err))
	}
	a = a.Unmap().WithZone("")
	if !a.IsValid() {
		return torFailure(fmt.Errorf("fakedns: tor-resolve %s: no address", n))
	}
	r.real.add(a, n)
	if a.Is4() != (t == dnsmessage.TypeA) {
		return outcome{how: "tor-resolve"}
	}
	return outcome{addrs: []netip.Addr{a}, how: "tor-resolve"}
}

// torPTR answers a PTR question with Tor's RESOLVE_PTR.
func (r *Resolver) torPTR(ctx context.Context, a netip.Addr) outcome {
	name, err := r.torResolvePTR(ctx, a)
	if err != nil {
		return torFailure(fmt.Errorf("fakedns: tor-resolve PTR %v: %w", a, err))
	}
	n, ok := normalizeName(name)
	if !ok {
		return torFailure(fmt.Errorf("fakedns: tor-resolve PTR %v: %w: %q", a, ErrInvalidName, name))
	}
	return outcome{ptr: n, how: "tor-resolve"}
}

// torFailure is NXDOMAIN when Tor said the host is unreachable (SOCKS
// reply 4, as Tor answers a name it cannot resolve), else SERVFAIL.
func torFailure(err error) outcome {
	if errors.Is(err, syscall.EHOSTUNREACH) {
		return outcome{rcode: dnsmessage.RCodeNameError, how: "nxdomain", err: err}
	}
	return outcome{rcode: dnsmessage.RCodeServerFailure, how: "servfail", err: err}
}

// lowerASCII returns s in ASCII lower case, allocating only when needed.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
