package fakedns

import (
	"context"
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// FuzzAnswer feeds arbitrary bytes to Answer in every mode: it must never
// panic, and a reply must parse and carry the query's ID.
func FuzzAnswer(f *testing.F) {
	for _, q := range [][]byte{
		makeQuery(f, 1, "example.com.", dnsmessage.TypeA, false),
		makeQuery(f, 2, "Example.COM.", dnsmessage.TypeAAAA, true),
		makeQuery(f, 3, "7.0.18.198.in-addr.arpa.", dnsmessage.TypePTR, false),
		makeQuery(f, 4, "example.com.", dnsmessage.TypeHTTPS, true),
		makeQuery(f, 5, "x.onion.", dnsmessage.TypeMX, false),
		makeQuery(f, 6, "localhost.", dnsmessage.TypeA, false),
		{0, 7, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0},
	} {
		f.Add(q)
	}
	var resolvers []*Resolver
	for _, mode := range []Mode{ModeRemote, ModeTunnel, ModeTorResolve} {
		pool, err := NewPool(PoolConfig{IPv4: netip.MustParsePrefix("198.18.0.0/28"), Capacity: 8})
		if err != nil {
			f.Fatal(err)
		}
		r, err := NewResolver(Config{
			Mode:      mode,
			Pool:      pool,
			HostsFile: writeFile(f, "hosts", testHosts),
			System:    answering("192.0.2.1"),
			Tunnel:    answering("192.0.2.2", "2001:db8::2", "MX mx.example"),
			Local:     func(n string) bool { return len(n)%5 == 0 },
			TorResolve: func(_ context.Context, name string) (netip.Addr, error) {
				if len(name)%2 == 0 {
					return netip.MustParseAddr("2001:db8::3"), nil
				}
				return netip.MustParseAddr("192.0.2.3"), nil
			},
			TorResolvePTR: func(context.Context, netip.Addr) (string, error) { return "ptr.example", nil },
			Log:           func(Event) {},
		})
		if err != nil {
			f.Fatal(err)
		}
		resolvers = append(resolvers, r)
	}
	f.Fuzz(func(t *testing.T, query []byte) {
		for _, r := range resolvers {
			reply := r.Answer(context.Background(), query)
			if reply == nil {
				if len(query) >= headerLen && query[2]&0x80 == 0 {
					t.Fatalf("query %x dropped", query)
				}
				continue
			}
			var m dnsmessage.Message
			if err := m.Unpack(reply); err != nil {
				t.Fatalf("reply %x to %x does not parse: %v", reply, query, err)
			}
			if m.Header.ID != binary.BigEndian.Uint16(query) || !m.Header.Response {
				t.Fatalf("reply header %+v to %x", m.Header, query)
			}
			if len(reply) > maxMsgLen {
				t.Fatalf("reply of %d bytes", len(reply))
			}
			// What the server would send over UDP parses too.
			if tr := truncate(query, reply, udpLimit(query)); tr != nil {
				if err := m.Unpack(tr); err != nil || len(tr) > udpLimit(query) {
					t.Fatalf("truncated reply %x: %v", tr, err)
				}
			}
		}
	})
}
