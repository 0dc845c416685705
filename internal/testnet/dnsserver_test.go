package testnet

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

var testDNSRecords = []DNSRecord{
	{"www.tunnel.test", "A", "10.78.0.2"},
	{"www.tunnel.test", "AAAA", "fd78::2"},
	{"tunnel.test", "MX", "10 mail.tunnel.test"},
	{"tunnel.test", "MX", "20 mail2.tunnel.test"},
	{"tunnel.test", "TXT", "v=chainrun tunnel"},
	{"_http._tcp.tunnel.test", "SRV", "0 5 8080 www.tunnel.test"},
	{ReverseName(netip.MustParseAddr("10.78.0.2")), "PTR", "www.tunnel.test"},
	{ReverseName(netip.MustParseAddr("fd78::2")), "PTR", "www.tunnel.test"},
}

func TestReverseName(t *testing.T) {
	for in, want := range map[string]string{
		"10.78.0.2":        "2.0.78.10.in-addr.arpa",
		"::ffff:10.78.0.2": "2.0.78.10.in-addr.arpa",
		"fd78::2":          "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.7.d.f.ip6.arpa",
	} {
		if got := ReverseName(netip.MustParseAddr(in)); got != want {
			t.Errorf("ReverseName(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestDNSServer asks the server on loopback with Go's own resolver, over
// UDP and TCP.
func TestDNSServer(t *testing.T) {
	s := startDNSServer(t, "", netip.MustParseAddrPort("127.0.0.1:0"), testDNSRecords)
	if s.Addr.Port() == 0 || s.Addr.Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("Addr %s", s.Addr)
	}
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, s.Addr.String())
			}}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// Final dots: no search domains, nothing but this server.
			addrs, err := r.LookupNetIP(ctx, "ip", "WWW.tunnel.test.")
			if err != nil || !slices.Contains(addrs, netip.MustParseAddr("10.78.0.2")) || !slices.Contains(addrs, netip.MustParseAddr("fd78::2")) {
				t.Errorf("A/AAAA: %v %v", addrs, err)
			}
			mx, err := r.LookupMX(ctx, "tunnel.test.")
			if err != nil || len(mx) != 2 || mx[0].Host != "mail.tunnel.test." || mx[0].Pref != 10 || mx[1].Host != "mail2.tunnel.test." {
				t.Errorf("MX: %v %v", mx, err)
			}
			txt, err := r.LookupTXT(ctx, "tunnel.test.")
			if err != nil || len(txt) != 1 || txt[0] != "v=chainrun tunnel" {
				t.Errorf("TXT: %q %v", txt, err)
			}
			_, srv, err := r.LookupSRV(ctx, "http", "tcp", "tunnel.test.")
			if err != nil || len(srv) != 1 || srv[0].Target != "www.tunnel.test." || srv[0].Port != 8080 || srv[0].Weight != 5 {
				t.Errorf("SRV: %v %v", srv, err)
			}
			for _, a := range []string{"10.78.0.2", "fd78::2"} {
				names, err := r.LookupAddr(ctx, a)
				if err != nil || len(names) != 1 || names[0] != "www.tunnel.test." {
					t.Errorf("PTR %s: %v %v", a, names, err)
				}
			}
			_, err = r.LookupNetIP(ctx, "ip4", "nosuch.tunnel.test.")
			var dnsErr *net.DNSError
			if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
				t.Errorf("unknown name: %v, want not found", err)
			}
			// Known name, no such type: NODATA, not NXDOMAIN.
			_, err = r.LookupMX(ctx, "www.tunnel.test.")
			if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
				t.Errorf("MX of a name without one: %v, want no records", err)
			}
		})
	}
	var tcp, udp int
	for _, q := range s.Queries() {
		if q.Source.Addr() != netip.MustParseAddr("127.0.0.1") || q.Server != s.Addr || q.Malformed != "" {
			t.Errorf("query recorded as %s", q)
		}
		switch q.Transport {
		case "tcp":
			tcp++
		case "udp":
			udp++
		}
	}
	if tcp == 0 || udp == 0 {
		t.Errorf("recorded %d UDP and %d TCP queries: %v", udp, tcp, s.Queries())
	}
}

// TestDNSServerWire checks the reply's header, the echoed question and
// EDNS, and NXDOMAIN, on raw messages.
func TestDNSServerWire(t *testing.T) {
	s := startDNSServer(t, "", netip.MustParseAddrPort("127.0.0.1:0"), testDNSRecords)
	query := func(name string, typ dnsmessage.Type, edns bool) []byte {
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 0x1234, RecursionDesired: true})
		b.StartQuestions()
		b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET})
		if edns {
			b.StartAdditionals()
			var h dnsmessage.ResourceHeader
			h.SetEDNS0(4096, 0, false)
			b.OPTResource(h, dnsmessage.OPTResource{})
		}
		m, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	exchangeTCP := func(msg []byte) dnsmessage.Message {
		c, err := net.DialTimeout("tcp", s.Addr.String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(msg))), msg...))
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		var m dnsmessage.Message
		if err := m.Unpack(buf); err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := exchangeTCP(query("Tunnel.TEST.", dnsmessage.TypeMX, true))
	if m.ID != 0x1234 || !m.Response || !m.RecursionDesired || m.RCode != dnsmessage.RCodeSuccess || len(m.Answers) != 2 {
		t.Errorf("MX reply: %+v", m.Header)
	}
	if len(m.Questions) != 1 || m.Questions[0].Name.String() != "Tunnel.TEST." || m.Answers[0].Header.Name.String() != "Tunnel.TEST." {
		t.Errorf("MX reply: question %v, answers %v: want the name as asked", m.Questions, m.Answers)
	}
	if len(m.Additionals) != 1 || m.Additionals[0].Header.Type != dnsmessage.TypeOPT {
		t.Errorf("MX reply with EDNS: additionals %v, want an OPT record", m.Additionals)
	}
	m = exchangeTCP(query("nosuch.tunnel.test.", dnsmessage.TypeA, false))
	if m.RCode != dnsmessage.RCodeNameError || len(m.Answers) != 0 || len(m.Additionals) != 0 {
		t.Errorf("unknown name: %+v %v %v, want NXDOMAIN without OPT", m.Header, m.Answers, m.Additionals)
	}
	if q := s.Queries(); len(q) != 2 || q[0].Name != "Tunnel.TEST" || q[0].Type != "MX" || q[1].Type != "A" {
		t.Errorf("recorded %v", q)
	}
}

func TestDNSServerBadRecord(t *testing.T) {
	for _, r := range []DNSRecord{
		{"x.test", "A", "fd78::2"},
		{"x.test", "AAAA", "10.0.0.1"},
		{"x.test", "MX", "mail.test"},
		{"x.test", "SRV", "1 2 x.test"},
		{"x.test", "TXT", strings.Repeat("x", 256)},
		{"x.test", "CNAME", "y.test"},
		{"x..test", "A", "10.0.0.1"},
	} {
		if _, err := parseDNSRecord(r); err == nil {
			t.Errorf("%q: no error", r)
		}
	}
}
