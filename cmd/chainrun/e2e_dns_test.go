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

// Remote DNS end to end: programs in the client namespace reach the target
// by a name that only the proxy namespace can resolve. Their DNS queries,
// whichever way they send them, must be answered by chainrun with fake
// addresses (198.18.0.0/15, fd63:6861:696e::/64), and a connect to a fake
// address must reach the proxy as a name. The client's nameservers
// (10.77.0.53, fd77::53) are a DNS logger: a query that reaches them is a
// leak and fails the test (case by case, and at the end).

const (
	dnsTargetPort   = 8080
	dnsMicrosocks   = 1080 // microsocks: socks5h
	dnsDanted       = 1081 // danted: socks5h (it has no SOCKS4a)
	dnsSSHSocks     = 1082 // ssh -D: socks4a
	dnsServe        = 1083 // chainrun serve: socks4a
	dnsTinyproxy    = 3128 // tinyproxy: http
	dnsSSHPort      = 22   // the two sshds, on TargetIP and Target2IP
	dnsCmdTimeout   = 30 * time.Second
	dnsAbsentFake4  = "198.18.200.200"          // inside the pool, never handed out
	dnsAbsentFake6  = "fd63:6861:696e::c8:c8c8" // same, IPv6
	dnsNoNameserver = "10.77.0.99"              // an address on the client's link where nothing is
)

var (
	fakePool4 = netip.MustParsePrefix("198.18.0.0/15")
	fakePool6 = netip.MustParsePrefix("fd63:6861:696e::/64")
	// ipLike finds the address-looking words in a program's output.
	ipLike = regexp.MustCompile(`[0-9a-fA-F:.]*[.:][0-9a-fA-F:.]+`)
)

// dnsE2E is one topology with the DNS logger, the target, the proxies and
// two sshds, shared by the subtests.
type dnsE2E struct {
	tp         *testnet.Topology
	dl         *testnet.DNSLogger
	bin        string
	progs      *testnet.Programs
	ssh1, ssh2 testnet.SSHClient // on TargetIP (TargetName4), Target2IP (Target2Name4)
	serve      *testnet.Proc
}

func proxyURL(scheme string, port int) string {
	return scheme + "://" + net.JoinHostPort(testnet.ProxyClientSideIP.String(), strconv.Itoa(port))
}

func setupDNSE2E(t *testing.T) *dnsE2E {
	t.Helper()
	tp := testnet.New(t)
	e := &dnsE2E{tp: tp, dl: tp.StartDNSLogger(t), progs: testnet.SharedPrograms()}
	e.bin = buildChainrun(t)
	tp.StartHTTPTarget(t, dnsTargetPort, 0)
	tp.StartMicrosocks(t, dnsMicrosocks, "", "")
	tp.StartDanted(t, dnsDanted, "", "")
	tp.StartSSHSocks(t, dnsSSHSocks)
	serveAddr := net.JoinHostPort(tp.ProxyClientSideIP.String(), strconv.Itoa(dnsServe))
	e.serve = tp.Start(t, tp.Proxy, e.bin, "serve", "-v", "-l", serveAddr)
	tp.WaitListen(t, tp.Proxy, serveAddr)
	tp.StartTinyproxy(t, dnsTinyproxy, "", "")
	e.ssh1 = tp.StartSSHD(t, tp.Target, net.JoinHostPort(tp.TargetIP.String(), strconv.Itoa(dnsSSHPort)))
	e.ssh2 = tp.StartSSHD(t, tp.Target, net.JoinHostPort(tp.Target2IP.String(), strconv.Itoa(dnsSSHPort)))
	// The premise: no way to the target but through a proxy.
	if c, err := tp.DialFrom(tp.Client, net.JoinHostPort(tp.TargetIP.String(), strconv.Itoa(dnsTargetPort)), time.Second); err == nil {
		c.Close()
		t.Fatal("the client namespace reaches the target directly: the topology is broken")
	}
	return e
}

// noLeak makes the subtest fail, at its end, for any query that reached the
// client's nameservers while it ran.
func (e *dnsE2E) noLeak(t *testing.T) {
	t.Cleanup(func() {
		e.dl.WaitQueries(1, 30*time.Millisecond) // a query still on its way
		e.dl.Check(t, t.Name())
	})
}

// run runs argv in the client namespace, with env added to the test's.
func (e *dnsE2E) run(t *testing.T, env []string, argv ...string) (stdout, stderr string, code int) {
	t.Helper()
	return e.tp.Run(t, dnsCmdTimeout, e.tp.Client, env, argv...)
}

// chainrun runs chainrun ARGS in the client namespace.
func (e *dnsE2E) chainrun(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return e.run(t, env, append([]string{e.bin}, args...)...)
}

// fakeAddrs returns the addresses in out that lie in the fake pools, in
// order, and fails the test for an address outside them.
func fakeAddrs(t *testing.T, out string) (v4, v6 []netip.Addr) {
	t.Helper()
	for _, w := range ipLike.FindAllString(out, -1) {
		a, err := netip.ParseAddr(strings.Trim(w, "[]"))
		if err != nil {
			continue
		}
		switch {
		case fakePool4.Contains(a):
			v4 = append(v4, a)
		case fakePool6.Contains(a):
			v6 = append(v6, a)
		default:
			t.Errorf("address %s is not a fake one: the name was resolved for real\n%s", a, out)
		}
	}
	return v4, v6
}

// one returns the single distinct address of addrs, failing when there is
// none or more than one.
func one(t *testing.T, what string, addrs []netip.Addr) netip.Addr {
	t.Helper()
	u := slices.Compact(slices.SortedFunc(slices.Values(addrs), netip.Addr.Compare))
	if len(u) != 1 {
		t.Errorf("%s: addresses %v, want one", what, u)
		return netip.Addr{}
	}
	return u[0]
}

func TestDNSEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests are not short")
	}
	testnet.NeedCommand(t, "curl")
	e := setupDNSE2E(t)
	p := func(name string) string { return e.progs.Path(t, name) }
	name := testnet.TargetName
	url := "http://" + net.JoinHostPort(name, strconv.Itoa(dnsTargetPort)) + "/index.html"
	microsocks := proxyURL("socks5h", dnsMicrosocks)
	noProxyEnv := []string{"http_proxy=", "HTTP_PROXY=", "https_proxy=", "all_proxy=", "ALL_PROXY=", "no_proxy="}

	// The logger is in the path: the same fetch without chainrun, or with
	// chainrun told to leave DNS alone, sends its queries there (and
	// fails, for nobody there knows the name).
	t.Run("control: the logger sees a query made without remote DNS", func(t *testing.T) {
		for _, argv := range [][]string{
			{"curl", "-sS", "--max-time", "10", url},
			{e.bin, "--dns", "local", "-x", microsocks, "curl", "-sS", "--max-time", "10", url},
		} {
			out, errOut, code := e.run(t, noProxyEnv, argv...)
			if code == 0 || strings.Contains(out, testnet.TargetPage) {
				t.Errorf("%q: exit %d, got the page without remote DNS?\nstdout: %s\nstderr: %s", argv, code, out, errOut)
			}
			e.dl.WaitQueries(1, 2*time.Second)
			got := e.dl.Take()
			seen := false
			for _, q := range got {
				seen = seen || q.Name == name
			}
			if !seen {
				t.Errorf("%q: the DNS logger saw no query for %s (saw %v): it would not see a leak either\nstderr: %s", argv, name, got, errOut)
			}
		}
	})

	t.Run("HTTP by name", func(t *testing.T) {
		proxies := []struct{ name, url string }{
			{"microsocks socks5h", microsocks},
			{"danted socks5h", proxyURL("socks5h", dnsDanted)},
			{"ssh -D socks4a", proxyURL("socks4a", dnsSSHSocks)},
			{"chainrun serve socks4a", proxyURL("socks4a", dnsServe)},
			{"tinyproxy http", proxyURL("http", dnsTinyproxy)},
		}
		programs := []struct {
			name string
			argv []string
			env  []string
		}{
			{"curl", []string{"curl", "-sS", "--noproxy", "*", "--max-time", "20", url}, nil},
			{"wget", []string{"wget", "-qO-", "--no-proxy", "-T", "20", "-t", "1", url}, nil},
			{"python3 urllib", []string{"python3", p("pyconnect"), url}, nil},
			{"static Go, pure-Go resolver", []string{p("gohttpget"), url}, []string{"GODEBUG=netdns=go"}},
			{"cgo Go, glibc resolver", []string{p("gocgoget"), url}, nil},
			{"C glibc getaddrinfo", []string{p("resolve_get"), name, strconv.Itoa(dnsTargetPort)}, nil},
			{"C musl getaddrinfo", []string{p("resolve_get_musl"), name, strconv.Itoa(dnsTargetPort)}, nil},
		}
		for _, px := range proxies {
			for _, pr := range programs {
				t.Run(px.name+"/"+pr.name, func(t *testing.T) {
					e.noLeak(t)
					env := append(append([]string{}, noProxyEnv...), pr.env...)
					out, errOut, code := e.chainrun(t, env, append([]string{"-v", "-x", px.url, "--"}, pr.argv...)...)
					if code != 0 || !strings.Contains(out, testnet.TargetPage) {
						t.Fatalf("exit %d, want 0 and the page\nstdout: %s\nstderr: %s", code, out, errOut)
					}
					if !strings.Contains(errOut, "via "+px.url) || !strings.Contains(errOut, name) {
						t.Errorf("-v does not show a connection to %s via %s:\n%s", name, px.url, errOut)
					}
				})
			}
		}
		// chainrun serve was given the name each time, never an address.
		if n, want := strings.Count(e.serve.Output(), "proto=socks4a user=- dst="+name+":8080 result=\"ok\""), len(programs); n != want {
			t.Errorf("chainrun serve logged %d SOCKS4a requests for %s, want %d:\n%s", n, name, want, e.serve.Output())
		}
	})

	t.Run("-v shows the answer and the connection by name", func(t *testing.T) {
		e.noLeak(t)
		out, errOut, code := e.chainrun(t, noProxyEnv, "-v", "-x", microsocks, "curl", "-sS", "--noproxy", "*", "--max-time", "20", "-4", url)
		if code != 0 || !strings.Contains(out, testnet.TargetPage) {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		t.Logf("chainrun -v:\n%s", errOut)
		dnsLine := regexp.MustCompile(`(?m)^chainrun: .*dns ` + regexp.QuoteMeta(name) + ` A -> (198\.1[89]\.\d+\.\d+) \(remote\)`)
		m := dnsLine.FindStringSubmatch(errOut)
		if m == nil {
			t.Fatalf("-v has no line matching %s:\n%s", dnsLine, errOut)
		}
		// chainrun: curl[42] tcp target.chainrun.test:8080 (198.18.3.7) via socks5h://10.77.0.1:1080 ok 1.1ms
		connLine := regexp.MustCompile(`(?m)^chainrun: curl\[\d+\] tcp ` + regexp.QuoteMeta(name) + `:8080 \(` + regexp.QuoteMeta(m[1]) + `\) via ` + regexp.QuoteMeta(microsocks) + ` ok`)
		if !connLine.MatchString(errOut) {
			t.Errorf("-v has no line matching %s:\n%s", connLine, errOut)
		}
	})

	t.Run("resolver tools", func(t *testing.T) {
		testnet.NeedCommand(t, "dig")
		testnet.NeedCommand(t, "host")
		ns4, ns6 := testnet.ClientNameserver.String(), testnet.ClientNameserver6.String()
		dig := func(server, qtype string, extra ...string) []string {
			return append([]string{"dig", "@" + server, "+short", "+time=3", "+tries=1", name, qtype}, extra...)
		}
		py := func(mode, server, qtype string) []string {
			return []string{"python3", p("pydnsquery"), mode, server, name, qtype}
		}
		cases := []struct {
			name   string
			argv   []string
			want   string // in stdout
			v4, v6 int    // fake addresses wanted in stdout
			// anyExit: the exit status does not matter.
			anyExit bool
		}{
			{"getent ahostsv4", []string{"getent", "ahostsv4", name}, name, 3, 0, false},
			{"getent hosts", []string{"getent", "hosts", name}, name, -1, -1, false},
			{"dig", dig(ns4, "A"), "", 1, 0, false},
			{"dig +tcp", dig(ns4, "A", "+tcp"), "", 1, 0, false},
			{"dig IPv6 nameserver", dig(ns6, "A"), "", 1, 0, false},
			{"dig AAAA", dig(ns4, "AAAA"), "", 0, 1, false},
			{"dig +tcp AAAA, IPv6 nameserver", dig(ns6, "AAAA", "+tcp"), "", 0, 1, false},
			{"dig, no nameserver at that address", dig(dnsNoNameserver, "A"), "", 1, 0, false},
			// host asks A, AAAA and MX: without a dns_server the MX
			// question gets an empty answer and host succeeds.
			{name: "host", argv: []string{"host", "-W", "3", name}, want: name + " has address 198.1", v4: 1, v6: 1},
			{"host -t A", []string{"host", "-W", "3", "-t", "A", name}, name + " has address 198.1", 1, 0, false},
			{"host -t AAAA", []string{"host", "-W", "3", "-t", "AAAA", name}, name + " has IPv6 address fd63:6861:696e:", 0, 1, false},
			{"python sendto", py("sendto", ns4, "A"), "from: " + ns4 + " 53\nrcode: 0\n", 1, 0, false},
			{"python sendmsg", py("sendmsg", ns4, "A"), "from: " + ns4 + " 53\nrcode: 0\n", 1, 0, false},
			{"python sendto, IPv6 nameserver", py("sendto", ns6, "AAAA"), "from: " + ns6 + " 53\nrcode: 0\n", 0, 1, false},
			{"python connect+send", py("connect", ns4, "A"), "rcode: 0\n", 1, 0, false},
			{"python tcp", py("tcp", ns4, "A"), "rcode: 0\n", 1, 0, false},
			{"python tcp, IPv6 nameserver", py("tcp", ns6, "AAAA"), "rcode: 0\n", 0, 1, false},
			{"glibc getaddrinfo", []string{p("resolve_get"), "-list", name, "80"}, "address: ", -1, -1, false},
			{"musl getaddrinfo", []string{p("resolve_get_musl"), "-list", name, "80"}, "address: ", -1, -1, false},
			{"cgo Go", []string{p("gocgoget"), "-lookup", name}, "resolver: cgo\n", -1, -1, false},
		}
		var all4, all6 []netip.Addr
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e.noLeak(t)
				out, errOut, code := e.chainrun(t, nil, append([]string{"-x", microsocks, "--"}, c.argv...)...)
				if code != 0 && !c.anyExit || !strings.Contains(out, c.want) {
					t.Fatalf("exit %d, want 0 and %q\nstdout: %s\nstderr: %s", code, c.want, out, errOut)
				}
				// Not the "from: NAMESERVER 53" lines of pydnsquery.
				v4, v6 := fakeAddrs(t, regexp.MustCompile(`(?m)^from: .*$`).ReplaceAllString(out, ""))
				if c.v4 >= 0 && len(v4) != c.v4 || c.v6 >= 0 && len(v6) != c.v6 || len(v4)+len(v6) == 0 {
					t.Errorf("fake addresses %v %v, want %d IPv4 and %d IPv6 (-1: any)\nstdout: %s\nstderr: %s", v4, v6, c.v4, c.v6, out, errOut)
				}
				all4, all6 = append(all4, v4...), append(all6, v6...)
			})
		}
		// Every resolver got the same answer for the name.
		one(t, "IPv4 answers for "+name, all4)
		one(t, "IPv6 answers for "+name, all6)

		// A type remote DNS cannot fake, with no dns_server to ask: an
		// empty answer (NOERROR), not a failure and not a leak.
		t.Run("dig MX without dns_server", func(t *testing.T) {
			e.noLeak(t)
			out, errOut, code := e.chainrun(t, nil, "-x", microsocks, "--", "dig", "@"+ns4, "+time=3", "+tries=1", name, "MX")
			if code != 0 || !strings.Contains(out, "status: NOERROR") || !strings.Contains(out, "ANSWER: 0") {
				t.Fatalf("exit %d, want NOERROR with no answer\nstdout: %s\nstderr: %s", code, out, errOut)
			}
		})
	})

	t.Run("IPv6 by name", func(t *testing.T) {
		e.noLeak(t)
		out, errOut, code := e.chainrun(t, noProxyEnv, "-v", "-x", microsocks, "curl", "-sS", "--noproxy", "*", "--max-time", "20", "-6", url)
		if code != 0 || !strings.Contains(out, testnet.TargetPage) {
			t.Fatalf("curl -6: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		// chainrun: curl[42] tcp target.chainrun.test:8080 (fd63:6861:696e:…) via socks5h://10.77.0.1:1080 ok 1.1ms
		if !regexp.MustCompile(`(?m)^chainrun: curl\[\d+\] tcp ` + regexp.QuoteMeta(name) + `:8080 \(fd63:6861:696e:[0-9a-f:]+\) via ` + regexp.QuoteMeta(microsocks) + ` ok`).MatchString(errOut) {
			t.Errorf("curl -6: -v shows no proxied connection to %s at a fake IPv6 address:\n%s", name, errOut)
		}
		out, errOut, code = e.chainrun(t, nil, "-x", microsocks, p("resolve_get"), "-6", name, strconv.Itoa(dnsTargetPort))
		if code != 0 || !strings.Contains(out, testnet.TargetPage) || !regexp.MustCompile(`(?m)^connect fd63:6861:696e:[0-9a-f:]*: 0$`).MatchString(out) {
			t.Fatalf("resolve_get -6: exit %d, want a connect to a fake IPv6 address and the page\nstdout: %s\nstderr: %s", code, out, errOut)
		}
	})

	t.Run("one name, one address in a process tree", func(t *testing.T) {
		e.noLeak(t)
		script := `getent ahostsv4 "$1" | head -n 1; getent ahostsv4 "$1" | head -n 1; "$2" -4 -list "$1" 80; "$3" -4 -list "$1" 80`
		out, errOut, code := e.chainrun(t, nil, "-x", microsocks, "sh", "-c", script, "sh", name, p("resolve_get"), p("resolve_get_musl"))
		if code != 0 {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		v4, _ := fakeAddrs(t, out)
		if len(v4) != 4 {
			t.Fatalf("want 4 answers, got %v\n%s", v4, out)
		}
		one(t, "four lookups in one tree", v4)
		out, errOut, code = e.chainrun(t, nil, "-x", microsocks, "sh", "-c", `getent hosts "$1"; getent hosts "$1"`, "sh", name)
		v4, v6 := fakeAddrs(t, out)
		if code != 0 || len(v4)+len(v6) != 2 {
			t.Fatalf("getent hosts twice: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		one(t, "getent hosts twice", append(v4, v6...))
	})

	t.Run("one name, one address across runs", func(t *testing.T) {
		e.noLeak(t)
		names := []string{testnet.TargetName, testnet.Target2Name, testnet.TargetName4}
		// lookup resolves the names in order, in one run of chainrun.
		lookup := func(order []string) map[string]netip.Addr {
			t.Helper()
			out, errOut, code := e.chainrun(t, nil, append([]string{"-x", microsocks, "sh", "-c",
				`for n in "$@"; do getent ahostsv4 "$n" | head -n 1; done`, "sh"}, order...)...)
			got := map[string]netip.Addr{}
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				f := strings.Fields(l) // 198.18.0.5  STREAM target.chainrun.test
				if len(f) != 3 {
					continue
				}
				if a, err := netip.ParseAddr(f[0]); err == nil && fakePool4.Contains(a) {
					got[f[2]] = a
				}
			}
			if code != 0 || len(got) != len(order) {
				t.Fatalf("exit %d, want a fake address for each of %v\nstdout: %s\nstderr: %s", code, order, out, errOut)
			}
			return got
		}
		first := lookup(names)
		second := lookup([]string{names[2], names[1], names[0]})
		seen := map[netip.Addr]string{}
		for _, n := range names {
			if first[n] != second[n] {
				t.Errorf("%s: %s in one run, %s in the next", n, first[n], second[n])
			}
			if other, ok := seen[first[n]]; ok {
				t.Errorf("%s and %s both got %s", other, n, first[n])
			}
			seen[first[n]] = n
		}
	})

	// proxychains gives every name the same address (224.0.0.1): ssh with
	// CheckHostIP then finds the second host's key differing from the one
	// known for "that" address and warns, or refuses. With a fake address
	// per name, stable across runs, it must be silent in both orders.
	t.Run("ssh by name to two hosts, CheckHostIP", func(t *testing.T) {
		testnet.NeedCommand(t, "ssh")
		e.noLeak(t)
		knownHosts := filepath.Join(t.TempDir(), "known_hosts")
		sshArgs := []string{"-F", "/dev/null", "-i", e.ssh1.Identity, "-i", e.ssh2.Identity,
			"-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
			"-o", "CheckHostIP=yes", "-o", "StrictHostKeyChecking=accept-new",
			"-o", "UserKnownHostsFile=" + knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
			"-o", "UpdateHostKeys=no", "-o", "ControlMaster=no", "-o", "ControlPath=none",
			"-o", "ConnectTimeout=20", "-o", "LogLevel=INFO"}
		script := `ssh "$@" root@"$H1" 'echo hello from one' && ssh "$@" root@"$H2" 'echo hello from two'`
		hosts := [][2]string{{testnet.TargetName4, testnet.Target2Name4}, {testnet.Target2Name4, testnet.TargetName4}}
		for i, h := range hosts {
			out, errOut, code := e.chainrun(t, []string{"H1=" + h[0], "H2=" + h[1]},
				append([]string{"-x", microsocks, "sh", "-c", script, "sh"}, sshArgs...)...)
			if code != 0 || out != "hello from one\nhello from two\n" {
				t.Fatalf("run %d (%s then %s): exit %d\nstdout: %q\nstderr: %s", i+1, h[0], h[1], code, out, errOut)
			}
			for _, bad := range []string{"WARNING", "differs from the key", "Offending", "DNS SPOOFING", "IDENTIFICATION HAS CHANGED"} {
				if strings.Contains(errOut, bad) {
					t.Errorf("run %d (%s then %s): ssh warns (%q):\n%s", i+1, h[0], h[1], bad, errOut)
				}
			}
		}
		b, err := os.ReadFile(knownHosts)
		if err != nil {
			t.Fatal(err)
		}
		// One line per host: its name and its own fake address.
		kh := string(b)
		v4, v6 := fakeAddrs(t, kh) // ssh prefers the fake IPv6 address: glibc sorts it first
		if fakes := append(v4, v6...); len(fakes) != 2 || fakes[0] == fakes[1] || !strings.Contains(kh, testnet.TargetName4+",") || !strings.Contains(kh, testnet.Target2Name4+",") {
			t.Fatalf("known_hosts does not hold each name with its own fake address:\n%s", kh)
		}

		// Control: the check can fail. Make host two's fake address known
		// with host one's key only, as proxychains' one address for all
		// names would: ssh to host two must now refuse.
		var one1, two2 string // host one's line, host two's fake address
		for _, l := range strings.Split(kh, "\n") {
			if strings.HasPrefix(l, testnet.TargetName4+",") {
				one1 = l
			}
			if rest, ok := strings.CutPrefix(l, testnet.Target2Name4+","); ok {
				two2, _, _ = strings.Cut(rest, " ")
			}
		}
		host, _, _ := strings.Cut(one1, " ")
		_, ip1, _ := strings.Cut(host, ",")
		tampered := filepath.Join(t.TempDir(), "known_hosts")
		// Host two's line keeps its name alone; host one's line names
		// host two's address.
		khT := strings.Replace(kh, testnet.Target2Name4+","+two2+" ", testnet.Target2Name4+" ", 1)
		khT = strings.Replace(khT, host+" ", testnet.TargetName4+","+two2+" ", 1)
		if err := os.WriteFile(tampered, []byte(khT), 0o600); err != nil {
			t.Fatal(err)
		}
		args := slices.Clone(sshArgs)
		args[slices.Index(args, "UserKnownHostsFile="+knownHosts)] = "UserKnownHostsFile=" + tampered
		out, errOut, code := e.chainrun(t, nil, append(append([]string{"-x", microsocks, "ssh"}, args...), "root@"+testnet.Target2Name4, "echo hello from two")...)
		if code == 0 || !strings.Contains(errOut, "differs from the key for the IP address '"+two2+"'") {
			t.Errorf("ssh with host one's key (%s, moved from %s) on host two's address %s: exit %d, want a refusal\nstdout: %s\nstderr: %s",
				testnet.TargetName4, ip1, two2, code, out, errOut)
		}
	})

	t.Run("a fake address never handed out", func(t *testing.T) {
		e.noLeak(t)
		out, errOut, code := e.chainrun(t, noProxyEnv, "-x", microsocks, "curl", "-sS", "--noproxy", "*", "--max-time", "10", "http://"+dnsAbsentFake4+":8080/")
		if code != 7 {
			t.Errorf("curl: exit %d, want 7 (could not connect)\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		if !regexp.MustCompile(`(?m)^chainrun: .*` + regexp.QuoteMeta(dnsAbsentFake4)).MatchString(errOut) {
			t.Errorf("no chainrun log line names %s:\n%s", dnsAbsentFake4, errOut)
		}
		for _, addr := range []string{dnsAbsentFake4, dnsAbsentFake6} {
			out, errOut, code := e.chainrun(t, nil, "-x", microsocks, p("resolve_get"), addr, "8080")
			if code != 3 || !strings.Contains(out, "connect "+addr+": ECONNREFUSED") {
				t.Errorf("%s: exit %d, want 3 and ECONNREFUSED\nstdout: %s\nstderr: %s", addr, code, out, errOut)
			}
			if !strings.Contains(errOut, addr) {
				t.Errorf("%s: no chainrun log line names it:\n%s", addr, errOut)
			}
		}
	})

	t.Run("routing rules see the name behind a fake address", func(t *testing.T) {
		e.noLeak(t)
		cfg := filepath.Join(t.TempDir(), "proxychains.toml")
		// The default chain is microsocks; names of *.chainrun.test go
		// through tinyproxy instead, and target2 is blocked: rules that
		// only an address could never match.
		content := "[proxies]\n" +
			"socks = \"" + microsocks + "\"\n" +
			"web = \"" + proxyURL("http", dnsTinyproxy) + "\"\n" +
			"[profiles.p]\nchain = [\"socks\"]\n" +
			"block = [\"" + testnet.Target2Name + "\"]\n" +
			"[[profiles.p.rules]]\nmatch = [\"*.chainrun.test:8080\"]\nchain = [\"web\"]\n"
		if err := os.WriteFile(cfg, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := e.chainrun(t, noProxyEnv, "-v", "-f", cfg, "curl", "-sS", "--noproxy", "*", "--max-time", "10", url)
		if code != 0 || !strings.Contains(out, testnet.TargetPage) {
			t.Fatalf("curl by name: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		via := regexp.MustCompile(`(?m)^chainrun: curl\[\d+\] tcp ` + regexp.QuoteMeta(name) + `:8080 \((198\.1[89]\.[0-9.]+|fd63:6861:696e:[0-9a-f:]+)\) via http://[^ ]+ \(rule rules\[0\]: \*\.chainrun\.test:8080\) ok`)
		if !via.MatchString(errOut) {
			t.Errorf("the connection did not take the rule's chain by name:\n%s", errOut)
		}
		url2 := "http://" + testnet.Target2Name + ":" + strconv.Itoa(dnsTargetPort) + "/"
		out, errOut, code = e.chainrun(t, noProxyEnv, "-f", cfg, "curl", "-sS", "--noproxy", "*", "--max-time", "10", url2)
		if code != 7 || !strings.Contains(errOut, "blocked by rule block ("+testnet.Target2Name+")") {
			t.Errorf("curl to the blocked name: exit %d, want 7 and a log line\nstdout: %s\nstderr: %s", code, out, errOut)
		}
	})
}
