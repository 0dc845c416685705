package main

import (
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chainrun/chainrun/internal/testnet"
)

// Chains of real proxies from Debian in the namespace topology: every hop
// type, hops reachable only through the hop before, mixed 3-hop chains,
// and the chain modes.

const (
	dantePort         = 1180 // danted: SOCKS4 and SOCKS5, no auth
	danteAuthPort     = 1181 // danted: SOCKS5 user/pass
	sshPort           = 1182 // ssh -D: SOCKS4, SOCKS4a, SOCKS5
	tinyPort          = 3128 // tinyproxy: HTTP CONNECT
	tinyAuthPort      = 3129 // tinyproxy: HTTP CONNECT, Basic auth
	localHopPort      = 1190 // microsocks on the proxy's own 127.0.0.1
	chainMicroPort    = 1080
	chainMicroPortB   = 1086
	chainMicroPortC   = 1087
	chainDeadPort     = 1999 // nothing listens
	chainBigSize      = 200 << 20
	chainTestUser     = "chainuser"
	chainTestPassword = "pw-4-chain"
)

func TestChainsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests are not short")
	}
	tp := testnet.New(t)
	e := &e2e{tp: tp, bin: buildChainrun(t), progs: testnet.SharedPrograms()}
	e.bigSum = tp.StartHTTPTarget(t, targetPort, chainBigSize)
	tp.StartMicrosocks(t, chainMicroPort, "", "")
	tp.StartMicrosocks(t, chainMicroPortB, "", "")
	tp.StartMicrosocks(t, chainMicroPortC, "", "")
	tp.StartDanted(t, dantePort, "", "")
	tp.StartDanted(t, danteAuthPort, chainTestUser, chainTestPassword)
	tp.StartSSHSocks(t, sshPort)
	tp.StartTinyproxy(t, tinyPort, "", "")
	tp.StartTinyproxy(t, tinyAuthPort, chainTestUser, chainTestPassword)
	tp.StartMicrosocksLocal(t, localHopPort)

	hop := func(scheme, userinfo string, port int) string {
		return scheme + "://" + userinfo + net.JoinHostPort(tp.ProxyClientSideIP.String(), strconv.Itoa(port))
	}
	creds := chainTestUser + ":" + chainTestPassword + "@"
	page := testnet.TargetPage
	ip, port := tp.TargetIP.String(), strconv.Itoa(targetPort)
	url := "http://" + e.target() + "/index.html"
	bigURL := "http://" + e.target() + "/big.bin"
	localHop := "socks5://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(localHopPort))
	localHopByName := "socks5h://" + net.JoinHostPort(testnet.Hop2Name, strconv.Itoa(localHopPort))
	p := e.progs.Path

	t.Run("each hop type", func(t *testing.T) {
		cases := []struct {
			name  string
			proxy string
		}{
			{"danted socks4", hop("socks4", "", dantePort)},
			{"danted socks5", hop("socks5", "", dantePort)},
			{"danted socks5 user/pass", hop("socks5", creds, danteAuthPort)},
			{"ssh -D socks4", hop("socks4", "", sshPort)},
			{"ssh -D socks4a", hop("socks4a", "", sshPort)},
			{"ssh -D socks5", hop("socks5", "", sshPort)},
			{"tinyproxy http", hop("http", "", tinyPort)},
			{"tinyproxy http Basic auth", hop("http", creds, tinyAuthPort)},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				for _, argv := range [][]string{
					{"curl", "-sS", url},
					{p(t, "gohttpget"), url},
					{p(t, "connect_nonblock"), ip, port, "/index.html"},
				} {
					out, errOut, code := e.run(t, append([]string{"-v", "-x", c.proxy, "--"}, argv...)...)
					if code != 0 || !strings.Contains(out, page) {
						t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", argv[0], code, out, errOut)
					}
				}
			})
		}
	})

	t.Run("pipelined SOCKS5 handshakes", func(t *testing.T) {
		// Dante and OpenSSH read a CONNECT that comes with the greeting:
		// one round trip per hop instead of two (three with a password),
		// and a 2-hop chain of them too.
		for _, chainArgs := range [][]string{
			{"-x", hop("socks5", "", dantePort)},
			{"-x", hop("socks5", creds, danteAuthPort)},
			{"-x", hop("socks5", "", sshPort)},
			{"-x", hop("socks5", "", sshPort), "-x", hop("socks5", creds, danteAuthPort)},
		} {
			out, errOut, code := e.run(t, append(append([]string{"--pipeline"}, chainArgs...), "curl", "-sS", url)...)
			if code != 0 || !strings.Contains(out, page) {
				t.Errorf("--pipeline %q: exit %d\nstdout: %s\nstderr: %s", chainArgs, code, out, errOut)
			}
		}
		// microsocks drops a pipelined CONNECT: the hop's read timeout
		// ends the wait and the log says so.
		out, errOut, code := e.run(t, "--pipeline", "--read-timeout", "500ms", "-x", hop("socks5", "", chainMicroPort), p(t, "connect_block"), ip, port)
		if code != 3 || !strings.Contains(out, "connect: ETIMEDOUT") || !strings.Contains(errOut, "hop 1 (socks5://") {
			t.Errorf("--pipeline through microsocks: exit %d, want ETIMEDOUT and a log line\nstdout: %s\nstderr: %s", code, out, errOut)
		}
	})

	t.Run("auth refused", func(t *testing.T) {
		for _, proxy := range []string{
			hop("http", chainTestUser+":wrong@", tinyAuthPort),
			hop("http", "", tinyAuthPort),
			hop("socks5", chainTestUser+":wrong@", danteAuthPort),
		} {
			out, errOut, code := e.run(t, "-x", proxy, p(t, "connect_block"), ip, port)
			if code != 3 || !strings.Contains(out, "connect: ECONNREFUSED") || !strings.Contains(errOut, "check the proxy's user name and password") {
				t.Errorf("%s: exit %d\nstdout: %s\nstderr: %s", proxy, code, out, errOut)
			}
			if strings.Contains(errOut, "wrong") || strings.Contains(errOut, chainTestPassword) {
				t.Errorf("%s: a password appears in the log:\n%s", proxy, errOut)
			}
		}
	})

	t.Run("chains", func(t *testing.T) {
		cases := []struct {
			name    string
			proxies []string
		}{
			{"2 hops, the second only reachable through the first", []string{hop("socks5", "", chainMicroPort), localHop}},
			{"2 hops, the second named and resolved by the first", []string{hop("socks5", "", chainMicroPort), localHopByName}},
			{"2 hops, socks4a resolves the second's name", []string{hop("socks4a", "", sshPort), localHopByName}},
			{"3 hops socks5 -> http -> socks4a", []string{hop("socks5", "", chainMicroPort), hop("http", "", tinyPort), hop("socks4a", "", sshPort)}},
			// danted connects out from its target-side address, which
			// tinyproxy does not allow: it comes last.
			{"4 hops ssh socks5 -> socks5 -> http with auth -> danted socks4", []string{hop("socks5", "", sshPort), hop("socks5", "", chainMicroPortB), hop("http", creds, tinyAuthPort), hop("socks4", "", dantePort)}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var args []string
				for _, px := range c.proxies {
					args = append(args, "-x", px)
				}
				out, errOut, code := e.run(t, append(append([]string{"-v"}, args...), "curl", "-sS", url)...)
				if code != 0 || !strings.Contains(out, page) {
					t.Fatalf("curl: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
				}
				if want := " via " + strings.Join(redacted(c.proxies), " -> ") + " ok"; !strings.Contains(errOut, want) {
					t.Errorf("-v does not show the route %q:\n%s", want, errOut)
				}
				out, errOut, code = e.run(t, append(append([]string{"-q"}, args...), p(t, "gohttpget"), "-q", bigURL)...)
				if code != 0 || !strings.Contains(out, "sha256 "+e.bigSum) {
					t.Fatalf("200 MB through the chain: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
				}
			})
		}
	})

	t.Run("strict names the hop that failed", func(t *testing.T) {
		out, errOut, code := e.run(t, "-x", hop("socks5", "", chainMicroPort), "-x", hop("socks5", "", chainDeadPort), p(t, "connect_block"), ip, port)
		if code != 3 || !strings.Contains(out, "connect: ECONNREFUSED") {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		if !strings.Contains(errOut, "hop 1 (socks5://10.77.0.1:1080): reaching hop 2 (socks5://10.77.0.1:1999)") {
			t.Errorf("the error does not name the hops:\n%s", errOut)
		}
	})

	t.Run("dynamic skips a dead hop", func(t *testing.T) {
		dead := hop("socks5", "", chainDeadPort)
		script := "for i in 1 2 3; do " + p(t, "connect_block") + " " + ip + " " + port + " /index.html | grep -c " + page + " || exit 1; done"
		out, errOut, code := e.run(t, "-v", "--chain", "dynamic", "-x", dead, "-x", hop("socks5", "", chainMicroPort), "-x", localHop, "sh", "-c", script)
		if code != 0 || strings.Count(out, "1\n") != 3 {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		if n := strings.Count(errOut, "via socks5://10.77.0.1:1080 -> "+localHop+" ok"); n != 3 {
			t.Errorf("%d of 3 connections went around the dead hop:\n%s", n, errOut)
		}
	})

	routeRE := regexp.MustCompile(`via (socks5://10\.77\.0\.1:\d+) ok`)
	routesOf := func(errOut string) []string {
		var r []string
		for _, m := range routeRE.FindAllStringSubmatch(errOut, -1) {
			r = append(r, m[1])
		}
		return r
	}
	three := []string{hop("socks5", "", chainMicroPort), hop("socks5", "", chainMicroPortB), hop("socks5", "", chainMicroPortC)}
	sixProcesses := "for i in 1 2 3 4 5 6; do " + p(t, "connect_block") + " " + ip + " " + port + " >/dev/null || exit 1; done"

	t.Run("round-robin across processes of one tree", func(t *testing.T) {
		out, errOut, code := e.run(t, "-v", "--chain", "round-robin", "--chain-len", "1", "-x", three[0], "-x", three[1], "-x", three[2], "sh", "-c", sixProcesses)
		if code != 0 {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		got := strings.Join(routesOf(errOut), " ")
		want := strings.Join(append(append([]string{}, three...), three...), " ")
		if got != want {
			t.Errorf("routes\n %s\nwant\n %s", got, want)
		}
	})

	t.Run("random across processes of one tree", func(t *testing.T) {
		twelve := strings.ReplaceAll(sixProcesses, "1 2 3 4 5 6", "1 2 3 4 5 6 7 8 9 10 11 12")
		out, errOut, code := e.run(t, "-v", "--chain", "random", "--chain-len", "1", "-x", three[0], "-x", three[1], "-x", three[2], "sh", "-c", twelve)
		if code != 0 {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		routes := routesOf(errOut)
		seen := map[string]bool{}
		for _, r := range routes {
			seen[r] = true
		}
		if len(routes) != 12 || len(seen) < 2 {
			t.Errorf("%d routes over %d distinct hops: %v", len(routes), len(seen), routes)
		}
	})
}

// redacted is how -v shows proxy URLs: passwords as ***.
func redacted(urls []string) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		if at := strings.LastIndex(u, "@"); at > 0 {
			if c := strings.Index(u[strings.Index(u, "://")+3:at], ":"); c >= 0 {
				start := strings.Index(u, "://") + 3
				u = u[:start+c] + ":***" + u[at:]
			}
		}
		out[i] = u
	}
	return out
}
