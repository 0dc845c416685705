package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chainrun/chainrun/internal/testnet"
)

// The leak suite: small probe programs (testdata/leaks) each try one way
// for a program to reach the network other than a plain connect(2) — UDP,
// TCP Fast Open, io_uring, int 0x80, raw and packet sockets, vfork, another
// thread, an exec from a thread, a static Go binary, a dead tracer, a
// setuid binary — at a leak sink on the proxy namespace's client side,
// which the client namespace reaches directly. Each run gets a verdict from
// what the sinks and the DNS logger saw and what the probe printed, never
// from what chainrun says:
//
//	leaked   something arrived from the client's own address (or a DNS
//	         query reached the client's nameserver)
//	proxied  a TCP connection arrived from the proxy namespace's address
//	         (microsocks connected onward): it went through the chain
//	blocked  nothing arrived, and the probe ran and said what stopped it
//	failed   nothing arrived, and the probe did not run to its result line
//
// Only chainrun's verdicts are held to expectations. Every probe also runs
// without any wrapper (a control: each must leak there, or it proves
// nothing), under proxychains4 and under torsocks, without assertions; the
// comparison is written to build/leaks.md and to the test log.

const (
	leakSocksPort  = 1080 // microsocks
	leakTCPPort    = 9999 // TCP sink
	leakUDPPort    = 9999 // UDP sinks
	leakUDPPort2   = 5353
	leakRunTimeout = 25 * time.Second // the probes bound themselves at 20 s (alarm)
	leakKillAfter  = 300 * time.Millisecond
	leakSleepMs    = 1000 // killed_tracer: the probe's sleep before it connects
)

type leakVerdict string

const (
	vLeaked  leakVerdict = "leaked"
	vBlocked leakVerdict = "blocked"
	vProxied leakVerdict = "proxied"
	vFailed  leakVerdict = "failed"
)

// leakRun is what one run of a probe did.
type leakRun struct {
	verdict  leakVerdict
	why      string // what the verdict rests on, one line
	result   string // the probe's "result:" line, without the prefix
	stdout   string
	stderr   string
	code     int
	arrivals []testnet.Arrival
	dns      []testnet.DNSQuery
	skipped  string // the runner could not run: why (n/a, not installed)
}

// cell is the run for the Markdown table.
func (r *leakRun) cell() string {
	if r == nil {
		return "not run"
	}
	if r.skipped != "" {
		return r.skipped
	}
	v := string(r.verdict)
	if r.verdict == vLeaked {
		v = "**LEAKED**"
	}
	return v + ": " + r.why
}

// leakRunner runs a probe's argv one way: bare, under chainrun, …
type leakRunner struct {
	name    string
	missing string // non-empty: not installed, why
	wrap    func(argv []string) []string
	env     []string
}

// leakProbe is one probe of the suite.
type leakProbe struct {
	name  string
	tried string
	argv  func(t *testing.T, l *leakSuite) []string
	// expect checks chainrun's run; it returns what is wrong, "" when
	// nothing is.
	expect func(r *leakRun) string
	// killTracer: the probe sleeps, then connects; chainrun is SIGKILLed
	// meanwhile.
	killTracer bool
}

// leakSuite is the topology and the programs the probes use.
type leakSuite struct {
	tp         *testnet.Topology
	dl         *testnet.DNSLogger
	sinks      *testnet.Sinks
	bin        string
	progs      *testnet.Programs
	proxyMAC   string // of the proxy namespace's interface on the client link
	setuidCopy string // leakprobe, setuid nobody
	sink4      string // 10.77.0.1
	sink6      string // fd77::1
	port       string // the TCP sink's port
}

func (l *leakSuite) prog(t *testing.T, name string) string { return l.progs.Path(t, name) }

// want helpers for expectations.
func wantVerdict(r *leakRun, vs ...leakVerdict) string {
	for _, v := range vs {
		if r.verdict == v {
			return ""
		}
	}
	return fmt.Sprintf("verdict %s (%s), want %v", r.verdict, r.why, vs)
}

func wantBlockedWith(errno string) func(r *leakRun) string {
	return func(r *leakRun) string {
		if s := wantVerdict(r, vBlocked); s != "" {
			return s
		}
		if !regexp.MustCompile(`\b` + errno + `\b`).MatchString(r.result) {
			return fmt.Sprintf("blocked, but with %q, want %s", r.result, errno)
		}
		return ""
	}
}

func wantProxied(r *leakRun) string { return wantVerdict(r, vProxied) }

func leakProbes() []leakProbe {
	c := func(prog, mode string, v6 bool, port int, extra ...string) func(t *testing.T, l *leakSuite) []string {
		return func(t *testing.T, l *leakSuite) []string {
			host := l.sink4
			if v6 {
				host = l.sink6
			}
			return append([]string{l.prog(t, prog), mode, host, strconv.Itoa(port)}, extra...)
		}
	}
	udpBlocked := wantBlockedWith("EPERM")
	return []leakProbe{
		{name: "udp_sendto", tried: "UDP sendto(2) to 10.77.0.1:9999", argv: c("leakprobe", "udp_sendto", false, leakUDPPort), expect: udpBlocked},
		{name: "udp_connect_send", tried: "UDP connect(2) then send(2) to 10.77.0.1:9999", argv: c("leakprobe", "udp_connect_send", false, leakUDPPort), expect: udpBlocked},
		{name: "udp_sendmsg", tried: "UDP sendmsg(2) with msg_name, 10.77.0.1:9999", argv: c("leakprobe", "udp_sendmsg", false, leakUDPPort), expect: udpBlocked},
		{name: "udp_sendmmsg", tried: "UDP sendmmsg(2) with msg_name, 10.77.0.1:9999", argv: c("leakprobe", "udp_sendmmsg", false, leakUDPPort), expect: udpBlocked},
		{name: "udp6_sendto", tried: "UDP sendto(2) to [fd77::1]:5353", argv: c("leakprobe", "udp_sendto", true, leakUDPPort2), expect: udpBlocked},
		{name: "tfo_sendto", tried: "TCP sendto(MSG_FASTOPEN) with data, no connect", argv: c("leakprobe", "tfo_sendto", false, leakTCPPort),
			expect: func(r *leakRun) string { return wantVerdict(r, vProxied, vBlocked) }},
		{name: "tfo_sendmsg", tried: "TCP sendmsg(MSG_FASTOPEN) with msg_name and data", argv: c("leakprobe", "tfo_sendmsg", false, leakTCPPort),
			expect: func(r *leakRun) string { return wantVerdict(r, vProxied, vBlocked) }},
		{name: "tfo_connect", tried: "TCP_FASTOPEN_CONNECT, connect(2), write(2)", argv: c("leakprobe", "tfo_connect", false, leakTCPPort),
			expect: func(r *leakRun) string { return wantVerdict(r, vProxied, vBlocked) }},
		{name: "io_uring_connect", tried: "IORING_OP_CONNECT (liburing), connect(2) if io_uring is refused", argv: c("leakprobe_uring", "io_uring_connect", false, leakTCPPort),
			expect: func(r *leakRun) string {
				if s := wantProxied(r); s != "" {
					return s
				}
				if !strings.Contains(r.stdout, "io_uring_queue_init: ENOSYS") {
					return "proxied, but io_uring_queue_init did not fail with ENOSYS: " + firstLine(r.stdout)
				}
				return ""
			}},
		{name: "int80_connect", tried: "i386 connect (362) by int 0x80 from a static 64-bit program", argv: c("leakprobe_static", "int80_connect", false, leakTCPPort), expect: wantProxied},
		{name: "int80_socketcall", tried: "i386 socketcall(SYS_CONNECT) by int 0x80", argv: c("leakprobe_static", "int80_socketcall", false, leakTCPPort), expect: wantProxied},
		{name: "ipv6_connect", tried: "TCP connect(2) to [fd77::1]:9999", argv: c("leakprobe", "tcp_connect", true, leakTCPPort), expect: wantProxied},
		{name: "v4mapped_connect", tried: "AF_INET6 socket, connect(2) to ::ffff:10.77.0.1", argv: c("leakprobe", "v4mapped_connect", false, leakTCPPort), expect: wantProxied},
		{name: "raw_socket", tried: "socket(AF_INET, SOCK_RAW, IPPROTO_UDP), sendto(2) of a UDP packet", argv: c("leakprobe", "raw_socket", false, leakUDPPort), expect: wantBlockedWith("EPERM")},
		{name: "packet_socket", tried: "socket(AF_PACKET, SOCK_RAW, ETH_P_ALL), an Ethernet frame (IPv4/UDP) on eth0",
			argv: func(t *testing.T, l *leakSuite) []string {
				return []string{l.prog(t, "leakprobe"), "packet_socket", l.sink4, strconv.Itoa(leakUDPPort), l.proxyMAC}
			}, expect: wantBlockedWith("EPERM")},
		{name: "vfork_connect", tried: "vfork(2); the child connects and _exits", argv: c("leakprobe", "vfork_connect", false, leakTCPPort), expect: wantProxied},
		{name: "cross_thread_connect", tried: "socket made on the main thread, connected on another running thread", argv: c("leakprobe", "cross_thread_connect", false, leakTCPPort), expect: wantProxied},
		{name: "exec_thread", tried: "execv from a non-leader thread (cprog/exec_thread); the new program connects",
			argv: func(t *testing.T, l *leakSuite) []string {
				return []string{l.prog(t, "exec_thread"), l.prog(t, "leakprobe"), "tcp_connect", l.sink4, l.port}
			}, expect: wantProxied},
		{name: "go_static_tcp", tried: "static Go binary: net.Dial tcp (non-blocking connect)",
			argv: func(t *testing.T, l *leakSuite) []string {
				return []string{l.prog(t, "goleakprobe"), "tcp", net.JoinHostPort(l.sink4, l.port)}
			}, expect: wantProxied},
		{name: "go_static_udp", tried: "static Go binary: net.Dial udp, Write",
			argv: func(t *testing.T, l *leakSuite) []string {
				return []string{l.prog(t, "goleakprobe"), "udp", net.JoinHostPort(l.sink4, strconv.Itoa(leakUDPPort2))}
			}, expect: wantBlockedWith("EPERM")},
		{name: "killed_tracer", tried: fmt.Sprintf("sleeps %d ms, then connect(2); chainrun is SIGKILLed after %v", leakSleepMs, leakKillAfter),
			argv: c("leakprobe", "sleep_connect", false, leakTCPPort, strconv.Itoa(leakSleepMs)), killTracer: true,
			expect: func(r *leakRun) string {
				if len(r.arrivals) > 0 || len(r.dns) > 0 {
					return "something arrived after the tracer died: " + r.why
				}
				if !strings.Contains(r.why, "probe gone") {
					return "the probe outlived its tracer: " + r.why
				}
				return ""
			}},
		{name: "setuid", tried: "a setuid-nobody copy of the probe: prints its euid, connect(2)",
			argv: func(t *testing.T, l *leakSuite) []string {
				return []string{l.setuidCopy, "whoami_connect", l.sink4, l.port}
			},
			expect: func(r *leakRun) string {
				if s := wantProxied(r); s != "" {
					return s
				}
				if !regexp.MustCompile(`(?i)set-?uid`).MatchString(r.stderr) {
					return "proxied, but chainrun said nothing about the setuid program"
				}
				return ""
			}},
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func TestLeakSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests are not short")
	}
	start := time.Now()
	tp := testnet.New(t)
	l := &leakSuite{tp: tp, progs: testnet.SharedPrograms(),
		sink4: tp.ProxyClientSideIP.String(), sink6: tp.ProxyClientSideIP6.String(), port: strconv.Itoa(leakTCPPort)}
	l.dl = tp.StartDNSLogger(t)
	l.sinks = tp.StartSinks(t, []int{leakTCPPort}, []int{leakUDPPort, leakUDPPort2})
	tp.StartMicrosocks(t, leakSocksPort, "", "")
	l.bin = buildChainrun(t)
	l.proxyMAC = proxyLinkMAC(t, tp)
	l.setuidCopy = setuidCopy(t, l.prog(t, "leakprobe"))
	// The premise: the target is out of reach; the sink is not.
	if c, err := tp.DialFrom(tp.Client, net.JoinHostPort(tp.TargetIP.String(), "80"), time.Second); err == nil {
		c.Close()
		t.Fatal("the client namespace reaches the target directly: the topology is broken")
	}
	l.sinks.Settle(2 * time.Second)
	l.sinks.Take()

	proxyURL := "socks5h://" + net.JoinHostPort(l.sink4, strconv.Itoa(leakSocksPort))
	runners := []leakRunner{
		{name: "chainrun", wrap: func(argv []string) []string {
			return append([]string{l.bin, "-v", "-x", proxyURL, "--"}, argv...)
		}},
		proxychainsRunner(t, l),
		torsocksRunner(t, l),
		{name: "no wrapper", wrap: func(argv []string) []string { return argv }},
	}

	probes := leakProbes()
	results := make([][]*leakRun, len(probes))
	var failures []string
	for i, p := range probes {
		results[i] = make([]*leakRun, len(runners))
		t.Run(p.name, func(t *testing.T) {
			argv := p.argv(t, l)
			for k, rn := range runners {
				var r *leakRun
				switch {
				case rn.missing != "":
					r = &leakRun{skipped: rn.missing}
				case p.killTracer && rn.name == "chainrun":
					r = l.runKilled(t, rn, argv)
				case p.killTracer && rn.name != "no wrapper":
					r = &leakRun{skipped: "n/a: no tracer to kill (the wrapper execs the program)"}
				default:
					r = l.run(t, rn, argv)
				}
				results[i][k] = r
				if r.skipped == "" {
					t.Logf("%s under %s: %s: %s\n\tstdout: %s\n\tstderr: %s", p.name, rn.name, r.verdict, r.why,
						indent(r.stdout), indent(r.stderr))
				}
			}
			cr := results[i][0]
			if why := p.expect(cr); why != "" {
				failures = append(failures, p.name+": "+why)
				t.Errorf("under chainrun: %s\nexit %d\nstdout:\n%s\nstderr (chainrun's):\n%s", why, cr.code, cr.stdout, cr.stderr)
			}
			if len(cr.dns) > 0 {
				t.Errorf("under chainrun: DNS queries reached the client's nameserver: %v", cr.dns)
			}
			// The control: without a wrapper the probe must leak (the
			// killed_tracer probe too: nobody kills it there).
			if bare := results[i][len(runners)-1]; bare.verdict != vLeaked {
				t.Errorf("control: without chainrun the probe did not leak (%s: %s): it proves nothing\nstdout:\n%s", bare.verdict, bare.why, bare.stdout)
			}
		})
	}

	table := leakTable(probes, runners, results)
	t.Logf("leak suite (%v):\n%s", time.Since(start).Round(time.Millisecond), table)
	if len(failures) > 0 {
		t.Logf("chainrun expectations not met:\n\t%s", strings.Join(failures, "\n\t"))
	}
	if root, err := testnet.RepoRoot(); err == nil {
		dir := filepath.Join(root, "build")
		if err := os.MkdirAll(dir, 0o755); err == nil {
			err = os.WriteFile(filepath.Join(dir, "leaks.md"), []byte(table), 0o644)
			if err != nil {
				t.Logf("writing build/leaks.md: %v", err)
			}
		}
	}
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "(none)"
	}
	return strings.ReplaceAll(s, "\n", "\n\t\t")
}

// leakTable is the comparison as Markdown.
func leakTable(probes []leakProbe, runners []leakRunner, results [][]*leakRun) string {
	var b strings.Builder
	b.WriteString("# Leak suite\n\n")
	b.WriteString("Written by `go test ./cmd/chainrun -run TestLeakSuite` (cmd/chainrun/e2e_leaks_test.go). " +
		"Each probe (testdata/leaks) tries one way around connect(2) at a sink on the proxy namespace's client side " +
		"(10.77.0.1 / fd77::1), which the client namespace reaches directly. The verdict comes from the sinks and the " +
		"probe's output: **leaked** = something arrived from the client's own address (or a DNS query reached the " +
		"client's nameserver); proxied = it arrived from the proxy (microsocks, socks5 10.77.0.1:1080); blocked = " +
		"nothing arrived and the probe says why; failed = nothing arrived and the probe did not finish. " +
		"Only the chainrun column is asserted; \"no wrapper\" is the control.\n\n")
	b.WriteString("| probe | what it tried |")
	for _, rn := range runners {
		b.WriteString(" " + rn.name + " |")
	}
	b.WriteString("\n|---|---|")
	for range runners {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	esc := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ") }
	for i, p := range probes {
		b.WriteString("| " + p.name + " | " + esc(p.tried) + " |")
		for k := range runners {
			b.WriteString(" " + esc(results[i][k].cell()) + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// resultRe finds the probe's result line; noteRe the lines before it that
// matter for the table.
var (
	resultRe = regexp.MustCompile(`(?m)^result: (.*)$`)
	noteRe   = regexp.MustCompile(`(?m)^(io_uring_queue_init|euid|setsockopt TCP_FASTOPEN_CONNECT): \S+`)
)

// judge gives the verdict of a finished run from what arrived and what the
// probe printed.
func judge(r *leakRun) {
	if m := resultRe.FindAllStringSubmatch(r.stdout, -1); len(m) > 0 {
		r.result = m[len(m)-1][1]
	}
	var fromClient, fromProxy, other []string
	for _, a := range r.arrivals {
		s := fmt.Sprintf("%s from %s", a.Transport, a.Source.Addr())
		switch {
		case a.FromClient():
			fromClient = append(fromClient, s)
		case a.FromProxy():
			fromProxy = append(fromProxy, s)
		default:
			other = append(other, s)
		}
	}
	for _, q := range r.dns {
		fromClient = append(fromClient, "DNS "+q.Name+" "+q.Type)
	}
	probeSaid := r.result
	if notes := noteRe.FindAllString(r.stdout, -1); len(notes) > 0 && probeSaid != "" {
		probeSaid = strings.Join(notes, "; ") + "; " + probeSaid
	}
	if probeSaid == "" {
		probeSaid = fmt.Sprintf("no result line, exit %d", r.code)
		if r.code > 128 {
			probeSaid = fmt.Sprintf("no result line, killed by %v", syscall.Signal(r.code-128))
		}
		if l := strings.TrimSpace(firstLine(strings.TrimSpace(r.stderr))); l != "" {
			if len(l) > 120 {
				l = l[:120] + "…"
			}
			probeSaid += "; stderr: " + l
		}
	}
	switch {
	case len(fromClient) > 0 || len(other) > 0:
		r.verdict = vLeaked
		r.why = strings.Join(uniq(append(fromClient, other...)), ", ") + " (" + probeSaid + ")"
	case len(fromProxy) > 0:
		r.verdict = vProxied
		r.why = strings.Join(uniq(fromProxy), ", ") + " (" + probeSaid + ")"
	case r.result != "" && r.code == 0 && !strings.HasPrefix(r.result, "probe error"):
		r.verdict = vBlocked
		r.why = probeSaid
	default:
		r.verdict = vFailed
		r.why = probeSaid
	}
}

func uniq(ss []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// collect waits for what the run sent to arrive and takes it: a datagram
// the probe says it sent gets up to 500 ms, anything else 50 ms.
func (l *leakSuite) collect(r *leakRun) {
	limit := 50 * time.Millisecond
	if regexp.MustCompile(`\d+ bytes|sent a|1 message`).MatchString(r.stdout) {
		limit = 500 * time.Millisecond
	}
	l.sinks.Wait(1, limit)
	l.dl.WaitQueries(1, 10*time.Millisecond)
	l.sinks.Settle(3 * time.Second)
	r.arrivals = l.sinks.Take()
	r.dns = l.dl.Take()
}

// run runs argv under runner rn in the client namespace and judges it.
func (l *leakSuite) run(t *testing.T, rn leakRunner, argv []string) *leakRun {
	t.Helper()
	l.sinks.Take()
	l.dl.Take()
	full := rn.wrap(argv)
	ctx, cancel := context.WithTimeout(context.Background(), leakRunTimeout)
	defer cancel()
	cmd := nsCommand(ctx, l.tp.Client, full, rn.env)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	r := &leakRun{code: waitCode(cmd)}
	if err != nil && r.code < 0 {
		t.Fatalf("running %q: %v", cmd.Args, err)
	}
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // what it left in its group
	}
	r.stdout, r.stderr = o.String(), e.String()
	if ctx.Err() != nil {
		r.stdout += fmt.Sprintf("(timed out after %v)\n", leakRunTimeout)
	}
	l.collect(r)
	judge(r)
	return r
}

// runKilled starts argv (a sleep_connect probe) under chainrun, SIGKILLs
// chainrun — only chainrun, by its pid — leakKillAfter after the start,
// and checks that the probe died with it and that nothing arrived.
func (l *leakSuite) runKilled(t *testing.T, rn leakRunner, argv []string) *leakRun {
	t.Helper()
	l.sinks.Take()
	l.dl.Take()
	ctx, cancel := context.WithTimeout(context.Background(), leakRunTimeout)
	defer cancel()
	cmd := nsCommand(ctx, l.tp.Client, rn.wrap(argv), rn.env)
	var o, e syncBuffer
	cmd.Stdout, cmd.Stderr = &o, &e
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %q: %v", cmd.Args, err)
	}
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	// The probe says its pid before it sleeps.
	pidRe := regexp.MustCompile(`(?m)^pid: (\d+)$`)
	probePid, pidAt := 0, started
	for i := 0; i < 1000 && time.Since(started) < 5*time.Second; i++ {
		if m := pidRe.FindStringSubmatch(o.String()); m != nil {
			probePid, _ = strconv.Atoi(m[1])
			pidAt = time.Now()
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if d := leakKillAfter - time.Since(started); d > 0 {
		time.Sleep(d)
	}
	killedAt := time.Since(started)
	cmd.Process.Signal(syscall.SIGKILL)
	var werr error
	select {
	case werr = <-waited:
	case <-time.After(10 * time.Second):
		werr = fmt.Errorf("chainrun still there 10 s after SIGKILL")
	}
	// Past the moment the probe would have connected.
	if d := time.Duration(leakSleepMs)*time.Millisecond + 500*time.Millisecond - time.Since(pidAt); d > 0 {
		time.Sleep(d)
	}
	r := &leakRun{code: waitCode(cmd)}
	if werr != nil && r.code < 0 {
		t.Logf("chainrun: %v", werr)
	}
	state := "never said its pid"
	if probePid > 0 {
		state = procState(probePid, argv[0])
		if state == "alive" {
			syscall.Kill(probePid, syscall.SIGKILL) // ours: checked by its exe
		}
	}
	r.stdout, r.stderr = o.String(), e.String()
	l.collect(r)
	judge(r)
	if len(r.arrivals) == 0 && len(r.dns) == 0 {
		if state == "gone" {
			r.verdict = vBlocked
		} else {
			r.verdict = vFailed
		}
		r.why = fmt.Sprintf("chainrun killed at %v, probe %s, nothing arrived", killedAt.Round(10*time.Millisecond), state)
		if r.result != "" {
			r.why += " (probe: " + r.result + ")"
		}
	} else {
		r.why += fmt.Sprintf("; chainrun killed at %v, probe %s", killedAt.Round(10*time.Millisecond), state)
	}
	if probePid > 0 && state == "gone" {
		r.why = strings.Replace(r.why, "probe gone", "probe gone (pid "+strconv.Itoa(probePid)+")", 1)
	}
	return r
}

// procState says whether process pid, which runs exe, is "gone" (no such
// process, a zombie, or another program by now) or "alive".
func procState(pid int, exe string) string {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "gone"
	}
	// pid (comm) S ...
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) && (s[i+2] == 'Z' || s[i+2] == 'X') {
		return "gone"
	}
	if link, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); err == nil && filepath.Base(link) != filepath.Base(exe) {
		return "gone"
	}
	return "alive"
}

// nsCommand is argv in namespace ns, in a process group of its own, with
// env added to the test's environment.
func nsCommand(ctx context.Context, ns string, argv, env []string) *exec.Cmd {
	full := append([]string{"ip", "netns", "exec", ns}, argv...)
	cmd := exec.CommandContext(ctx, full[0], full[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// waitCode is the exit code of a finished command, 128+N for signal N.
func waitCode(cmd *exec.Cmd) int {
	ps := cmd.ProcessState
	if ps == nil {
		return -1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proxyLinkMAC is the MAC address of the proxy namespace's interface that
// holds ProxyClientSideIP: where the packet probe addresses its frame.
func proxyLinkMAC(t *testing.T, tp *testnet.Topology) string {
	t.Helper()
	var mac string
	err := testnet.InNS(tp.Proxy, func() error {
		ifs, err := net.Interfaces()
		if err != nil {
			return err
		}
		for _, ifi := range ifs {
			addrs, err := ifi.Addrs()
			if err != nil {
				return err
			}
			for _, a := range addrs {
				if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr() == tp.ProxyClientSideIP {
					mac = ifi.HardwareAddr.String()
					return nil
				}
			}
		}
		return fmt.Errorf("no interface holds %s", tp.ProxyClientSideIP)
	})
	if err != nil || mac == "" {
		t.Fatalf("the proxy namespace's MAC on the client link: %v", err)
	}
	return mac
}

// setuidCopy copies the probe into a fresh directory as a setuid program
// owned by nobody, and returns its path.
func setuidCopy(t *testing.T, probe string) string {
	t.Helper()
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("user nobody: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(probe)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "leakprobe_setuid")
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	return path
}

// proxychainsRunner runs probes under proxychains4 with the same proxy
// and proxy_dns.
func proxychainsRunner(t *testing.T, l *leakSuite) leakRunner {
	rn := leakRunner{name: "proxychains4"}
	pc, err := exec.LookPath("proxychains4")
	if err != nil {
		rn.missing = "not installed"
		return rn
	}
	conf := filepath.Join(t.TempDir(), "proxychains.conf")
	content := fmt.Sprintf("strict_chain\nproxy_dns\nremote_dns_subnet 224\ntcp_read_time_out 5000\ntcp_connect_time_out 3000\n[ProxyList]\nsocks5 %s %d\n",
		l.sink4, leakSocksPort)
	if err := os.WriteFile(conf, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	rn.wrap = func(argv []string) []string { return append([]string{pc, "-f", conf}, argv...) }
	return rn
}

// torsocksRunner runs probes under torsocks pointed at the same proxy.
func torsocksRunner(t *testing.T, l *leakSuite) leakRunner {
	rn := leakRunner{name: "torsocks"}
	ts, err := exec.LookPath("torsocks")
	if err != nil {
		rn.missing = "not installed"
		return rn
	}
	conf := filepath.Join(t.TempDir(), "torsocks.conf")
	content := fmt.Sprintf("TorAddress %s\nTorPort %d\nOnionAddrRange 127.42.42.0/24\nAllowOutboundLocalhost 1\nEnableIPv6 1\n", l.sink4, leakSocksPort)
	if err := os.WriteFile(conf, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	rn.env = []string{"TORSOCKS_CONF_FILE=" + conf}
	rn.wrap = func(argv []string) []string { return append([]string{ts}, argv...) }
	return rn
}
