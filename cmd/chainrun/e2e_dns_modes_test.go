package main

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chainrun/chainrun/internal/testnet"
)

// The DNS modes end to end, beyond TestDNSEndToEnd's default remote mode:
// dns = "tunnel" against a real nameserver in the target namespace that
// only the proxy can reach, remote mode with a dns_server for the types it
// cannot fake, dns = "tor-resolve" against `chainrun serve` (which answers
// Tor's RESOLVE and RESOLVE_PTR with the proxy namespace's /etc/hosts),
// pool exhaustion, PTR of fake addresses, fake pools set in the profile and
// `config show`. The client's nameservers are the DNS logger throughout:
// any query that reaches them fails the test.

const (
	modesTargetPort = 8080
	modesMicrosocks = 1080 // microsocks, SOCKS5
	modesServe      = 1083 // chainrun serve, SOCKS5 with RESOLVE/RESOLVE_PTR
	modesTinyproxy  = 3128 // tinyproxy, HTTP
	modesCmdTimeout = 30 * time.Second

	// Names only the tunnel's nameserver (in the target namespace) knows.
	modesZone    = "tunnel.test"
	modesWWW     = "www." + modesZone
	modesNoSuch  = "nosuch." + modesZone
	modesSRVName = "_http._tcp." + modesZone
	modesOnion   = "abcdefghijklmnop.onion"
	// A name nobody knows, for tor-resolve: chainrun serve finds it in
	// neither the proxy's /etc/hosts nor its nameserver (nothing listens
	// on the proxy namespace's 127.0.0.1:53).
	modesTorNoSuch = "nosuch.chainrun.test"
)

var (
	modesOtherPool4 = netip.MustParsePrefix("198.18.128.0/20")
	modesOtherPool6 = netip.MustParsePrefix("fd63:1::/64")
	modesSmallPool4 = netip.MustParsePrefix("198.18.0.0/28")
	modesTXT        = "chainrun tunnel txt record"
)

// The profiles: all in one temporary proxychains.toml, chosen with -p.
const modesConfig = `
[proxies]
ms    = "socks5://10.77.0.1:1080"
serve = "socks5://10.77.0.1:1083"
tiny  = "http://10.77.0.1:3128"

[profiles.remote]
chain = ["ms"]

[profiles.tunnel]
chain = ["ms"]
dns = "tunnel"
dns_server = "10.78.0.2"

[profiles.remote-server]
chain = ["ms"]
dns_server = "10.78.0.2"

[profiles.tor]
chain = ["serve"]
dns = "tor-resolve"

[profiles.tor-http]
chain = ["tiny"]
dns = "tor-resolve"

[profiles.small-pool]
chain = ["ms"]
fake_ipv4 = "198.18.0.0/28"
fake_ipv6 = "off"

[profiles.other-pools]
chain = ["ms"]
fake_ipv4 = "198.18.128.0/20"
fake_ipv6 = "fd63:1::/64"
`

// dnsModes is one topology shared by the subtests: the DNS logger, the HTTP
// target, microsocks, chainrun serve, tinyproxy and the tunnel's
// nameserver.
type dnsModes struct {
	tp    *testnet.Topology
	dl    *testnet.DNSLogger
	ns    *testnet.DNSServer // on TargetIP:53, in the target namespace
	serve *testnet.Proc
	bin   string
	conf  string
}

func setupDNSModes(t *testing.T) *dnsModes {
	t.Helper()
	tp := testnet.New(t)
	e := &dnsModes{tp: tp, dl: tp.StartDNSLogger(t), bin: buildChainrun(t)}
	tp.StartHTTPTarget(t, modesTargetPort, 0)
	tp.StartMicrosocks(t, modesMicrosocks, "", "")
	tp.StartTinyproxy(t, modesTinyproxy, "", "")
	serveAddr := net.JoinHostPort(tp.ProxyClientSideIP.String(), strconv.Itoa(modesServe))
	e.serve = tp.Start(t, tp.Proxy, e.bin, "serve", "-v", "-l", serveAddr)
	tp.WaitListen(t, tp.Proxy, serveAddr)
	e.ns = tp.StartDNSServer(t, tp.Target, netip.AddrPortFrom(tp.TargetIP, 53), []testnet.DNSRecord{
		{Name: modesWWW, Type: "A", Data: tp.TargetIP.String()},
		{Name: modesWWW, Type: "AAAA", Data: tp.TargetIP6.String()},
		{Name: modesZone, Type: "MX", Data: "10 mail." + modesZone},
		{Name: modesZone, Type: "TXT", Data: modesTXT},
		{Name: modesSRVName, Type: "SRV", Data: "0 5 8080 " + modesWWW},
		{Name: testnet.ReverseName(tp.TargetIP), Type: "PTR", Data: modesWWW},
	})
	e.conf = filepath.Join(t.TempDir(), "proxychains.toml")
	if err := os.WriteFile(e.conf, []byte(modesConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	// The premises: the client reaches neither the target nor its
	// nameserver but through a proxy; the nameserver answers (the
	// proxy namespace asks it directly, over UDP and TCP).
	for _, addr := range []string{
		net.JoinHostPort(tp.TargetIP.String(), strconv.Itoa(modesTargetPort)),
		net.JoinHostPort(tp.TargetIP.String(), "53"),
	} {
		if c, err := tp.DialFrom(tp.Client, addr, time.Second); err == nil {
			c.Close()
			t.Fatalf("the client namespace reaches %s directly: the topology is broken", addr)
		}
	}
	for _, tcp := range []string{"+notcp", "+tcp"} {
		out, errOut, code := tp.Run(t, modesCmdTimeout, tp.Proxy, nil, "dig", "@"+tp.TargetIP.String(), "+short", "+time=3", "+tries=1", tcp, modesWWW, "A")
		if code != 0 || strings.TrimSpace(out) != tp.TargetIP.String() {
			t.Fatalf("dig %s from the proxy namespace to the tunnel's nameserver: exit %d\nstdout: %s\nstderr: %s", tcp, code, out, errOut)
		}
	}
	if q := e.ns.Take(); len(q) != 2 || q[0].Transport != "udp" || q[1].Transport != "tcp" {
		t.Fatalf("the tunnel's nameserver recorded %v, want one UDP and one TCP query", q)
	}
	return e
}

// noLeak fails the subtest, at its end, for any query that reached the
// client's nameservers while it ran.
func (e *dnsModes) noLeak(t *testing.T) {
	t.Cleanup(func() {
		e.dl.WaitQueries(1, 30*time.Millisecond) // a query still on its way
		e.dl.Check(t, t.Name())
	})
}

// run runs `chainrun -v -f CONF -p PROFILE -- ARGV` in the client
// namespace.
func (e *dnsModes) run(t *testing.T, profile string, argv ...string) (stdout, stderr string, code int) {
	t.Helper()
	args := append([]string{e.bin, "-v", "-f", e.conf, "-p", profile, "--"}, argv...)
	return e.tp.Run(t, modesCmdTimeout, e.tp.Client, nil, args...)
}

// digArgs is dig asking the client's nameserver (that is, chainrun) for
// name and qtype, one try of at most 3 s.
func digArgs(name, qtype string, extra ...string) []string {
	return append([]string{"dig", "@" + testnet.ClientNameserver.String(), "+time=3", "+tries=1", name, qtype}, extra...)
}

// digStatus is the status dig printed ("NOERROR", "NXDOMAIN", …).
func digStatus(out string) string {
	m := regexp.MustCompile(`status: ([A-Z]+)`).FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	return m[1]
}

// fromProxy returns the questions ("NAME TYPE", sorted, without
// repeats: glibc may ask both nameservers) that the tunnel's nameserver got
// since the last call, and fails the test for any that did not come over
// TCP from the proxy's target-side address: the tunnel is DNS-over-TCP
// through the proxy, the client cannot reach the server at all.
func (e *dnsModes) fromProxy(t *testing.T) []string {
	t.Helper()
	var got []string
	for _, q := range e.ns.Take() {
		got = append(got, q.Name+" "+q.Type)
		if q.Transport != "tcp" || q.Source.Addr() != e.tp.ProxyTargetSideIP {
			t.Errorf("the tunnel's nameserver got %s: want TCP from the proxy (%s)", q, e.tp.ProxyTargetSideIP)
		}
	}
	slices.Sort(got)
	return slices.Compact(got)
}

// tunnelled checks that the tunnel's nameserver got exactly the questions
// want ("NAME TYPE") since the last check, through the proxy.
func (e *dnsModes) tunnelled(t *testing.T, want ...string) {
	t.Helper()
	got := e.fromProxy(t)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("the tunnel's nameserver got questions %q, want %q", got, want)
	}
}

// addrsIn returns the IP addresses in out, in order, failing the test for
// those outside every prefix of in.
func addrsIn(t *testing.T, out string, in ...netip.Prefix) []netip.Addr {
	t.Helper()
	var addrs []netip.Addr
	for _, w := range ipLike.FindAllString(out, -1) {
		a, err := netip.ParseAddr(strings.Trim(w, "[]"))
		if err != nil {
			continue
		}
		if !slices.ContainsFunc(in, func(p netip.Prefix) bool { return p.Contains(a) }) {
			t.Errorf("address %s is outside %v\n%s", a, in, out)
		}
		addrs = append(addrs, a)
	}
	return addrs
}

func TestDNSModesEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests are not short")
	}
	testnet.NeedCommand(t, "curl")
	testnet.NeedCommand(t, "dig")
	testnet.NeedCommand(t, "getent")
	e := setupDNSModes(t)
	page := testnet.TargetPage
	target4 := netip.PrefixFrom(e.tp.TargetIP, 32)
	target6 := netip.PrefixFrom(e.tp.TargetIP6, 128)
	curl := func(name string, extra ...string) []string {
		url := "http://" + net.JoinHostPort(name, strconv.Itoa(modesTargetPort)) + "/index.html"
		return append(append([]string{"curl", "-sS", "--noproxy", "*", "--max-time", "20"}, extra...), url)
	}
	microsocks := proxyURL("socks5", modesMicrosocks)

	// dns = "tunnel": every question goes as DNS-over-TCP through
	// microsocks to the nameserver in the target namespace; real answers.
	t.Run("tunnel", func(t *testing.T) {
		e.fromProxy(t)
		t.Run("getent gets the real addresses", func(t *testing.T) {
			e.noLeak(t)
			out, errOut, code := e.run(t, "tunnel", "sh", "-c", `getent ahostsv4 "$1" && getent ahostsv6 "$1"`, "sh", modesWWW)
			if code != 0 || !strings.Contains(out, e.tp.TargetIP.String()+" ") || !strings.Contains(out, e.tp.TargetIP6.String()+" ") {
				t.Fatalf("exit %d, want %s and %s\nstdout: %s\nstderr: %s", code, e.tp.TargetIP, e.tp.TargetIP6, out, errOut)
			}
			addrsIn(t, out, target4, target6)
			if !regexp.MustCompile(`(?m)^chainrun: dns ` + regexp.QuoteMeta(modesWWW) + ` A -> 10\.78\.0\.2 \(tunnel\)`).MatchString(errOut) {
				t.Errorf("-v shows no tunnelled answer for %s:\n%s", modesWWW, errOut)
			}
			e.tunnelled(t, modesWWW+" A", modesWWW+" AAAA")
		})
		t.Run("curl by name", func(t *testing.T) {
			e.noLeak(t)
			out, errOut, code := e.run(t, "tunnel", curl(modesWWW, "-4")...)
			if code != 0 || !strings.Contains(out, page) {
				t.Fatalf("exit %d, want the page\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			// chainrun: curl[42] tcp www.tunnel.test:8080 (10.78.0.2) via socks5://… ok 1.2ms
			// (or without the name: tcp 10.78.0.2:8080 via …)
			if !regexp.MustCompile(`(?m)^chainrun: curl\[\d+\] tcp (` + regexp.QuoteMeta(modesWWW) + `:8080 \(10\.78\.0\.2\)|10\.78\.0\.2:8080) via ` + regexp.QuoteMeta(microsocks) + ` ok`).MatchString(errOut) {
				t.Errorf("-v shows no connection to the real address via %s:\n%s", microsocks, errOut)
			}
			if got := e.fromProxy(t); !slices.Contains(got, modesWWW+" A") {
				t.Errorf("the tunnel's nameserver got %q, want %s A among them", got, modesWWW)
			}
		})
		t.Run("MX, TXT, SRV, PTR", func(t *testing.T) {
			e.noLeak(t)
			cases := []struct{ name, qtype, want, tcp string }{
				{modesZone, "MX", "10 mail." + modesZone + ".", "+notcp"},
				{modesZone, "MX", "10 mail." + modesZone + ".", "+tcp"}, // dig's own query over TCP
				{modesZone, "TXT", `"` + modesTXT + `"`, "+notcp"},
				{modesSRVName, "SRV", "0 5 8080 " + modesWWW + ".", "+notcp"},
			}
			for _, c := range cases {
				out, errOut, code := e.run(t, "tunnel", digArgs(c.name, c.qtype, "+short", c.tcp)...)
				if code != 0 || strings.TrimSpace(out) != c.want {
					t.Errorf("dig %s %s %s: exit %d, want %q\nstdout: %s\nstderr: %s", c.tcp, c.name, c.qtype, code, c.want, out, errOut)
				}
				e.tunnelled(t, c.name+" "+c.qtype)
			}
			out, errOut, code := e.run(t, "tunnel", "dig", "@"+testnet.ClientNameserver.String(), "+time=3", "+tries=1", "+short", "-x", e.tp.TargetIP.String())
			if code != 0 || strings.TrimSpace(out) != modesWWW+"." {
				t.Errorf("dig -x %s: exit %d, want %s.\nstdout: %s\nstderr: %s", e.tp.TargetIP, code, modesWWW, out, errOut)
			}
			e.tunnelled(t, testnet.ReverseName(e.tp.TargetIP)+" PTR")
		})
		t.Run("unknown name: NXDOMAIN", func(t *testing.T) {
			e.noLeak(t)
			out, errOut, code := e.run(t, "tunnel", digArgs(modesNoSuch, "A")...)
			if code != 0 || digStatus(out) != "NXDOMAIN" {
				t.Errorf("dig: exit %d, status %q, want NXDOMAIN\nstdout: %s\nstderr: %s", code, digStatus(out), out, errOut)
			}
			e.tunnelled(t, modesNoSuch+" A")
			out, errOut, code = e.run(t, "tunnel", curl(modesNoSuch)...)
			if code != 6 || !strings.Contains(errOut, "Could not resolve host") {
				t.Errorf("curl: exit %d, want 6 (could not resolve host)\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			e.fromProxy(t)
		})
	})

	// dns = "remote" with a dns_server: A and AAAA are still fake and
	// never asked of the server; the types remote DNS cannot fake go to it
	// through the chain.
	t.Run("remote with dns_server", func(t *testing.T) {
		e.noLeak(t)
		e.fromProxy(t)
		out, errOut, code := e.run(t, "remote-server", "sh", "-c", `getent ahostsv4 "$1" && getent ahostsv6 "$1"`, "sh", modesWWW)
		v4, v6 := fakeAddrs(t, out)
		if code != 0 || len(v4) == 0 || len(v6) == 0 {
			t.Errorf("getent: exit %d, want fake addresses\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		e.tunnelled(t) // none
		cases := []struct {
			argv  []string
			want  string
			asked string
		}{
			{digArgs(modesZone, "MX", "+short"), "10 mail." + modesZone + ".", modesZone + " MX"},
			{digArgs(modesZone, "TXT", "+short"), `"` + modesTXT + `"`, modesZone + " TXT"},
			{digArgs(modesSRVName, "SRV", "+short"), "0 5 8080 " + modesWWW + ".", modesSRVName + " SRV"},
			{[]string{"dig", "@" + testnet.ClientNameserver.String(), "+time=3", "+tries=1", "+short", "-x", e.tp.TargetIP.String()},
				modesWWW + ".", testnet.ReverseName(e.tp.TargetIP) + " PTR"},
			{digArgs(modesWWW, "A", "+short"), "", ""}, // fake, not asked
		}
		for _, c := range cases {
			out, errOut, code := e.run(t, "remote-server", c.argv...)
			if c.want == "" {
				if v4, _ := fakeAddrs(t, out); code != 0 || len(v4) != 1 {
					t.Errorf("%q: exit %d, want one fake address\nstdout: %s\nstderr: %s", c.argv, code, out, errOut)
				}
				e.tunnelled(t)
				continue
			}
			if code != 0 || strings.TrimSpace(out) != c.want {
				t.Errorf("%q: exit %d, want %q\nstdout: %s\nstderr: %s", c.argv, code, c.want, out, errOut)
			}
			e.tunnelled(t, c.asked)
		}
	})

	// dns = "tor-resolve" with chainrun serve as the last hop: it answers
	// RESOLVE and RESOLVE_PTR from the proxy namespace's /etc/hosts.
	t.Run("tor-resolve", func(t *testing.T) {
		name := testnet.TargetName
		serve := proxyURL("socks5", modesServe)
		t.Run("getent and curl by name", func(t *testing.T) {
			e.noLeak(t)
			out, errOut, code := e.run(t, "tor", "sh", "-c", `getent ahostsv4 "$1" && getent hosts "$1"`, "sh", name)
			if code != 0 || !strings.Contains(out, e.tp.TargetIP.String()+" ") {
				t.Fatalf("getent: exit %d, want %s\nstdout: %s\nstderr: %s", code, e.tp.TargetIP, out, errOut)
			}
			addrsIn(t, out, target4) // RESOLVE gives one address, IPv4 first: AAAA is empty
			out, errOut, code = e.run(t, "tor", curl(name)...)
			if code != 0 || !strings.Contains(out, page) {
				t.Fatalf("curl: exit %d, want the page\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			if !regexp.MustCompile(`(?m)^chainrun: curl\[\d+\] tcp (` + regexp.QuoteMeta(name) + `:8080 \(10\.78\.0\.2\)|10\.78\.0\.2:8080) via ` + regexp.QuoteMeta(serve) + ` ok`).MatchString(errOut) {
				t.Errorf("-v shows no connection to the real address via %s:\n%s", serve, errOut)
			}
			if !strings.Contains(e.serve.Output(), `result="RESOLVE ok: `+e.tp.TargetIP.String()+`"`) {
				t.Errorf("chainrun serve logged no RESOLVE of %s:\n%s", name, e.serve.Output())
			}
		})
		t.Run("dig -x: RESOLVE_PTR", func(t *testing.T) {
			e.noLeak(t)
			out, errOut, code := e.run(t, "tor", "dig", "@"+testnet.ClientNameserver.String(), "+time=3", "+tries=1", "+short", "-x", e.tp.TargetIP.String())
			if code != 0 || strings.TrimSpace(out) != name+"." {
				t.Errorf("exit %d, want %s.\nstdout: %s\nstderr: %s", code, name, out, errOut)
			}
			if !strings.Contains(e.serve.Output(), `result="RESOLVE_PTR ok: `+name+`"`) {
				t.Errorf("chainrun serve logged no RESOLVE_PTR of %s:\n%s", e.tp.TargetIP, e.serve.Output())
			}
		})
		t.Run("unknown name: NXDOMAIN", func(t *testing.T) {
			e.noLeak(t)
			out, errOut, code := e.run(t, "tor", digArgs(modesTorNoSuch, "A")...)
			if code != 0 || digStatus(out) != "NXDOMAIN" {
				t.Errorf("dig: exit %d, status %q, want NXDOMAIN\nstdout: %s\nstderr: %s", code, digStatus(out), out, errOut)
			}
			out, errOut, code = e.run(t, "tor", curl(modesTorNoSuch)...)
			if code != 6 || !strings.Contains(errOut, "Could not resolve host") {
				t.Errorf("curl: exit %d, want 6 (could not resolve host)\nstdout: %s\nstderr: %s", code, out, errOut)
			}
		})
		t.Run(".onion: fake addresses, never sent", func(t *testing.T) {
			e.noLeak(t)
			out, errOut, code := e.run(t, "tor", "sh", "-c", `getent ahostsv4 "$1" && getent hosts "$1"`, "sh", modesOnion)
			v4, v6 := fakeAddrs(t, out)
			if code != 0 || len(v4) == 0 || len(v6) == 0 {
				t.Errorf("exit %d, want fake addresses\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			if strings.Contains(e.serve.Output(), modesOnion) {
				t.Errorf("chainrun serve was asked about %s:\n%s", modesOnion, e.serve.Output())
			}
		})
	})

	// tor-resolve needs a SOCKS5 last hop: with tinyproxy (HTTP) last,
	// a clear error in chainrun's log and SERVFAIL for the program, at
	// once.
	t.Run("tor-resolve with an http last hop", func(t *testing.T) {
		e.noLeak(t)
		start := time.Now()
		out, errOut, code := e.run(t, "tor-http", digArgs(testnet.TargetName, "A")...)
		if code != 0 || digStatus(out) != "SERVFAIL" {
			t.Errorf("dig: exit %d, status %q, want SERVFAIL\nstdout: %s\nstderr: %s", code, digStatus(out), out, errOut)
		}
		if !strings.Contains(errOut, "needs a SOCKS5 last hop") {
			t.Errorf("chainrun does not say why:\n%s", errOut)
		}
		out, errOut, code = e.run(t, "tor-http", "getent", "ahostsv4", testnet.TargetName)
		if code != 2 || out != "" {
			t.Errorf("getent: exit %d, want 2 and no address\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("two lookups took %v: something waited instead of failing", d)
		}
	})

	// A /28 holds 14 names. The 15th gets SERVFAIL while the pool is full
	// of names used less than the TTL (60 s) ago, and those names still
	// work. Recycling an idle name needs more than the TTL to pass: too
	// slow here; chain/fakedns's pool tests cover it with a fake clock.
	t.Run("pool exhaustion", func(t *testing.T) {
		e.noLeak(t)
		names := []string{testnet.TargetName}
		for i := 2; i <= 15; i++ {
			names = append(names, "p"+strconv.Itoa(i)+".pool.test")
		}
		// $1 is the URL, the names follow.
		script := `url=$1; shift
for n in "$@"; do
	out=$(getent ahostsv4 "$n"); rc=$?
	echo "$n rc=$rc $(printf '%s\n' "$out" | awk 'NR==1 {print $1}')"
done
getent ahostsv4 "$1" | awk 'NR==1 {print "again " $1}'
curl -sS --noproxy '*' --max-time 20 "$url"
`
		url := "http://" + net.JoinHostPort(testnet.TargetName, strconv.Itoa(modesTargetPort)) + "/index.html"
		out, errOut, code := e.run(t, "small-pool", append([]string{"sh", "-c", script, "sh", url}, names...)...)
		if code != 0 || !strings.Contains(out, page) {
			t.Errorf("curl after the pool filled up: exit %d, want the page\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		got := map[string]string{}
		var first, again string
		for _, l := range strings.Split(out, "\n") {
			f := strings.Fields(l)
			switch {
			case len(f) >= 2 && strings.HasPrefix(f[1], "rc="):
				got[f[0]] = strings.Join(f[1:], " ")
				if f[0] == names[0] && len(f) == 3 {
					first = f[2]
				}
			case len(f) == 2 && f[0] == "again":
				again = f[1]
			}
		}
		if again == "" || again != first {
			t.Errorf("%s got %q, then %q once the pool was full: want the same address", names[0], first, again)
		}
		// chainrun: curl[42] tcp target.chainrun.test:8080 (198.18.0.1) via socks5://… ok 1.2ms
		if !regexp.MustCompile(`(?m)^chainrun: curl\[\d+\] tcp ` + regexp.QuoteMeta(names[0]) + `:8080 \(` + regexp.QuoteMeta(first) + `\) via ` + regexp.QuoteMeta(microsocks) + ` ok`).MatchString(errOut) {
			t.Errorf("-v shows no connection to %s (%s) via %s:\n%s", names[0], first, microsocks, errOut)
		}
		seen := map[string]bool{}
		for i, n := range names {
			f := strings.Fields(got[n])
			if i == 14 {
				if got[n] != "rc=2" {
					t.Errorf("%s, the 15th name: %q, want rc=2 and no address", n, got[n])
				}
				continue
			}
			if len(f) != 2 || f[0] != "rc=0" {
				t.Errorf("%s, name %d: %q, want rc=0 and an address", n, i+1, got[n])
				continue
			}
			a, err := netip.ParseAddr(f[1])
			if err != nil || !modesSmallPool4.Contains(a) || seen[f[1]] {
				t.Errorf("%s: address %s, want a new one in %s", n, f[1], modesSmallPool4)
			}
			seen[f[1]] = true
		}
		if !regexp.MustCompile(`(?m)^chainrun: dns ` + regexp.QuoteMeta(names[14]) + ` A -> .*address pool exhausted`).MatchString(errOut) {
			t.Errorf("no chainrun log line says the pool is exhausted for %s:\n%s", names[14], errOut)
		}
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", out, errOut)
		}
	})

	// The address getent gave, asked back with PTR, names the name; an
	// address of the pool nobody has is NXDOMAIN.
	t.Run("PTR of a fake address", func(t *testing.T) {
		e.noLeak(t)
		script := `for fam in v4 v6; do
	a=$(getent ahosts$fam "$1" | awk 'NR==1 {print $1}')
	echo "addr $a"
	echo "dig $(dig @$2 +time=3 +tries=1 +short -x "$a")"
	echo "getent $(getent hosts "$a")"
done
dig @$2 +time=3 +tries=1 -x ` + dnsAbsentFake4
		out, errOut, code := e.run(t, "remote", "sh", "-c", script, "sh", testnet.TargetName, testnet.ClientNameserver.String())
		if code != 0 {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		lines := strings.Split(out, "\n")
		var addrs []string
		for i, l := range lines {
			a, ok := strings.CutPrefix(l, "addr ")
			if !ok {
				continue
			}
			addrs = append(addrs, a)
			if ip, err := netip.ParseAddr(a); err != nil || !fakePool4.Contains(ip) && !fakePool6.Contains(ip) {
				t.Errorf("getent gave %q, want a fake address", a)
			}
			if i+2 >= len(lines) || lines[i+1] != "dig "+testnet.TargetName+"." {
				t.Errorf("dig -x %s: want %s.\n%s", a, testnet.TargetName, out)
			}
			if i+2 >= len(lines) || !regexp.MustCompile(`^getent `+regexp.QuoteMeta(a)+`\s+`+regexp.QuoteMeta(testnet.TargetName)+`$`).MatchString(lines[i+2]) {
				t.Errorf("getent hosts %s: want %s\n%s", a, testnet.TargetName, out)
			}
		}
		if len(addrs) != 2 {
			t.Errorf("want an IPv4 and an IPv6 address\n%s\nstderr: %s", out, errOut)
		}
		if digStatus(out) != "NXDOMAIN" {
			t.Errorf("dig -x %s (never handed out): status %q, want NXDOMAIN\n%s", dnsAbsentFake4, digStatus(out), out)
		}
	})

	// Pools set in the profile. The default pools give this name
	// 198.18.195.221 (outside the /20) and an address under
	// fd63:6861:696e::/64, so an answer inside the prefixes comes from them.
	t.Run("fake pools from the profile", func(t *testing.T) {
		e.noLeak(t)
		name := testnet.TargetName
		out, errOut, code := e.run(t, "other-pools", "sh", "-c", `getent ahostsv4 "$1" && getent ahostsv6 "$1"`, "sh", name)
		addrs := addrsIn(t, out, modesOtherPool4, modesOtherPool6)
		if code != 0 || !slices.ContainsFunc(addrs, netip.Addr.Is4) || !slices.ContainsFunc(addrs, netip.Addr.Is6) {
			t.Errorf("getent: exit %d, want addresses in %s and %s\nstdout: %s\nstderr: %s", code, modesOtherPool4, modesOtherPool6, out, errOut)
		}
		for _, c := range []struct {
			flag string
			pool netip.Prefix
		}{{"-4", modesOtherPool4}, {"-6", modesOtherPool6}} {
			out, errOut, code := e.run(t, "other-pools", curl(name, c.flag)...)
			if code != 0 || !strings.Contains(out, page) {
				t.Errorf("curl %s: exit %d, want the page\nstdout: %s\nstderr: %s", c.flag, code, out, errOut)
				continue
			}
			m := regexp.MustCompile(`(?m)^chainrun: curl\[\d+\] tcp ` + regexp.QuoteMeta(name) + `:8080 \(([0-9a-f:.]+)\) via ` + regexp.QuoteMeta(microsocks) + ` ok`).FindStringSubmatch(errOut)
			if m == nil {
				t.Errorf("curl %s: -v shows no connection by name:\n%s", c.flag, errOut)
				continue
			}
			if a, err := netip.ParseAddr(m[1]); err != nil || !c.pool.Contains(a) {
				t.Errorf("curl %s connected to %s, want an address in %s", c.flag, m[1], c.pool)
			}
		}
	})

	t.Run("config show", func(t *testing.T) {
		// Sources name the file by its base name.
		src := func(profile, key string) string {
			return "(" + filepath.Base(e.conf) + ": profiles." + profile + "." + key + ")"
		}
		cases := []struct {
			profile string
			want    []string // whole lines, spaces squeezed
			absent  string
		}{
			{"tunnel", []string{"dns tunnel " + src("tunnel", "dns"), "dns_server 10.78.0.2:53 " + src("tunnel", "dns_server"),
				"fake_ipv4 198.18.0.0/15 (default)", "fake_ipv6 fd63:6861:696e::/64 (default)"}, ""},
			{"remote-server", []string{"dns remote (default)", "dns_server 10.78.0.2:53 " + src("remote-server", "dns_server")}, ""},
			{"tor", []string{"dns tor-resolve " + src("tor", "dns")}, "dns_server"},
			{"small-pool", []string{"dns remote (default)", "fake_ipv4 198.18.0.0/28 " + src("small-pool", "fake_ipv4"),
				"fake_ipv6 off " + src("small-pool", "fake_ipv6")}, "dns_server"},
			{"other-pools", []string{"fake_ipv4 198.18.128.0/20 " + src("other-pools", "fake_ipv4"),
				"fake_ipv6 fd63:1::/64 " + src("other-pools", "fake_ipv6")}, "dns_server"},
		}
		for _, c := range cases {
			out, errOut, code := e.tp.Run(t, modesCmdTimeout, "", nil, e.bin, "config", "show", "-f", e.conf, "-p", c.profile)
			if code != 0 {
				t.Errorf("config show -p %s: exit %d\nstdout: %s\nstderr: %s", c.profile, code, out, errOut)
				continue
			}
			var lines []string
			for _, l := range strings.Split(out, "\n") {
				lines = append(lines, strings.Join(strings.Fields(l), " "))
			}
			for _, w := range c.want {
				if !slices.Contains(lines, w) {
					t.Errorf("config show -p %s: no line %q in\n%s", c.profile, w, out)
				}
			}
			if c.absent != "" && strings.Contains(out, c.absent) {
				t.Errorf("config show -p %s: %q should not be there\n%s", c.profile, c.absent, out)
			}
		}
	})
}
