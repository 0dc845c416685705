package fakedns

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// makeQuery builds a query with one question, with an EDNS OPT when edns.
func makeQuery(t testing.TB, id uint16, name string, typ dnsmessage.Type, edns bool) []byte {
	t.Helper()
	msg := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: id, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: dnsmessage.MustNewName(name), Type: typ, Class: dnsmessage.ClassINET}},
	}
	if edns {
		var h dnsmessage.ResourceHeader
		h.SetEDNS0(4096, dnsmessage.RCodeSuccess, false)
		msg.Additionals = []dnsmessage.Resource{{Header: h, Body: &dnsmessage.OPTResource{}}}
	}
	b, err := msg.Pack()
	if err != nil {
		t.Fatalf("packing query: %v", err)
	}
	return b
}

// parseMsg unpacks a whole message or fails the test.
func parseMsg(t testing.TB, b []byte) dnsmessage.Message {
	t.Helper()
	var m dnsmessage.Message
	if err := m.Unpack(b); err != nil {
		t.Fatalf("unpacking reply %x: %v", b, err)
	}
	return m
}

// answerTexts is the data of the answer records: addresses, PTR targets.
func answerTexts(m dnsmessage.Message) []string {
	var out []string
	for _, rr := range m.Answers {
		switch b := rr.Body.(type) {
		case *dnsmessage.AResource:
			out = append(out, netip.AddrFrom4(b.A).String())
		case *dnsmessage.AAAAResource:
			out = append(out, netip.AddrFrom16(b.AAAA).String())
		case *dnsmessage.PTRResource:
			out = append(out, strings.TrimSuffix(b.PTR.String(), "."))
		case *dnsmessage.MXResource:
			out = append(out, "MX "+strings.TrimSuffix(b.MX.String(), "."))
		default:
			out = append(out, rr.Header.Type.String())
		}
	}
	return out
}

// upstreamReply answers query as a real server would: the question echoed
// and the given records (addresses, or "MX name") owned by the question.
func upstreamReply(query []byte, rcode dnsmessage.RCode, data ...string) ([]byte, error) {
	var m dnsmessage.Message
	if err := m.Unpack(query); err != nil {
		return nil, err
	}
	if len(m.Questions) != 1 {
		return nil, errors.New("no question")
	}
	q := m.Questions[0]
	m.Header.Response, m.Header.RecursionAvailable, m.Header.RCode = true, true, rcode
	m.Answers = nil
	for _, d := range data {
		h := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 300}
		if mx, ok := strings.CutPrefix(d, "MX "); ok {
			h.Type = dnsmessage.TypeMX
			m.Answers = append(m.Answers, dnsmessage.Resource{Header: h, Body: &dnsmessage.MXResource{Pref: 10, MX: dnsmessage.MustNewName(mx + ".")}})
			continue
		}
		a := netip.MustParseAddr(d)
		if a.Is4() {
			h.Type = dnsmessage.TypeA
			m.Answers = append(m.Answers, dnsmessage.Resource{Header: h, Body: &dnsmessage.AResource{A: a.As4()}})
		} else {
			h.Type = dnsmessage.TypeAAAA
			m.Answers = append(m.Answers, dnsmessage.Resource{Header: h, Body: &dnsmessage.AAAAResource{AAAA: a.As16()}})
		}
	}
	return m.Pack()
}

// fakeExchanger answers with fn and counts its calls.
type fakeExchanger struct {
	fn    func(ctx context.Context, query []byte) ([]byte, error)
	calls atomic.Int32
}

func (f *fakeExchanger) Exchange(ctx context.Context, query []byte) ([]byte, error) {
	f.calls.Add(1)
	return f.fn(ctx, query)
}

// answering is an exchanger that answers every query with data.
func answering(data ...string) *fakeExchanger {
	return &fakeExchanger{fn: func(_ context.Context, q []byte) ([]byte, error) {
		return upstreamReply(q, dnsmessage.RCodeSuccess, data...)
	}}
}

// failing is an exchanger that always fails with err.
func failing(err error) *fakeExchanger {
	return &fakeExchanger{fn: func(context.Context, []byte) ([]byte, error) { return nil, err }}
}

// eventLog collects events.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) all() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.events...)
}

// writeFile writes content to a new file in a test's temporary directory.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// fakeClock is a settable clock for pools.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
