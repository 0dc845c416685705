package fakedns

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

const testHosts = `# a hosts file, with garbage
127.0.0.1	localhost
::1	localhost ip6-localhost
10.1.2.3	Printer.LAN printer   # a comment
fd00::7	printer.lan
10.9.9.9	v4only.lan
fd00::9	v6only.lan
this is not an address
300.1.1.1	bad.lan
10.1.1.1
	10.4.4.4	indented.lan
`

// testResolver returns a resolver over a pool with a fake clock and the
// test hosts file, changed by edit.
func testResolver(t *testing.T, edit func(*Config)) (*Resolver, *eventLog) {
	t.Helper()
	pool := mustPool(t, PoolConfig{})
	log := &eventLog{}
	cfg := Config{
		Mode:      ModeRemote,
		Pool:      pool,
		System:    failing(errors.New("no system DNS in tests")),
		HostsFile: writeFile(t, "hosts", testHosts),
		Log:       log.add,
	}
	if edit != nil {
		edit(&cfg)
	}
	r, err := NewResolver(cfg)
	if err != nil {
		t.Fatalf("NewResolver: %v", err)
	}
	return r, log
}

// fakeOf is the fake address Assign gives name in the default pool.
func fakeOf(t *testing.T, name string, v6 bool) string {
	p := mustPool(t, PoolConfig{})
	a4, a6, err := p.Assign(name)
	if err != nil {
		t.Fatal(err)
	}
	if v6 {
		return a6.String()
	}
	return a4.String()
}

func TestResolverPolicy(t *testing.T) {
	A, AAAA, PTR := dnsmessage.TypeA, dnsmessage.TypeAAAA, dnsmessage.TypePTR
	ok, nx, sf := dnsmessage.RCodeSuccess, dnsmessage.RCodeNameError, dnsmessage.RCodeServerFailure
	tunnel := func(c *Config) { c.Tunnel = answering("203.0.113.5", "MX mail.example") }
	torOK := func(addr string) func(*Config) {
		return func(c *Config) {
			c.Mode = ModeTorResolve
			c.TorResolve = func(_ context.Context, name string) (netip.Addr, error) {
				if name != "tor.example" {
					return netip.Addr{}, fmt.Errorf("asked %q", name)
				}
				return netip.MustParseAddr(addr), nil
			}
			c.TorResolvePTR = func(_ context.Context, a netip.Addr) (string, error) {
				return "ptr.example", nil
			}
		}
	}
	torErr := func(err error) func(*Config) {
		return func(c *Config) {
			c.Mode = ModeTorResolve
			c.TorResolve = func(context.Context, string) (netip.Addr, error) { return netip.Addr{}, err }
		}
	}
	local := func(c *Config) {
		c.Local = func(n string) bool { return n == "intranet.corp" || strings.HasSuffix(n, ".corp") }
		c.System = answering("192.168.1.10")
	}
	both := func(fs ...func(*Config)) func(*Config) {
		return func(c *Config) {
			for _, f := range fs {
				f(c)
			}
		}
	}
	// ptrOf maps example.com first, then asks its PTR.
	exampleFake := netip.MustParseAddr(fakeOf(t, "example.com", false))

	tests := []struct {
		name    string
		cfg     func(*Config)
		before  func(*Resolver)
		qname   string
		qtype   dnsmessage.Type
		rcode   dnsmessage.RCode
		answers []string // nil: NODATA or error
		how     string
		errHas  string
		tunnel  int32 // expected tunnel calls (when the case has a tunnel)
	}{
		{name: "localhost A", qname: "localhost.", qtype: A, rcode: ok, answers: []string{"127.0.0.1"}, how: "localhost"},
		{name: "localhost AAAA", qname: "LocalHost.", qtype: AAAA, rcode: ok, answers: []string{"::1"}, how: "localhost"},
		{name: "sub.localhost A", qname: "foo.bar.localhost.", qtype: A, rcode: ok, answers: []string{"127.0.0.1"}, how: "localhost"},
		{name: "localhost MX nodata", qname: "localhost.", qtype: dnsmessage.TypeMX, rcode: ok, how: "localhost"},
		{name: "localhost in tunnel mode", cfg: both(tunnel, func(c *Config) { c.Mode = ModeTunnel }), qname: "localhost.", qtype: A, rcode: ok, answers: []string{"127.0.0.1"}, how: "localhost"},
		{name: "localhost in tor mode", cfg: torErr(errors.New("must not be asked")), qname: "x.localhost.", qtype: AAAA, rcode: ok, answers: []string{"::1"}, how: "localhost"},
		{name: "notlocalhost is not", qname: "notlocalhost.", qtype: A, rcode: ok, answers: []string{fakeOf(t, "notlocalhost", false)}, how: "remote"},

		{name: "hosts A", qname: "printer.lan.", qtype: A, rcode: ok, answers: []string{"10.1.2.3"}, how: "hosts"},
		{name: "hosts AAAA", qname: "PRINTER.lan.", qtype: AAAA, rcode: ok, answers: []string{"fd00::7"}, how: "hosts"},
		{name: "hosts v4 only AAAA nodata", qname: "v4only.lan.", qtype: AAAA, rcode: ok, how: "hosts"},
		{name: "hosts v6 only A nodata", qname: "v6only.lan.", qtype: A, rcode: ok, how: "hosts"},
		{name: "hosts indented", qname: "indented.lan.", qtype: A, rcode: ok, answers: []string{"10.4.4.4"}, how: "hosts"},
		{name: "hosts bad address skipped", qname: "bad.lan.", qtype: A, rcode: ok, answers: []string{fakeOf(t, "bad.lan", false)}, how: "remote"},
		{name: "hosts in tunnel mode", cfg: both(tunnel, func(c *Config) { c.Mode = ModeTunnel }), qname: "printer.lan.", qtype: A, rcode: ok, answers: []string{"10.1.2.3"}, how: "hosts"},
		{name: "hosts PTR", qname: "3.2.1.10.in-addr.arpa.", qtype: PTR, rcode: ok, answers: []string{"printer.lan"}, how: "hosts"},
		{name: "loopback PTR", qname: "1.0.0.127.in-addr.arpa.", qtype: PTR, rcode: ok, answers: []string{"localhost"}, how: "hosts"},
		{name: "loopback PTR not in hosts", qname: "9.0.0.127.in-addr.arpa.", qtype: PTR, rcode: ok, answers: []string{"localhost"}, how: "localhost"},

		{name: "onion A remote", qname: "abc.onion.", qtype: A, rcode: ok, answers: []string{fakeOf(t, "abc.onion", false)}, how: "remote"},
		{name: "onion AAAA tunnel mode", cfg: both(tunnel, func(c *Config) { c.Mode = ModeTunnel }), qname: "abc.onion.", qtype: AAAA, rcode: ok, answers: []string{fakeOf(t, "abc.onion", true)}, how: "remote"},
		{name: "onion A tor mode", cfg: torErr(errors.New("must not be asked")), qname: "xyz.ONION.", qtype: A, rcode: ok, answers: []string{fakeOf(t, "xyz.onion", false)}, how: "remote"},
		{name: "onion MX nodata, never tunnelled", cfg: tunnel, qname: "abc.onion.", qtype: dnsmessage.TypeMX, rcode: ok, how: "nodata"},
		{name: "onion local rule ignored", cfg: both(local, func(c *Config) { c.Local = func(string) bool { return true } }), qname: "abc.onion.", qtype: A, rcode: ok, answers: []string{fakeOf(t, "abc.onion", false)}, how: "remote"},

		{name: "local A", cfg: local, qname: "intranet.corp.", qtype: A, rcode: ok, answers: []string{"192.168.1.10"}, how: "local"},
		{name: "local in tunnel mode", cfg: both(local, tunnel, func(c *Config) { c.Mode = ModeTunnel }), qname: "db.corp.", qtype: A, rcode: ok, answers: []string{"192.168.1.10"}, how: "local"},
		{name: "local failure", cfg: func(c *Config) { c.Local = func(string) bool { return true } }, qname: "x.corp.", qtype: A, rcode: sf, how: "servfail", errHas: "no system DNS"},

		{name: "remote A", qname: "Example.COM.", qtype: A, rcode: ok, answers: []string{fakeOf(t, "example.com", false)}, how: "remote"},
		{name: "remote AAAA", qname: "example.com.", qtype: AAAA, rcode: ok, answers: []string{fakeOf(t, "example.com", true)}, how: "remote"},
		{name: "remote AAAA ipv6 disabled", cfg: func(c *Config) { c.Pool, _ = NewPool(PoolConfig{DisableIPv6: true}) }, qname: "example.com.", qtype: AAAA, rcode: ok, how: "nodata"},
		{name: "remote HTTPS nodata", cfg: tunnel, qname: "example.com.", qtype: dnsmessage.TypeHTTPS, rcode: ok, how: "nodata"},
		{name: "remote SVCB nodata", qname: "_dns.example.com.", qtype: dnsmessage.TypeSVCB, rcode: ok, how: "nodata"},
		{name: "remote MX tunnel", cfg: tunnel, qname: "example.com.", qtype: dnsmessage.TypeMX, rcode: ok, answers: []string{"203.0.113.5", "MX mail.example"}, how: "tunnel", tunnel: 1},
		{name: "remote MX nodata", qname: "example.com.", qtype: dnsmessage.TypeMX, rcode: ok, how: "nodata (no dns_server)"},
		{name: "remote TXT nodata", qname: "example.com.", qtype: dnsmessage.TypeTXT, rcode: ok, how: "nodata (no dns_server)"},
		{name: "remote ANY nodata", qname: "example.com.", qtype: dnsmessage.TypeALL, rcode: ok, how: "nodata (no dns_server)"},
		{name: "remote TYPE123 tunnel", cfg: tunnel, qname: "example.com.", qtype: 123, rcode: ok, answers: []string{"203.0.113.5", "MX mail.example"}, how: "tunnel", tunnel: 1},
		{name: "remote PTR of fake", before: func(r *Resolver) { r.pool.Assign("example.com") }, qname: ReverseName(exampleFake) + ".", qtype: PTR, rcode: ok, answers: []string{"example.com"}, how: "remote"},
		{name: "remote PTR of fake v6", before: func(r *Resolver) { r.pool.Assign("example.com") }, qname: ReverseName(netip.MustParseAddr(fakeOf(t, "example.com", true))) + ".", qtype: PTR, rcode: ok, answers: []string{"example.com"}, how: "remote"},
		{name: "remote PTR of unmapped fake", cfg: tunnel, qname: "9.9.18.198.in-addr.arpa.", qtype: PTR, rcode: nx, how: "nxdomain"},
		{name: "remote PTR of real nodata", qname: "8.8.8.8.in-addr.arpa.", qtype: PTR, rcode: ok, how: "nodata (no dns_server)"},
		{name: "remote PTR of real tunnel", cfg: tunnel, qname: "8.8.8.8.in-addr.arpa.", qtype: PTR, rcode: ok, answers: []string{"203.0.113.5", "MX mail.example"}, how: "tunnel", tunnel: 1},
		{name: "remote name with space nxdomain", qname: "a b.example.", qtype: A, rcode: nx, how: "nxdomain", errHas: "invalid name"},
		{name: "remote pool exhausted", cfg: func(c *Config) { c.Pool, _ = NewPool(PoolConfig{Capacity: 1}) }, before: func(r *Resolver) { r.pool.Assign("first.example") }, qname: "second.example.", qtype: A, rcode: sf, how: "servfail", errHas: "exhausted"},

		{name: "tunnel A", cfg: both(tunnel, func(c *Config) { c.Mode = ModeTunnel }), qname: "example.com.", qtype: A, rcode: ok, answers: []string{"203.0.113.5", "MX mail.example"}, how: "tunnel", tunnel: 1},
		{name: "tunnel HTTPS", cfg: both(tunnel, func(c *Config) { c.Mode = ModeTunnel }), qname: "example.com.", qtype: dnsmessage.TypeHTTPS, rcode: ok, answers: []string{"203.0.113.5", "MX mail.example"}, how: "tunnel", tunnel: 1},
		{name: "tunnel PTR of unmapped fake", cfg: both(tunnel, func(c *Config) { c.Mode = ModeTunnel }), qname: "9.9.18.198.in-addr.arpa.", qtype: PTR, rcode: nx, how: "nxdomain", tunnel: 0},
		{name: "tunnel none configured", cfg: func(c *Config) { c.Mode = ModeTunnel }, qname: "example.com.", qtype: A, rcode: sf, how: "servfail", errHas: "dns_server"},
		{name: "tunnel failure", cfg: func(c *Config) { c.Mode = ModeTunnel; c.Tunnel = failing(errors.New("proxy down")) }, qname: "example.com.", qtype: A, rcode: sf, how: "servfail", errHas: "proxy down", tunnel: 1},
		{name: "tunnel upstream NXDOMAIN", cfg: func(c *Config) {
			c.Mode = ModeTunnel
			c.Tunnel = &fakeExchanger{fn: func(_ context.Context, q []byte) ([]byte, error) { return upstreamReply(q, dnsmessage.RCodeNameError) }}
		}, qname: "nope.example.", qtype: A, rcode: nx, how: "tunnel", tunnel: 1},
		{name: "tunnel bad upstream reply", cfg: func(c *Config) {
			c.Mode = ModeTunnel
			c.Tunnel = &fakeExchanger{fn: func(context.Context, []byte) ([]byte, error) { return []byte{1, 2, 3}, nil }}
		}, qname: "example.com.", qtype: A, rcode: sf, how: "servfail", errHas: "upstream reply", tunnel: 1},
		{name: "tunnel reply with other ID", cfg: func(c *Config) {
			c.Mode = ModeTunnel
			c.Tunnel = &fakeExchanger{fn: func(_ context.Context, q []byte) ([]byte, error) {
				b, err := upstreamReply(q, dnsmessage.RCodeSuccess, "203.0.113.5")
				b[0] ^= 0xff
				return b, err
			}}
		}, qname: "example.com.", qtype: A, rcode: sf, how: "servfail", errHas: "ID", tunnel: 1},

		{name: "tor A v4", cfg: torOK("203.0.113.9"), qname: "tor.example.", qtype: A, rcode: ok, answers: []string{"203.0.113.9"}, how: "tor-resolve"},
		{name: "tor A v6 nodata", cfg: torOK("2001:db8::9"), qname: "tor.example.", qtype: A, rcode: ok, how: "tor-resolve"},
		{name: "tor AAAA v6", cfg: torOK("2001:db8::9"), qname: "Tor.Example.", qtype: AAAA, rcode: ok, answers: []string{"2001:db8::9"}, how: "tor-resolve"},
		{name: "tor AAAA v4 nodata", cfg: torOK("203.0.113.9"), qname: "tor.example.", qtype: AAAA, rcode: ok, how: "tor-resolve"},
		{name: "tor mapped v4 is v4", cfg: torOK("::ffff:203.0.113.9"), qname: "tor.example.", qtype: A, rcode: ok, answers: []string{"203.0.113.9"}, how: "tor-resolve"},
		{name: "tor EHOSTUNREACH nxdomain", cfg: torErr(fmt.Errorf("socks: host unreachable: %w", syscall.EHOSTUNREACH)), qname: "gone.example.", qtype: A, rcode: nx, how: "nxdomain", errHas: "unreachable"},
		{name: "tor other error servfail", cfg: torErr(syscall.ECONNREFUSED), qname: "x.example.", qtype: AAAA, rcode: sf, how: "servfail"},
		{name: "tor PTR", cfg: torOK("203.0.113.9"), qname: "4.3.2.1.in-addr.arpa.", qtype: PTR, rcode: ok, answers: []string{"ptr.example"}, how: "tor-resolve"},
		{name: "tor PTR without RESOLVE_PTR nodata", cfg: torErr(errors.New("x")), qname: "4.3.2.1.in-addr.arpa.", qtype: PTR, rcode: ok, how: "nodata (no dns_server)"},
		{name: "tor HTTPS nodata", cfg: torOK("203.0.113.9"), qname: "tor.example.", qtype: dnsmessage.TypeHTTPS, rcode: ok, how: "nodata"},
		{name: "tor MX tunnel", cfg: both(torOK("203.0.113.9"), tunnel), qname: "example.com.", qtype: dnsmessage.TypeMX, rcode: ok, answers: []string{"203.0.113.5", "MX mail.example"}, how: "tunnel", tunnel: 1},
		{name: "tor MX nodata", cfg: torOK("203.0.113.9"), qname: "example.com.", qtype: dnsmessage.TypeMX, rcode: ok, how: "nodata (no dns_server)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, log := testResolver(t, tc.cfg)
			if tc.before != nil {
				tc.before(r)
			}
			q := makeQuery(t, 0xbeef, tc.qname, tc.qtype, false)
			reply := r.Answer(context.Background(), q)
			m := parseMsg(t, reply)
			if m.Header.ID != 0xbeef || !m.Header.Response || !m.Header.RecursionDesired || !m.Header.RecursionAvailable {
				t.Errorf("header %+v: want ID, QR, RD, RA", m.Header)
			}
			if m.Header.RCode != tc.rcode {
				t.Errorf("rcode %v, want %v", m.Header.RCode, tc.rcode)
			}
			if len(m.Questions) != 1 || m.Questions[0].Name.String() != tc.qname || m.Questions[0].Type != tc.qtype {
				t.Errorf("question %v, want %s %v echoed", m.Questions, tc.qname, tc.qtype)
			}
			if got := answerTexts(m); !slices.Equal(got, tc.answers) {
				t.Errorf("answers %q, want %q", got, tc.answers)
			}
			for _, rr := range m.Answers {
				if rr.Header.Name.String() != tc.qname {
					t.Errorf("owner %q, want the question as asked %q", rr.Header.Name, tc.qname)
				}
			}
			evs := log.all()
			if len(evs) != 1 {
				t.Fatalf("%d events, want 1: %+v", len(evs), evs)
			}
			ev := evs[0]
			if ev.How != tc.how {
				t.Errorf("How %q, want %q (err %v)", ev.How, tc.how, ev.Err)
			}
			if ev.Name != strings.TrimSuffix(tc.qname, ".") || ev.Type != typeString(tc.qtype) {
				t.Errorf("event name/type %q %q", ev.Name, ev.Type)
			}
			if ev.RCode != rcodeString(tc.rcode) {
				t.Errorf("event RCode %q, want %q", ev.RCode, rcodeString(tc.rcode))
			}
			if tc.errHas != "" && (ev.Err == nil || !strings.Contains(ev.Err.Error(), tc.errHas)) {
				t.Errorf("event Err %v, want it to mention %q", ev.Err, tc.errHas)
			}
			if tc.rcode == ok && ev.Err != nil {
				t.Errorf("event Err %v on success", ev.Err)
			}
			if f, isFake := r.tunnel.(*fakeExchanger); isFake && f.calls.Load() != tc.tunnel {
				t.Errorf("%d tunnel calls, want %d", f.calls.Load(), tc.tunnel)
			}
			if tc.rcode == ok && len(tc.answers) > 0 && !strings.HasPrefix(tc.answers[0], "MX") && len(ev.Answers) == 0 {
				t.Errorf("event without answers")
			}
		})
	}
}

func TestResolverMessageErrors(t *testing.T) {
	r, log := testResolver(t, nil)
	q := makeQuery(t, 7, "example.com.", dnsmessage.TypeA, true)
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), q...)) }
	two := dnsmessage.Message{Header: dnsmessage.Header{ID: 7}, Questions: []dnsmessage.Question{
		{Name: dnsmessage.MustNewName("a.example."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET},
		{Name: dnsmessage.MustNewName("b.example."), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET},
	}}
	twoB, _ := two.Pack()
	tests := []struct {
		name   string
		query  []byte
		drop   bool
		rcode  dnsmessage.RCode
		hasQ   bool
		how    string
		opcode dnsmessage.OpCode
	}{
		{name: "short", query: q[:11], drop: true},
		{name: "response", query: mutate(func(b []byte) []byte { b[2] |= 0x80; return b }), drop: true},
		{name: "no question", query: mutate(func(b []byte) []byte { b[5] = 0; return b[:12] }), rcode: dnsmessage.RCodeFormatError, how: "formerr"},
		{name: "two questions", query: twoB, rcode: dnsmessage.RCodeFormatError, how: "formerr"},
		{name: "truncated question", query: q[:20], rcode: dnsmessage.RCodeFormatError, how: "formerr"},
		{name: "opcode status", query: mutate(func(b []byte) []byte { b[2] |= 2 << 3; return b }), rcode: dnsmessage.RCodeNotImplemented, hasQ: true, how: "notimp", opcode: 2},
		{name: "opcode update", query: mutate(func(b []byte) []byte { b[2] |= 5 << 3; return b }), rcode: dnsmessage.RCodeNotImplemented, hasQ: true, how: "notimp", opcode: 5},
		{name: "class CH", query: mutate(func(b []byte) []byte {
			// The class is the 2 bytes after the question's type.
			i := 12 + len("\x07example\x03com\x00") + 2
			b[i], b[i+1] = 0, 3
			return b
		}), rcode: dnsmessage.RCodeRefused, hasQ: true, how: "refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(log.all())
			reply := r.Answer(context.Background(), tc.query)
			if tc.drop {
				if reply != nil {
					t.Fatalf("reply %x, want a drop", reply)
				}
				return
			}
			m := parseMsg(t, reply)
			if m.Header.RCode != tc.rcode || m.Header.ID != 7 || !m.Header.Response || m.Header.OpCode != tc.opcode {
				t.Errorf("header %+v, want rcode %v", m.Header, tc.rcode)
			}
			if (len(m.Questions) == 1) != tc.hasQ || len(m.Answers) != 0 {
				t.Errorf("questions %v answers %v", m.Questions, m.Answers)
			}
			evs := log.all()[before:]
			if len(evs) != 1 || evs[0].How != tc.how || evs[0].Err == nil {
				t.Errorf("events %+v, want one %q with an error", evs, tc.how)
			}
		})
	}
}

func TestResolverEDNS(t *testing.T) {
	r, _ := testResolver(t, nil)
	for _, edns := range []bool{false, true} {
		for _, qt := range []dnsmessage.Type{dnsmessage.TypeA, dnsmessage.TypeMX} {
			m := parseMsg(t, r.Answer(context.Background(), makeQuery(t, 1, "example.com.", qt, edns)))
			var opts []dnsmessage.Resource
			for _, rr := range m.Additionals {
				if rr.Header.Type == dnsmessage.TypeOPT {
					opts = append(opts, rr)
				}
			}
			if !edns {
				if len(opts) != 0 {
					t.Errorf("%v without EDNS: OPT in the reply", qt)
				}
				continue
			}
			if len(opts) != 1 || opts[0].Header.Class != 1232 || opts[0].Header.Name.String() != "." {
				t.Errorf("%v with EDNS: OPT %+v, want one with size 1232", qt, opts)
			}
		}
	}
	// EDNS version 1: BADVERS (extended RCode 16) with an OPT.
	q := makeQuery(t, 2, "example.com.", dnsmessage.TypeA, true)
	q[len(q)-11+6] = 1 // the OPT's version: name 1, type 2, class 2, ext-rcode 1
	reply := r.Answer(context.Background(), q)
	var p dnsmessage.Parser
	h, err := p.Start(reply)
	if err != nil {
		t.Fatal(err)
	}
	p.SkipAllQuestions()
	p.SkipAllAnswers()
	p.SkipAllAuthorities()
	oh, err := p.AdditionalHeader()
	if err != nil || oh.Type != dnsmessage.TypeOPT || oh.ExtendedRCode(h.RCode) != rcodeBadVers {
		t.Errorf("EDNS version 1: rcode %v, OPT %+v %v; want BADVERS", h.RCode, oh, err)
	}
}

func TestResolverNameOf(t *testing.T) {
	r, _ := testResolver(t, func(c *Config) {
		c.Mode = ModeTunnel
		c.Tunnel = answering("203.0.113.7", "2001:db8::7")
		c.Local = func(n string) bool { return n == "nas.home" }
		c.System = answering("192.168.0.5")
	})
	ctx := context.Background()
	r.Answer(ctx, makeQuery(t, 1, "WWW.Example.com.", dnsmessage.TypeA, false))
	r.Answer(ctx, makeQuery(t, 2, "nas.home.", dnsmessage.TypeA, false))
	r.Answer(ctx, makeQuery(t, 3, "hidden.onion.", dnsmessage.TypeA, false))
	for addr, want := range map[string]string{"203.0.113.7": "www.example.com", "2001:db8::7": "www.example.com", "::ffff:192.168.0.5": "nas.home"} {
		if name, fake, ok := r.NameOf(netip.MustParseAddr(addr)); !ok || fake || name != want {
			t.Errorf("NameOf(%s) = %q fake=%v ok=%v, want %q", addr, name, fake, ok, want)
		}
	}
	onion := netip.MustParseAddr(fakeOf(t, "hidden.onion", false))
	if name, fake, ok := r.NameOf(onion); !ok || !fake || name != "hidden.onion" {
		t.Errorf("NameOf(fake) = %q %v %v", name, fake, ok)
	}
	if _, fake, ok := r.NameOf(netip.MustParseAddr("198.18.200.200")); ok || !fake {
		t.Errorf("NameOf(unmapped fake): fake=%v ok=%v, want fake, not ok", fake, ok)
	}
	if _, _, ok := r.NameOf(netip.MustParseAddr("203.0.113.99")); ok {
		t.Error("NameOf of an unknown address is ok")
	}

	tr, _ := testResolver(t, func(c *Config) {
		c.Mode = ModeTorResolve
		c.TorResolve = func(context.Context, string) (netip.Addr, error) { return netip.MustParseAddr("203.0.113.8"), nil }
	})
	tr.Answer(ctx, makeQuery(t, 1, "tor.example.", dnsmessage.TypeA, false))
	if name, _, ok := tr.NameOf(netip.MustParseAddr("203.0.113.8")); !ok || name != "tor.example" {
		t.Errorf("NameOf(tor answer) = %q %v", name, ok)
	}
}

func TestRealNamesBounded(t *testing.T) {
	rn := newRealNames(3)
	for i := range 5 {
		rn.add(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), fmt.Sprint("n", i))
	}
	rn.get(netip.AddrFrom4([4]byte{10, 0, 0, 2})) // refresh: survives the next add
	rn.add(netip.AddrFrom4([4]byte{10, 0, 0, 9}), "n9")
	for i, want := range map[byte]bool{0: false, 1: false, 2: true, 3: false, 4: true, 9: true} {
		if _, ok := rn.get(netip.AddrFrom4([4]byte{10, 0, 0, i})); ok != want {
			t.Errorf("10.0.0.%d remembered %v, want %v", i, ok, want)
		}
	}
}

func TestResolverTimeout(t *testing.T) {
	r, log := testResolver(t, func(c *Config) {
		c.Mode = ModeTunnel
		c.Timeout = 50 * time.Millisecond
		c.Tunnel = &fakeExchanger{fn: func(ctx context.Context, _ []byte) ([]byte, error) {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(5 * time.Second):
				return nil, errors.New("context not bounded")
			}
		}}
	})
	start := time.Now()
	m := parseMsg(t, r.Answer(context.Background(), makeQuery(t, 1, "slow.example.", dnsmessage.TypeA, false)))
	if m.Header.RCode != dnsmessage.RCodeServerFailure || time.Since(start) > 2*time.Second {
		t.Errorf("rcode %v after %v", m.Header.RCode, time.Since(start))
	}
	if ev := log.all()[0]; !errors.Is(ev.Err, context.DeadlineExceeded) {
		t.Errorf("event Err %v, want DeadlineExceeded", ev.Err)
	}
}

func TestNewResolverErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Mode: "dns-over-carrier-pigeon"},
		{Mode: ModeTorResolve},
		{Timeout: -1},
		{HostsFile: t.TempDir()}, // a directory: unreadable
	} {
		if _, err := NewResolver(cfg); err == nil {
			t.Errorf("NewResolver(%+v) accepted", cfg)
		}
	}
	r, err := NewResolver(Config{HostsFile: "/nonexistent/hosts"})
	if err != nil || r.Mode() != ModeRemote || r.Pool() == nil {
		t.Errorf("defaults: %v %v", r, err)
	}
}

// TestHostsOnDemand: with HostsOnDemand, NewResolver does not read the
// hosts file; the first question does, and a file that cannot be read
// fails the questions (SERVFAIL) instead of NewResolver.
func TestHostsOnDemand(t *testing.T) {
	hosts := filepath.Join(t.TempDir(), "hosts")
	log := &eventLog{}
	r, err := NewResolver(Config{Pool: mustPool(t, PoolConfig{}), HostsFile: hosts, HostsOnDemand: true, Log: log.add})
	if err != nil {
		t.Fatalf("NewResolver: %v", err)
	}
	// Written after NewResolver: only a read at the first question sees it.
	if err := os.WriteFile(hosts, []byte(testHosts), 0o644); err != nil {
		t.Fatal(err)
	}
	m := parseMsg(t, r.Answer(context.Background(), makeQuery(t, 1, "printer.lan.", dnsmessage.TypeA, false)))
	if got := answerTexts(m); m.Header.RCode != dnsmessage.RCodeSuccess || !slices.Equal(got, []string{"10.1.2.3"}) {
		t.Errorf("printer.lan A: %v %q, want the hosts file's 10.1.2.3", m.Header.RCode, got)
	}

	log = &eventLog{}
	r, err = NewResolver(Config{Pool: mustPool(t, PoolConfig{}), HostsFile: t.TempDir(), HostsOnDemand: true, Log: log.add})
	if err != nil {
		t.Fatalf("NewResolver with an unreadable hosts file on demand: %v", err)
	}
	for range 2 {
		m := parseMsg(t, r.Answer(context.Background(), makeQuery(t, 2, "example.com.", dnsmessage.TypeA, false)))
		if m.Header.RCode != dnsmessage.RCodeServerFailure {
			t.Errorf("unreadable hosts file: rcode %v, want SERVFAIL", m.Header.RCode)
		}
	}
	for _, ev := range log.all() {
		if ev.Err == nil || !strings.Contains(ev.Err.Error(), "hosts file") {
			t.Errorf("event %+v: want the hosts file's error", ev)
		}
	}
}

func TestReverseNames(t *testing.T) {
	for _, s := range []string{"198.18.0.7", "0.0.0.0", "255.255.255.255", "fd63:6861:696e::1", "2001:db8::abcd:ef01"} {
		a := netip.MustParseAddr(s)
		got, ok := parseReverse(ReverseName(a))
		if !ok || got != a {
			t.Errorf("parseReverse(ReverseName(%v)) = %v %v", a, got, ok)
		}
	}
	for _, bad := range []string{"in-addr.arpa", "1.2.3.in-addr.arpa", "1.2.3.4.5.in-addr.arpa", "256.1.1.1.in-addr.arpa",
		"a.1.1.1.in-addr.arpa", "1..1.1.in-addr.arpa", "1.2.3.4.ip6.arpa", strings.Repeat("g.", 32) + "ip6.arpa", strings.Repeat("1.", 31) + "12.ip6.arpa", "example.com"} {
		if a, ok := parseReverse(bad); ok {
			t.Errorf("parseReverse(%q) = %v", bad, a)
		}
	}
}

func TestTypeString(t *testing.T) {
	for ty, want := range map[dnsmessage.Type]string{dnsmessage.TypeA: "A", dnsmessage.TypeAAAA: "AAAA", dnsmessage.TypeHTTPS: "HTTPS", 123: "TYPE123", dnsmessage.TypeALL: "ANY"} {
		if got := typeString(ty); got != want {
			t.Errorf("typeString(%d) = %q, want %q", ty, got, want)
		}
	}
}

func BenchmarkAnswerRemoteA(b *testing.B) {
	pool, _ := NewPool(PoolConfig{})
	r, err := NewResolver(Config{Pool: pool, HostsFile: "/nonexistent"})
	if err != nil {
		b.Fatal(err)
	}
	q := makeQuery(b, 1, "www.example.com.", dnsmessage.TypeA, true)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r.Answer(ctx, q)
	}
}

func TestHostsToleratesGarbage(t *testing.T) {
	ht := &hostsTable{addrs: map[string][]netip.Addr{}, names: map[netip.Addr]string{}}
	in := "10.0.0.1 " + strings.Repeat("x", 10000) + "\n\x00\xff\n10.0.0.2 ok.lan OK.lan ok.lan.\n::ffff:10.0.0.3 mapped.lan\nfe80::1%eth0 zoned.lan\n10.0.0.4 bad..name"
	if err := ht.parse(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"ok.lan": "10.0.0.2", "mapped.lan": "10.0.0.3"} {
		if got, _ := ht.lookup(name, false); len(got) != 1 || got[0].String() != want {
			t.Errorf("%s: %v, want [%s]", name, got, want)
		}
	}
	if got, _ := ht.lookup("zoned.lan", true); len(got) != 1 || got[0].String() != "fe80::1" {
		t.Errorf("zoned.lan: %v, want fe80::1 without its zone", got)
	}
	if len(ht.addrs) != 3 {
		t.Errorf("names %v, want ok.lan, mapped.lan, zoned.lan", ht.addrs)
	}
}
