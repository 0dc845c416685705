package testnet

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTB is a testing.TB whose failures and cleanups are the test's to
// look at: Errorf is recorded, Cleanup is run by runCleanups. Fatalf and
// everything else go to the real test.
type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	errs     []string
	cleanups []func()
	ran      bool
}

func newFakeTB(t *testing.T) *fakeTB {
	f := &fakeTB{TB: t}
	t.Cleanup(f.runCleanups) // in case the test stops before it runs them
	return f
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Error(args ...any) { f.Errorf("%s", fmt.Sprint(args...)) }

func (f *fakeTB) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}

func (f *fakeTB) runCleanups() {
	f.mu.Lock()
	if f.ran {
		f.mu.Unlock()
		return
	}
	f.ran = true
	cs := f.cleanups
	f.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}

func (f *fakeTB) errors() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.errs...)
}

// dnsQuestion builds a query for name and type qtype with id, RD set, and
// an EDNS OPT record as real resolvers add.
func dnsQuestion(id uint16, name string, qtype uint16) []byte {
	m := binary.BigEndian.AppendUint16(nil, id)
	m = append(m, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1)
	for _, l := range strings.Split(name, ".") {
		m = append(m, byte(len(l)))
		m = append(m, l...)
	}
	m = append(m, 0)
	m = binary.BigEndian.AppendUint16(m, qtype)
	m = append(m, 0, 1)
	m = append(m, 0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0) // OPT, 1232 bytes
	return m
}

// checkServfail checks that reply answers id with SERVFAIL and the question
// of query.
func checkServfail(t *testing.T, query, reply []byte) {
	t.Helper()
	if len(reply) < 12 {
		t.Fatalf("reply of %d bytes", len(reply))
	}
	if reply[0] != query[0] || reply[1] != query[1] {
		t.Errorf("reply id %x, want %x", reply[:2], query[:2])
	}
	flags := binary.BigEndian.Uint16(reply[2:])
	if flags&0x8000 == 0 || flags&0xf != 2 || flags&0x0100 == 0 {
		t.Errorf("reply flags %#04x, want QR, RD and rcode 2 (SERVFAIL)", flags)
	}
	if qd, rest := binary.BigEndian.Uint16(reply[4:]), reply[6:12]; qd != 1 || string(rest) != "\x00\x00\x00\x00\x00\x00" {
		t.Errorf("reply counts %x, want one question and nothing else", reply[4:12])
	}
	if n := len(query) - 11; len(reply) != n || string(reply[12:]) != string(query[12:n]) {
		t.Errorf("reply does not repeat the question: %x", reply)
	}
}

// TestAnswerServfail: the logger's answer (parseDNSQuery and the SERVFAIL
// or FORMERR reply) to good and malformed queries.
func TestAnswerServfail(t *testing.T) {
	ok := dnsQuestion(0x1234, "target.chainrun.test", 28)
	cases := []struct {
		name      string
		msg       []byte
		wantName  string
		wantType  string
		malformed string // substring of Malformed, "" for none
		rcode     int    // of the reply, -1 for no reply
	}{
		{"AAAA with EDNS", ok, "target.chainrun.test", "AAAA", "", 2},
		{"A", dnsQuestion(7, "a.b", 1), "a.b", "A", "", 2},
		{"HTTPS", dnsQuestion(7, "a.b", 65), "a.b", "HTTPS", "", 2},
		{"unknown type", dnsQuestion(7, "a.b", 999), "a.b", "TYPE999", "", 2},
		{"short", ok[:5], "", "", "shorter than a header", -1},
		{"response", append([]byte{0, 1, 0x81, 0x80}, ok[4:]...), "", "", "a response", -1},
		{"no question", append(append([]byte{}, ok[:4]...), make([]byte, 8)...), "", "", "no question", 1},
		{"name cut short", ok[:20], "", "", "Question.Name: insufficient data", 1},
		{"question cut short", ok[:12+22+2], "", "", "Question.Class: insufficient data", 1},
		{"compressed, looping", append(append([]byte{}, ok[:12]...), 0xc0, 12, 0, 1, 0, 1), "", "", "too many pointers", 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, reply := answerServfail(c.msg, true)
			if q.Name != c.wantName || q.Type != c.wantType {
				t.Errorf("got %q %q, want %q %q", q.Name, q.Type, c.wantName, c.wantType)
			}
			if (c.malformed == "") != (q.Malformed == "") || !strings.Contains(q.Malformed, c.malformed) {
				t.Errorf("Malformed = %q, want %q", q.Malformed, c.malformed)
			}
			switch {
			case c.rcode < 0 && reply != nil:
				t.Errorf("reply %x, want none", reply)
			case c.rcode >= 0 && (len(reply) < 12 || int(reply[3]&0xf) != c.rcode):
				t.Errorf("reply %x, want rcode %d", reply, c.rcode)
			case c.rcode == 2:
				checkServfail(t, c.msg, reply)
			}
		})
	}
}

// TestDNSLogger sends queries from the client namespace to both
// nameservers over UDP and TCP, with Go and with glibc (getent), checks
// that each is answered SERVFAIL and recorded, and that the cleanup fails
// the test for them.
func TestDNSLogger(t *testing.T) {
	tp := New(t)
	fake := newFakeTB(t)
	d := tp.StartDNSLogger(fake)

	out, _, _ := tp.Run(t, 10*time.Second, tp.Client, nil, "cat", "/etc/resolv.conf")
	if !strings.Contains(out, "nameserver 10.77.0.53\nnameserver fd77::53\n") {
		t.Errorf("client resolv.conf:\n%s", out)
	}

	var id uint16 = 0x4242
	for _, server := range []netip.Addr{ClientNameserver, ClientNameserver6} {
		for _, transport := range []string{"udp", "tcp"} {
			id++
			name := transport + "-" + strings.ReplaceAll(server.String(), ":", "-") + ".leak.chainrun.test"
			query := dnsQuestion(id, name, 1)
			var reply []byte
			err := InNS(tp.Client, func() error {
				c, err := net.DialTimeout(transport, netip.AddrPortFrom(server, 53).String(), 2*time.Second)
				if err != nil {
					return err
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if transport == "udp" {
					if _, err := c.Write(query); err != nil {
						return err
					}
					buf := make([]byte, 4096)
					n, err := c.Read(buf)
					reply = buf[:n]
					return err
				}
				msg := append(binary.BigEndian.AppendUint16(nil, uint16(len(query))), query...)
				// Twice on one connection: both are answered.
				if _, err := c.Write(append(msg, msg...)); err != nil {
					return err
				}
				for i := 0; i < 2; i++ {
					var l [2]byte
					if _, err := io.ReadFull(c, l[:]); err != nil {
						return err
					}
					reply = make([]byte, binary.BigEndian.Uint16(l[:]))
					if _, err := io.ReadFull(c, reply); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("%s query to %s: %v", transport, server, err)
			}
			checkServfail(t, query, reply)
			want := 1
			if transport == "tcp" {
				want = 2
			}
			got := d.Take()
			if len(got) != want {
				t.Fatalf("%s query to %s: recorded %v, want %d", transport, server, got, want)
			}
			for _, q := range got {
				if q.Name != name || q.Type != "A" || q.Transport != transport || q.Server != netip.AddrPortFrom(server, 53) || q.Malformed != "" {
					t.Errorf("recorded %+v", q)
				}
				if wantSrc := ClientIP; server.Is6() {
					if q.Source.Addr() != ClientIP6 {
						t.Errorf("source %s, want %s", q.Source, ClientIP6)
					}
				} else if q.Source.Addr() != wantSrc {
					t.Errorf("source %s, want %s", q.Source, wantSrc)
				}
			}
		}
	}
	if fake.errors() != nil {
		t.Errorf("taken queries failed the test: %q", fake.errors())
	}

	// glibc asks the first nameserver, gets SERVFAIL at once, asks the
	// second: the lookup fails fast (no timeout) and both are recorded.
	start := time.Now()
	_, _, code := tp.Run(t, 20*time.Second, tp.Client, nil, "getent", "ahostsv4", "getent.leak.chainrun.test")
	if code == 0 {
		t.Errorf("getent resolved a name that no one knows")
	}
	if el := time.Since(start); el > 4*time.Second {
		t.Errorf("getent took %v: the logger does not answer at once", el)
	}
	d.WaitQueries(2, 2*time.Second)
	servers := map[netip.Addr]bool{}
	for _, q := range d.Queries() {
		if q.Name == "getent.leak.chainrun.test" {
			servers[q.Server.Addr()] = true
		}
	}
	if !servers[ClientNameserver] || !servers[ClientNameserver6] {
		t.Errorf("getent's queries reached %v, want both nameservers; all: %v", servers, d.Queries())
	}

	// Check reports them, once.
	if d.Check(fake, "getent") {
		t.Errorf("Check found no leak")
	}
	errs := fake.errors()
	if len(errs) != 1 || !strings.Contains(errs[0], "DNS leak (getent):") || !strings.Contains(errs[0], "getent.leak.chainrun.test A over udp from 10.77.0.2:") {
		t.Errorf("Check reported %q", errs)
	}
	if !d.Check(fake, "again") || len(fake.errors()) != 1 {
		t.Errorf("Check reported the same queries twice: %q", fake.errors())
	}

	// A leak nobody checked fails the test at cleanup.
	if _, _, code := tp.Run(t, 20*time.Second, tp.Client, nil, "getent", "hosts", "late.leak.chainrun.test"); code == 0 {
		t.Errorf("getent resolved a name that no one knows")
	}
	d.WaitQueries(1, 2*time.Second)
	fake.runCleanups()
	errs = fake.errors()
	if len(errs) != 2 || !strings.HasPrefix(errs[1], "DNS leak: ") || !strings.Contains(errs[1], "late.leak.chainrun.test") ||
		strings.Contains(errs[1], "getent.leak.chainrun.test") {
		t.Errorf("cleanup reported %q", errs)
	}
	// The listeners are gone with the cleanup.
	err := InNS(tp.Client, func() error {
		c, err := net.DialTimeout("tcp", "10.77.0.53:53", time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
	if err == nil {
		t.Errorf("the logger still listens after its cleanup")
	}
	if n := runtime.NumGoroutine(); n > 200 {
		t.Errorf("%d goroutines after cleanup", n)
	}
}

// TestDNSLoggerAllowLeaks: no failure at cleanup after AllowLeaks, and none
// when nothing arrived.
func TestDNSLoggerAllowLeaks(t *testing.T) {
	tp := New(t)
	quiet, noisy := newFakeTB(t), newFakeTB(t)
	d := tp.StartDNSLogger(noisy)
	d.AllowLeaks()
	if _, _, code := tp.Run(t, 20*time.Second, tp.Client, nil, "getent", "ahostsv4", "allowed.leak.chainrun.test"); code == 0 {
		t.Errorf("getent resolved a name that no one knows")
	}
	if !d.WaitQueries(1, 2*time.Second) {
		t.Errorf("no query recorded")
	}
	noisy.runCleanups()
	if errs := noisy.errors(); errs != nil {
		t.Errorf("AllowLeaks, yet the cleanup reported %q", errs)
	}

	tp2 := New(t)
	tp2.StartDNSLogger(quiet)
	quiet.runCleanups()
	if errs := quiet.errors(); errs != nil {
		t.Errorf("no query, yet the cleanup reported %q", errs)
	}
}

// TestProxiesResolveNames: the proxies in the proxy namespace resolve
// [Target2Name] (and [TargetName]) with its hosts file, and reach the
// second target address.
func TestProxiesResolveNames(t *testing.T) {
	NeedCommand(t, "curl")
	tp := New(t)
	d := tp.StartDNSLogger(t)
	tp.StartHTTPTarget(t, 8080, 0)
	ln := tp.Listen(t, tp.Target, hostPort(Target2IP.String(), 8080))
	ln6 := tp.Listen(t, tp.Target, hostPort(Target2IP6.String(), 8080))
	for _, l := range []net.Listener{ln, ln6} {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "target2 %s\n", r.Context().Value(http.LocalAddrContextKey))
		}), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
	}

	out, _, code := tp.Run(t, 10*time.Second, tp.Proxy, nil, "getent", "ahosts", Target2Name)
	if code != 0 || !strings.Contains(out, "10.78.0.3") || !strings.Contains(out, "fd78::3") {
		t.Errorf("proxy ns: getent ahosts %s: exit %d, %q", Target2Name, code, out)
	}
	tp.StartMicrosocks(t, 1080, "", "")
	tp.StartDanted(t, 1081, "", "")
	tp.StartTinyproxy(t, 3128, "", "")
	tp.StartSSHSocks(t, 1082)
	for _, c := range []struct{ name, proxy string }{
		{"microsocks", "socks5h://10.77.0.1:1080"},
		{"danted", "socks5h://10.77.0.1:1081"},
		{"tinyproxy", "http://10.77.0.1:3128"},
		{"ssh -D socks4a", "socks4a://10.77.0.1:1082"},
	} {
		for _, u := range []string{
			"http://" + Target2Name + ":8080/",
			"http://" + TargetName + ":8080/index.html",
		} {
			out, errOut, code := tp.Run(t, 30*time.Second, tp.Client, nil, "curl", "-sS", "--max-time", "15", "-x", c.proxy, u)
			// "target2 10.78.0.3:8080" or "target2 [fd78::3]:8080":
			// which one is the proxy's choice.
			want := "target2 "
			if strings.Contains(u, TargetName+":") {
				want = TargetPage
			}
			if code != 0 || !strings.Contains(out, want) {
				t.Errorf("%s: curl -x %s %s: exit %d, %q, want %q\n%s", c.name, c.proxy, u, code, out, want, errOut)
			}
		}
	}
	d.Check(t, "curl through proxies that resolve the names")
}
