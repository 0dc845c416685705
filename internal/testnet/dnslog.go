package testnet

import (
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// ClientNameserver6 is the client namespace's second nameserver, an IPv6
// one, named in its resolv.conf once [Topology.StartDNSLogger] runs.
var ClientNameserver6 = netip.MustParseAddr("fd77::53")

// DNSLogger is a nameserver that answers nothing: it records every query and
// answers SERVFAIL at once (so a program that leaks a query does not hang on
// it). It is made by [Topology.StartDNSLogger].
type DNSLogger struct {
	dns   *dnsService
	allow atomic.Bool // no failure at cleanup
}

// StartDNSLogger puts the client namespace's nameservers, [ClientNameserver]
// (10.77.0.53) and [ClientNameserver6] (fd77::53), on the proxy namespace's
// client-side interface, names both in the client's resolv.conf (with
// "options timeout:1 attempts:1", so a resolver that gets no answer gives up
// soon), and listens on port 53 of both with UDP and TCP. Every query that arrives is recorded
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

	d := &DNSLogger{}
	var err error
	d.dns, err = startDNSService(tp.Proxy, []netip.AddrPort{
		netip.AddrPortFrom(ClientNameserver, 53), netip.AddrPortFrom(ClientNameserver6, 53)}, answerServfail)
	if err != nil {
		t.Fatalf("testnet: DNS logger in %s: %v", tp.Proxy, err)
	}
	t.Cleanup(func() {
		d.dns.close()
		if !d.allow.Load() {
			d.report(t, "")
		}
	})
	return d
}

// Queries returns every query recorded so far, in order of arrival (also
// those already checked or taken).
func (d *DNSLogger) Queries() []DNSQuery { return d.dns.queries.all() }

// Take returns the queries that arrived since the last Take or Check, and
// marks them as dealt with: a test that expects queries (a control run
// without chainrun) takes them, and they no longer fail it.
func (d *DNSLogger) Take() []DNSQuery { return d.dns.queries.take() }

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
func (d *DNSLogger) AllowLeaks() { d.allow.Store(true) }

// WaitQueries waits at most limit until at least n queries arrived since the
// last Take or Check and reports whether they did (a query that a program
// sends without waiting for the answer may arrive after the program ended).
func (d *DNSLogger) WaitQueries(n int, limit time.Duration) bool {
	return d.dns.queries.wait(n, limit)
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

// answerServfail answers the query msg SERVFAIL: the same id, opcode, RD
// bit and question, QR and RA set, no other records (FORMERR when it has no
// readable question, nothing when it is not a query).
func answerServfail(msg []byte, _ bool) (DNSQuery, []byte) {
	q, req, formerr := parseDNSQuery(msg)
	if q.Malformed != "" {
		return q, formerr
	}
	req.reply.RCode = dnsmessage.RCodeServerFailure
	return q, buildDNSReply(req.reply, &req.question, nil, false)
}
