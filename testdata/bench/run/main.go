// Command run is chainrun's benchmark driver (`make bench`). It compares
// chainrun with proxychains4 and with a client that speaks SOCKS5 itself,
// all through the same microsocks on loopback, and chainrun with
// proxychains4 through chains of 2 and 3 microsocks; it measures what
// chainrun costs bulk transfers, programs that do no networking, connects
// from many threads at once, and the tracer's memory; and it prints one
// Markdown table.
//
// Usage (from the repository root, after building bin/chainrun; as root
// for the DNS rows):
//
//	go run ./testdata/bench/run -chainrun bin/chainrun
//
// In one run, bounded by -timeout, it:
//
//  1. compiles testdata/bench/connloop.c and builds testdata/bench/target
//     into a temporary directory, starts the target on 127.0.0.2 and three
//     microsocks on 127.0.0.1, hops 1, 2 and 3 (free ports, listeners
//     awaited at most 5 s);
//  2. checks correctness: a run under chainrun with a proxy port where
//     nothing listens must fail without reaching the target, and so must a
//     3-hop chain whose middle hop is such a port (a chain that skipped it
//     would reach the target); every measured run must report N successful
//     requests, the target must have answered exactly N more, and each
//     microsocks must have logged exactly N more connections if the run's
//     chain goes through it, each to the next hop (or, for the last hop, to
//     the target), and none otherwise;
//  3. measures connloop N=-n per-connection time, interleaved: -runs times
//     each bare (no proxy), chainrun, proxychains4 (generated strict_chain
//     config, no proxy_dns) and connloop speaking SOCKS5 itself, all
//     through hop 1 (and, as a diagnostic row, connloop speaking SOCKS5
//     itself under chainrun: every connect trapped, none negotiated by the
//     tracer); -chain-runs times each chainrun and proxychains4 through the
//     2-hop chain 1→2 and the 3-hop chain 1→2→3 (one -x per hop; a
//     strict_chain config listing the hops in the same order), spread over
//     the -runs rounds; then the start-up wall time of `chainrun … true`,
//     `proxychains4 … true` and /bin/true, -startup-runs times each;
//  4. unless -net-runs is 0, measures what the traps on sendto/recvfrom
//     with an address and on every sendmsg/recvmsg/sendmmsg/recvmmsg cost
//     (net.go), -net-runs times each configuration, rotated:
//     - DNS: dnsloop.c does -dns-n getaddrinfo(AF_INET) lookups of distinct
//     names, under chainrun -x socks5h:// (remote DNS: fake addresses,
//     answered inside chainrun), under proxychains4 with proxy_dns, and
//     bare against the bench's DNS server (dnsserver/, UDP on
//     127.0.0.1:53); and -dig-n `dig +short +tries=1 @127.0.0.1 NAME`
//     processes, under chainrun and bare. Each of these runs in a private
//     mount namespace (unshare) where /etc/resolv.conf is a bind-mounted
//     file naming the bench's DNS server only, so no query can leave
//     loopback. Checks: every answer is of the expected kind (198.18/15,
//     224.x, or the server's fixed address), the server got exactly one
//     question per bare lookup and none from chainrun or proxychains4, no
//     microsocks got anything, and the host's /etc/resolv.conf never
//     changed;
//     - UDP: udploop.c does -udp-n round trips with a UDP echo server (also
//     udploop.c) on 127.0.0.1, client and server pinned to -udp-cpu:
//     unconnected sendto(addr)+recvfrom(&addr), connected send()+recv(),
//     and connected sendmsg()+recvmsg() without address, bare and under
//     chainrun, plus the last under chainrun pinned (taskset) to the
//     client's CPU and to another one;
//     - TCP stream: tcpstream.c sends -stream-mib MiB to its server on
//     127.0.0.1 and receives as much back, in 64 KiB write()/read() or
//     sendmsg()/recvmsg() calls, bare and under chainrun with a profile
//     that sends 127.0.0.0/8 direct;
//  5. unless -extra-runs is 0, measures (extra.go), -extra-runs times each
//     configuration, rotated, after one verified warm-up run of each:
//     - bulk throughput: bulk.c sends -bulk-mib MiB with 64 KiB write()s
//     through hop 1 to the bench's sink (sink.c, 127.0.0.2: it discards,
//     counts, and confirms the count to the client and in its log, which
//     is checked), plain under chainrun and proxychains4, speaking SOCKS5
//     itself (direct-SOCKS), and straight to the sink (bare);
//     - non-network workloads: sysloop.c runs `find -find-dir` (fork, exec,
//     wait, timed inside sysloop; the warm-up walks the tree once per
//     column, which warms the cache), -open-n open()+close() pairs,
//     -fcntl-n fcntl(F_GETFL) and -getppid-n raw getppid() calls, under
//     chainrun, proxychains4 and bare;
//     - concurrent connects: burst.c starts -burst-threads threads behind a
//     barrier, each one connect to the HTTP target through hop 1, a GET,
//     the reply, close (plain under chainrun and proxychains4, SOCKS5
//     in-process, bare); the target must count one request per thread;
//     - tracer memory: connhold.c, under chainrun, opens -hold-n
//     connections to the sink through hop 1 and holds them, then closes
//     them; the driver reads chainrun's VmRSS from /proc/PID/status before
//     the first connect, with all open, and -hold-settle after they
//     closed (and VmHWM). microsocks is started under prlimit if the
//     RLIMIT_NOFILE it would inherit is below 2 × -hold-n + 64; sink and
//     connhold raise their own;
//  6. prints machine information and the table (median [min–max]) with the
//     ratios chainrun÷proxychains4, chainrun÷direct-SOCKS and
//     chainrun÷bare. Targets are shown with ✓/✗ for information only: in
//     the ratio column they apply to, or, for an absolute target (memory),
//     in chainrun's cell.
//
// Network: everything stays on 127.0.0.0/8 (DNS included, see above); sink,
// bulk, burst and connhold refuse a non-loopback address. The exit status
// is 0 when every run succeeded, 1 when a run or a check failed (never
// because of a ratio), 2 on bad usage, 130 when interrupted. Every process
// it starts is killed by its PID (and its process group) on the way out,
// including on error and on SIGINT/SIGTERM, and the temporary directory is
// removed.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	targetHost    = "127.0.0.2"
	proxyHost     = "127.0.0.1"
	listenerWait  = 5 * time.Second
	runTimeout    = 60 * time.Second
	startupTimout = 10 * time.Second
)

// Targets, for information: a ratio above its target is marked ✗.
const (
	perConnTarget = 1.05 // per connection, chainrun ÷ proxychains4 (any chain length)
	startupTarget = 1.5  // start-up, chainrun ÷ proxychains4
)

// nHops is the number of microsocks started: the longest chain measured.
const nHops = 3

type options struct {
	chainrun    string
	proxychains string
	microsocks  string
	cc          string
	dir         string
	n           int
	runs        int
	chainRuns   int
	startupRuns int
	// The remote-DNS, UDP and TCP-stream rows (net.go).
	netRuns   int
	dnsN      int
	digN      int
	udpN      int
	udpCPU    int
	streamMiB int
	// The bulk, non-network, concurrent-connect and tracer-memory rows
	// (extra.go).
	extraRuns    int
	bulkMiB      int
	findDir      string
	openN        int
	fcntlN       int
	getppidN     int
	burstThreads int
	holdN        int
	holdSettle   time.Duration
	timeout      time.Duration
	verbose      bool
}

func main() {
	var o options
	flag.StringVar(&o.chainrun, "chainrun", "bin/chainrun", "chainrun binary to measure")
	flag.StringVar(&o.proxychains, "proxychains", "proxychains4", "proxychains4 binary")
	flag.StringVar(&o.microsocks, "microsocks", "microsocks", "microsocks binary")
	flag.StringVar(&o.cc, "cc", "cc", "C compiler for connloop.c")
	flag.StringVar(&o.dir, "dir", "", "the testdata/bench directory (default: found from the working directory)")
	flag.IntVar(&o.n, "n", 1000, "connections per connloop run")
	flag.IntVar(&o.runs, "runs", 11, "connloop runs per configuration (≥5)")
	flag.IntVar(&o.chainRuns, "chain-runs", 5, "connloop runs per configuration for the 2- and 3-hop chains (0: skip them)")
	flag.IntVar(&o.startupRuns, "startup-runs", 40, "start-up runs per configuration (≥20)")
	flag.IntVar(&o.netRuns, "net-runs", 5, "runs per configuration of the DNS, UDP and TCP-stream rows (≥5; 0: skip them)")
	flag.IntVar(&o.dnsN, "dns-n", 2000, "getaddrinfo lookups per dnsloop run")
	flag.IntVar(&o.digN, "dig-n", 100, "dig processes per dig-loop run (0: skip the dig row)")
	flag.IntVar(&o.udpN, "udp-n", 20000, "round trips per udploop run")
	flag.IntVar(&o.udpCPU, "udp-cpu", 0, "the CPU the UDP client and echo server are pinned to (-1: none)")
	flag.IntVar(&o.streamMiB, "stream-mib", 256, "MiB each way per tcpstream run")
	flag.IntVar(&o.extraRuns, "extra-runs", 5, "runs per configuration of the bulk, non-network, concurrent-connect and tracer-memory rows (≥5; 0: skip them all)")
	flag.IntVar(&o.bulkMiB, "bulk-mib", 1024, "MiB per bulk-throughput run (0: skip the row)")
	flag.StringVar(&o.findDir, "find-dir", "/usr", "the directory the non-network find row walks (\"\": skip the row)")
	flag.IntVar(&o.openN, "open-n", 100000, "open()+close() pairs per non-network run (0: skip the row)")
	flag.IntVar(&o.fcntlN, "fcntl-n", 100000, "fcntl(F_GETFL) calls per non-network run (0: skip the row)")
	flag.IntVar(&o.getppidN, "getppid-n", 5000000, "getppid() calls per non-network run (0: skip the row)")
	flag.IntVar(&o.burstThreads, "burst-threads", 200, "threads, one connect each, started together per concurrent-connect run (0: skip the row)")
	flag.IntVar(&o.holdN, "hold-n", 1000, "proxied connections held open per tracer-memory run (0: skip the rows)")
	flag.DurationVar(&o.holdSettle, "hold-settle", time.Second, "wait after the held connections close before reading the tracer's memory")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "bound on the whole benchmark")
	flag.BoolVar(&o.verbose, "v", false, "print every run as it happens")
	flag.Parse()
	if flag.NArg() != 0 || o.n < 1 || o.runs < 1 || o.chainRuns < 0 || o.startupRuns < 1 || o.timeout <= 0 ||
		o.netRuns < 0 || o.dnsN < 1 || o.digN < 0 || o.udpN < 1 || o.udpCPU < -1 || o.udpCPU >= runtime.NumCPU() || o.streamMiB < 1 ||
		o.extraRuns < 0 || o.bulkMiB < 0 || o.bulkMiB > 65536 || o.openN < 0 || o.fcntlN < 0 || o.getppidN < 0 ||
		o.openN > 100000000 || o.fcntlN > 100000000 || o.getppidN > 100000000 ||
		o.burstThreads < 0 || o.burstThreads > 4096 || o.holdN < 0 || o.holdN > 100000 || o.holdSettle < 0 || o.holdSettle > time.Minute {
		flag.Usage()
		os.Exit(2)
	}
	if o.runs < 5 || o.startupRuns < 20 || (o.netRuns > 0 && o.netRuns < 5) || (o.extraRuns > 0 && o.extraRuns < 5) {
		fmt.Fprintln(os.Stderr, "bench: warning: fewer runs than the benchmark's minimum (5 connloop, 20 start-up, 5 DNS/UDP/TCP-stream, 5 bulk/non-network/concurrent/memory)")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	b := &bench{opts: o, procs: &reaper{live: map[int]string{}}}
	err := b.main(ctx)
	b.cleanup()
	switch {
	case err == nil:
		return
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(os.Stderr, "bench: interrupted")
		os.Exit(130)
	default:
		fmt.Fprintln(os.Stderr, "bench: FAIL:", err)
		os.Exit(1)
	}
}

// reaper remembers every process the driver started, so that all of them
// can be killed by PID (and process group: each child leads its own) on
// the way out.
type reaper struct {
	mu     sync.Mutex
	live   map[int]string
	closed bool
}

func (r *reaper) start(c *exec.Cmd) error {
	if c.SysProcAttr == nil {
		c.SysProcAttr = &syscall.SysProcAttr{}
	}
	c.SysProcAttr.Setpgid = true
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return context.Canceled
	}
	if err := c.Start(); err != nil {
		return err
	}
	r.live[c.Process.Pid] = c.Path
	return nil
}

// forget is called once the process has been waited for.
func (r *reaper) forget(pid int) {
	r.mu.Lock()
	delete(r.live, pid)
	r.mu.Unlock()
}

func kill(pid int) {
	syscall.Kill(-pid, syscall.SIGKILL)
	syscall.Kill(pid, syscall.SIGKILL)
}

func (r *reaper) kill(pid int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.live[pid]; ok {
		kill(pid)
	}
}

func (r *reaper) killAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for pid := range r.live {
		kill(pid)
	}
}

type bench struct {
	opts  options
	procs *reaper
	tmp   string

	connloop   string
	targetBin  string
	targetAddr string // host:port of the HTTP target
	hops       [nHops]*hop
	pcConf     [nHops + 1]string // pcConf[k]: strict_chain through hops 1..k

	services []*exec.Cmd // long-running children (target, microsocks, DNS, UDP echo and TCP stream servers)

	net   netState   // the DNS, UDP and TCP-stream rows
	extra extraState // the bulk, non-network, concurrent-connect and tracer-memory rows
}

// hop is one microsocks instance and the connections it has logged.
type hop struct {
	port int
	addr string // 127.0.0.1:port

	mu     sync.Mutex
	total  int64
	byDest map[string]int64 // "connected to DEST" lines, by DEST
}

// logged is a snapshot of what a hop has logged so far.
type logged struct {
	total  int64
	byDest map[string]int64
}

// line counts one line of microsocks' log, "client[FD] IP: connected to
// HOST:PORT" for every connection it made upstream.
func (h *hop) line(s string) {
	_, dest, ok := strings.Cut(s, ": connected to ")
	if !ok {
		// Anything else microsocks says is an error (e.g. perror of a
		// failed connect onward): show it.
		fmt.Fprintf(os.Stderr, "microsocks %s: %s\n", h.addr, s)
		return
	}
	h.mu.Lock()
	h.total++
	h.byDest[strings.TrimSpace(dest)]++
	h.mu.Unlock()
}

func (h *hop) snapshot() logged {
	h.mu.Lock()
	defer h.mu.Unlock()
	return logged{h.total, maps.Clone(h.byDest)}
}

func (b *bench) cleanup() {
	b.procs.killAll()
	for _, c := range b.services {
		c.Wait()
		b.procs.forget(c.Process.Pid)
	}
	if b.tmp != "" {
		os.RemoveAll(b.tmp)
	}
}

func (b *bench) logf(format string, args ...any) {
	if b.opts.verbose {
		fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	}
}

func (b *bench) main(ctx context.Context) error {
	o := &b.opts
	var err error
	if o.dir == "" {
		o.dir, err = findBenchDir()
		if err != nil {
			return err
		}
	}
	if o.chainrun, err = filepath.Abs(o.chainrun); err != nil {
		return err
	}
	if _, err := os.Stat(o.chainrun); err != nil {
		return fmt.Errorf("chainrun binary: %w (build it: go build -o bin/chainrun ./cmd/chainrun)", err)
	}
	for _, p := range []*string{&o.proxychains, &o.microsocks, &o.cc} {
		if *p, err = exec.LookPath(*p); err != nil {
			return fmt.Errorf("%w (apt-get install -y microsocks proxychains4 gcc)", err)
		}
	}
	if b.tmp, err = os.MkdirTemp("", "chainrun-bench-"); err != nil {
		return err
	}
	if err := b.buildFixtures(ctx); err != nil {
		return err
	}
	if o.netRuns > 0 {
		if err := b.buildNet(ctx); err != nil {
			return err
		}
	}
	if b.extraOn() {
		if err := b.buildExtra(ctx); err != nil {
			return err
		}
	}
	if err := b.startTarget(ctx); err != nil {
		return err
	}
	if err := b.startMicrosocks(ctx); err != nil {
		return err
	}
	for k := 1; k <= nHops; k++ {
		b.pcConf[k] = filepath.Join(b.tmp, fmt.Sprintf("proxychains-%dhop.conf", k))
		conf := "# generated by testdata/bench/run\nstrict_chain\nquiet_mode\ntcp_read_time_out 15000\ntcp_connect_time_out 8000\n[ProxyList]\n"
		for _, h := range b.hops[:k] {
			conf += fmt.Sprintf("socks5 %s %d\n", proxyHost, h.port)
		}
		if err := os.WriteFile(b.pcConf[k], []byte(conf), 0o644); err != nil {
			return err
		}
	}

	if o.netRuns > 0 {
		if err := b.startNet(ctx); err != nil {
			return err
		}
	}
	if b.extraOn() {
		if err := b.startExtra(); err != nil {
			return err
		}
	}

	info := b.machineInfo(ctx)
	if err := b.checks(ctx); err != nil {
		return err
	}
	if o.netRuns > 0 {
		if err := b.checkNet(ctx); err != nil {
			return err
		}
	}
	if b.extraOn() {
		if err := b.checkExtra(ctx); err != nil {
			return err
		}
	}
	conn, err := b.measureConnloop(ctx)
	if err != nil {
		return err
	}
	start, err := b.measureStartup(ctx)
	if err != nil {
		return err
	}
	var netRes [nNetCases][]netResult
	if o.netRuns > 0 {
		if netRes, err = b.measureNet(ctx); err != nil {
			return err
		}
	}
	var extraRes [nXGroups][nCols][]xResult
	if b.extraOn() {
		if extraRes, err = b.measureExtra(ctx); err != nil {
			return err
		}
	}
	fmt.Print(info)
	fmt.Println()
	fmt.Print(b.table(conn, start, append(b.netRows(netRes), b.extraRows(extraRes)...)))
	return nil
}

// findBenchDir finds testdata/bench from the working directory (the
// repository root, as make runs it) or from this file's build path.
func findBenchDir() (string, error) {
	if _, err := os.Stat(filepath.Join("testdata", "bench", "connloop.c")); err == nil {
		return filepath.Abs(filepath.Join("testdata", "bench"))
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		d := filepath.Dir(filepath.Dir(file))
		if _, err := os.Stat(filepath.Join(d, "connloop.c")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("cannot find testdata/bench: run from the repository root or pass -dir")
}

// result is one finished child process.
type result struct {
	wall   time.Duration
	stdout string
	stderr string
	err    error // nil, *exec.ExitError, or a start/timeout error
}

// run runs argv to completion, bounded by timeout and ctx; the child is
// killed by PID and process group when either ends first. With quiet, its
// stdout goes to /dev/null (so no copying goroutine adds to the wall time).
func (b *bench) run(ctx context.Context, timeout time.Duration, quiet bool, argv ...string) result {
	cmd := exec.Command(argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	if !quiet {
		cmd.Stdout = &stdout
	}
	cmd.Stderr = &stderr
	cmd.WaitDelay = 2 * time.Second
	t0 := time.Now()
	if err := b.procs.start(cmd); err != nil {
		return result{err: err}
	}
	pid := cmd.Process.Pid
	type waited struct {
		err  error
		wall time.Duration
	}
	done := make(chan waited, 1)
	go func() {
		err := cmd.Wait()
		done <- waited{err, time.Since(t0)}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var r result
	select {
	case w := <-done:
		r.err, r.wall = w.err, w.wall
	case <-ctx.Done():
		b.procs.kill(pid)
		<-done
		r.err = ctx.Err()
	case <-timer.C:
		b.procs.kill(pid)
		<-done
		r.err = fmt.Errorf("%s: still running after %v: killed", filepath.Base(argv[0]), timeout)
	}
	b.procs.forget(pid)
	r.stdout, r.stderr = stdout.String(), stderr.String()
	return r
}

func (b *bench) buildFixtures(ctx context.Context) error {
	b.connloop = filepath.Join(b.tmp, "connloop")
	r := b.run(ctx, 2*time.Minute, false, b.opts.cc, "-O2", "-Wall", "-o", b.connloop, filepath.Join(b.opts.dir, "connloop.c"))
	if r.err != nil {
		return fmt.Errorf("compiling connloop.c: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	b.targetBin = filepath.Join(b.tmp, "target")
	r = b.run(ctx, 2*time.Minute, false, "go", "-C", b.opts.dir, "build", "-o", b.targetBin, "./target")
	if r.err != nil {
		return fmt.Errorf("building target: %v\n%s%s", r.err, r.stdout, r.stderr)
	}
	return nil
}

// startService starts a long-running child whose stdout is read line by
// line by onLine (in its own goroutine).
func (b *bench) startService(argv []string, onLine func(string)) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	err = b.procs.start(cmd)
	pw.Close()
	if err != nil {
		pr.Close()
		return err
	}
	b.services = append(b.services, cmd)
	go func() {
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			onLine(sc.Text())
		}
	}()
	return nil
}

func (b *bench) startTarget(ctx context.Context) error {
	addrc := make(chan string, 1)
	var once sync.Once
	err := b.startService([]string{b.targetBin, "-listen", targetHost + ":0"}, func(line string) {
		if a, ok := strings.CutPrefix(line, "listening "); ok {
			once.Do(func() { addrc <- a })
		} else {
			fmt.Fprintln(os.Stderr, "target:", line)
		}
	})
	if err != nil {
		return fmt.Errorf("starting target: %w", err)
	}
	select {
	case b.targetAddr = <-addrc:
	case <-time.After(listenerWait):
		return fmt.Errorf("target did not listen within %v", listenerWait)
	case <-ctx.Done():
		return ctx.Err()
	}
	b.logf("target listening on %s", b.targetAddr)
	return waitListener(ctx, b.targetAddr)
}

// startMicrosocks starts one microsocks per hop, each on its own port.
func (b *bench) startMicrosocks(ctx context.Context) error {
	for i := range b.hops {
		port, err := freePort(proxyHost)
		if err != nil {
			return err
		}
		h := &hop{port: port, addr: net.JoinHostPort(proxyHost, strconv.Itoa(port)), byDest: map[string]int64{}}
		b.hops[i] = h
		argv, err := b.microsocksArgv(ctx, port)
		if err != nil {
			return err
		}
		if err := b.startService(argv, h.line); err != nil {
			return fmt.Errorf("starting microsocks (hop %d): %w", i+1, err)
		}
		if err := waitListener(ctx, h.addr); err != nil {
			return fmt.Errorf("microsocks (hop %d): %w", i+1, err)
		}
		b.logf("microsocks hop %d listening on %s", i+1, h.addr)
	}
	return nil
}

// freePort returns a port on host that was free a moment ago.
func freePort(host string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitListener dials addr until it accepts, at most listenerWait.
func waitListener(ctx context.Context, addr string) error {
	deadline := time.Now().Add(listenerWait)
	for {
		c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after %v: %v", addr, listenerWait, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// targetCount asks the target how many requests it has answered.
func (b *bench) targetCount() (int64, error) {
	c, err := net.DialTimeout("tcp", b.targetAddr, 2*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "GET /count HTTP/1.0\r\n\r\n"); err != nil {
		return 0, err
	}
	reply, err := io.ReadAll(c)
	if err != nil {
		return 0, err
	}
	_, body, ok := bytes.Cut(reply, []byte("\r\n\r\n"))
	if !ok {
		return 0, fmt.Errorf("bad /count reply %q", reply)
	}
	return strconv.ParseInt(string(body), 10, 64)
}

// snapshotHops returns what every hop has logged so far.
func (b *bench) snapshotHops() [nHops]logged {
	var s [nHops]logged
	for i, h := range b.hops {
		s[i] = h.snapshot()
	}
	return s
}

// checkHops waits (at most 2 s) until every hop on route has logged n more
// connections than in before, then checks that each hop on route logged
// exactly n more, all to the next hop on route (the last one: to the
// target), and that every other hop logged none.
func (b *bench) checkHops(name string, route []int, before [nHops]logged, n int) error {
	return b.checkHopsTo(name, route, before, n, b.targetAddr)
}

// checkHopsTo is checkHops with the last hop's destination last.
func (b *bench) checkHopsTo(name string, route []int, before [nHops]logged, n int, last string) error {
	want := [nHops]int64{}
	for _, i := range route {
		want[i] = int64(n)
	}
	deadline := time.Now().Add(2 * time.Second)
	var now [nHops]logged
	for {
		now = b.snapshotHops()
		done := true
		for i := range nHops {
			if now[i].total-before[i].total < want[i] {
				done = false
			}
		}
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := range nHops {
		if got := now[i].total - before[i].total; got != want[i] {
			return fmt.Errorf("%s: microsocks hop %d (%s) logged %d connections, want %d", name, i+1, b.hops[i].addr, got, want[i])
		}
	}
	for p, i := range route {
		dest := last
		if p+1 < len(route) {
			dest = b.hops[route[p+1]].addr
		}
		if got := now[i].byDest[dest] - before[i].byDest[dest]; got != int64(n) {
			return fmt.Errorf("%s: microsocks hop %d (%s) logged %d connections to %s, want %d", name, i+1, b.hops[i].addr, got, dest, n)
		}
	}
	return nil
}

// A config is one way of running connloop.
type config struct {
	name  string
	route []int // the hops (indices into bench.hops) every connection goes through, in order; nil: none
	argv  func(n int) []string
}

const (
	colChainrun = iota
	colProxychains
	colDirect
	colBare
	nCols
	// colTrap is measured like a column but shown as its own row:
	// connloop speaks SOCKS5 itself under chainrun, so chainrun traps
	// every connect but lets it through (it goes to the proxy itself).
	// Against direct-SOCKS it isolates the cost of trapping a connect
	// from the cost of the tracer's handshake.
	colTrap = nCols
	// colPtrace is chainrun with CHAINRUN_PTRACE_ONLY=1 (a row of its
	// own): every connect stops for ptrace, as before connects went to
	// the seccomp listener and as on kernels without one.
	colPtrace = nCols + 1
	// Then chainrun and proxychains4 through the chains of 2..nHops hops:
	// see chainCfg.
	cfgChainFirst = colPtrace + 1
	nConfigs      = cfgChainFirst + 2*(nHops-1)
)

// chainCfg is the index of the configuration running col (colChainrun or
// colProxychains) through the chain of hops hops, 2 ≤ hops ≤ nHops.
func chainCfg(hops, col int) int { return cfgChainFirst + 2*(hops-2) + col }

// route returns the hop indices 0..k-1.
func route(k int) []int {
	r := make([]int, k)
	for i := range r {
		r[i] = i
	}
	return r
}

var colNames = [nCols]string{"chainrun", "proxychains4", "direct-SOCKS client", "bare"}

// chainrunArgv is `chainrun -q -x URL1 … -x URLk`, one -x per hop in order.
func (b *bench) chainrunArgv(hops []int) []string {
	argv := []string{b.opts.chainrun, "-q"}
	for _, i := range hops {
		argv = append(argv, "-x", "socks5://"+b.hops[i].addr)
	}
	return argv
}

func (b *bench) configs() [nConfigs]config {
	th, tp, _ := net.SplitHostPort(b.targetAddr)
	pp := strconv.Itoa(b.hops[0].port)
	plain := func(n int) []string { return []string{b.connloop, "plain", th, tp, strconv.Itoa(n)} }
	socks5 := func(n int) []string { return []string{b.connloop, "socks5", proxyHost, pp, th, tp, strconv.Itoa(n)} }
	var cfgs [nConfigs]config
	cfgs[colChainrun] = config{"chainrun", route(1), func(n int) []string {
		return append(b.chainrunArgv(route(1)), plain(n)...)
	}}
	cfgs[colProxychains] = config{"proxychains4", route(1), func(n int) []string {
		return append([]string{b.opts.proxychains, "-q", "-f", b.pcConf[1]}, plain(n)...)
	}}
	cfgs[colDirect] = config{"direct-SOCKS", route(1), socks5}
	cfgs[colBare] = config{"bare", nil, plain}
	cfgs[colTrap] = config{"chainrun-trap", route(1), func(n int) []string {
		return append(b.chainrunArgv(route(1)), socks5(n)...)
	}}
	cfgs[colPtrace] = config{"chainrun-ptrace", route(1), func(n int) []string {
		return append(append([]string{"env", "CHAINRUN_PTRACE_ONLY=1"}, b.chainrunArgv(route(1))...), plain(n)...)
	}}
	for k := 2; k <= nHops; k++ {
		cfgs[chainCfg(k, colChainrun)] = config{fmt.Sprintf("chainrun-%dhop", k), route(k), func(n int) []string {
			return append(b.chainrunArgv(route(k)), plain(n)...)
		}}
		cfgs[chainCfg(k, colProxychains)] = config{fmt.Sprintf("proxychains4-%dhop", k), route(k), func(n int) []string {
			return append([]string{b.opts.proxychains, "-q", "-f", b.pcConf[k]}, plain(n)...)
		}}
	}
	return cfgs
}

// runsOf is how many measured runs configuration c gets.
func (b *bench) runsOf(c int) int {
	if c >= cfgChainFirst {
		return b.opts.chainRuns
	}
	return b.opts.runs
}

// loopResult is one verified connloop run.
type loopResult struct {
	perConnUs float64 // connloop's own loop time ÷ N
	p50Us     float64
	wallMs    float64 // the whole command, start-up included
}

// runConnloop runs one configuration and verifies it: exit 0, N ok, the
// target answered N more requests, and every microsocks on the
// configuration's chain logged N more connections, each to the next hop
// (the last: to the target), and every other one none (see checkHops).
func (b *bench) runConnloop(ctx context.Context, c config, n int) (loopResult, error) {
	before, err := b.targetCount()
	if err != nil {
		return loopResult{}, fmt.Errorf("target /count: %w", err)
	}
	msBefore := b.snapshotHops()
	argv := c.argv(n)
	r := b.run(ctx, runTimeout, false, argv...)
	if errors.Is(r.err, context.Canceled) || errors.Is(r.err, context.DeadlineExceeded) {
		return loopResult{}, r.err
	}
	if r.err != nil {
		return loopResult{}, fmt.Errorf("%s: %v\n  command: %s\n  stdout: %s  stderr: %s", c.name, r.err, strings.Join(argv, " "), r.stdout, r.stderr)
	}
	kv := parseKV(r.stdout)
	if kv["ok"] != strconv.Itoa(n) || kv["fail"] != "0" {
		return loopResult{}, fmt.Errorf("%s: connloop reported ok=%s fail=%s, want ok=%d fail=0 (%q)", c.name, kv["ok"], kv["fail"], n, r.stdout)
	}
	after, err := b.targetCount()
	if err != nil {
		return loopResult{}, fmt.Errorf("target /count: %w", err)
	}
	if after-before != int64(n) {
		return loopResult{}, fmt.Errorf("%s: the target answered %d requests, want %d", c.name, after-before, n)
	}
	if err := b.checkHops(c.name, c.route, msBefore, n); err != nil {
		return loopResult{}, err
	}
	var lr loopResult
	lr.wallMs = float64(r.wall) / 1e6
	if lr.perConnUs, err = strconv.ParseFloat(kv["per_conn_us"], 64); err != nil {
		return loopResult{}, fmt.Errorf("%s: bad connloop output %q", c.name, r.stdout)
	}
	if lr.p50Us, err = strconv.ParseFloat(kv["p50_us"], 64); err != nil {
		return loopResult{}, fmt.Errorf("%s: bad connloop output %q", c.name, r.stdout)
	}
	b.logf("%-18s n=%d per_conn=%.2fµs p50=%.2fµs wall=%.1fms", c.name, n, lr.perConnUs, lr.p50Us, lr.wallMs)
	return lr, nil
}

func parseKV(s string) map[string]string {
	m := map[string]string{}
	for _, f := range strings.Fields(s) {
		if k, v, ok := strings.Cut(f, "="); ok {
			m[k] = v
		}
	}
	return m
}

// checks proves the benchmark measures what it claims before measuring.
func (b *bench) checks(ctx context.Context) error {
	cfgs := b.configs()
	// Under chainrun with a proxy port where nothing listens, the
	// connection must fail, and must not reach the target directly.
	bad, err := freePort(proxyHost)
	if err != nil {
		return err
	}
	th, tp, _ := net.SplitHostPort(b.targetAddr)
	before, err := b.targetCount()
	if err != nil {
		return fmt.Errorf("target /count: %w", err)
	}
	r := b.run(ctx, runTimeout, false, b.opts.chainrun, "-q", "-x", fmt.Sprintf("socks5://%s:%d", proxyHost, bad), b.connloop, "plain", th, tp, "1")
	if errors.Is(r.err, context.Canceled) || errors.Is(r.err, context.DeadlineExceeded) {
		return r.err
	}
	after, err := b.targetCount()
	if err != nil {
		return fmt.Errorf("target /count: %w", err)
	}
	var ee *exec.ExitError
	if !errors.As(r.err, &ee) {
		return fmt.Errorf("check: chainrun with a dead proxy port %d: want a failing connloop, got %v (stdout %q)", bad, r.err, r.stdout)
	}
	if after != before {
		return fmt.Errorf("check: chainrun with a dead proxy port %d: the target still got %d request(s): a leak", bad, after-before)
	}
	b.logf("check: dead proxy port → exit %d, target untouched (%s)", ee.ExitCode(), strings.TrimSpace(r.stderr))
	if b.opts.chainRuns > 0 {
		// A strict chain whose middle hop is dead must fail too: a chain
		// that skipped that hop would reach the target through hop 3.
		argv := []string{b.opts.chainrun, "-q", "-x", "socks5://" + b.hops[0].addr,
			"-x", fmt.Sprintf("socks5://%s:%d", proxyHost, bad), "-x", "socks5://" + b.hops[2].addr,
			b.connloop, "plain", th, tp, "1"}
		msBefore := b.snapshotHops()
		if before, err = b.targetCount(); err != nil {
			return fmt.Errorf("target /count: %w", err)
		}
		r := b.run(ctx, runTimeout, false, argv...)
		if errors.Is(r.err, context.Canceled) || errors.Is(r.err, context.DeadlineExceeded) {
			return r.err
		}
		if after, err = b.targetCount(); err != nil {
			return fmt.Errorf("target /count: %w", err)
		}
		if !errors.As(r.err, &ee) {
			return fmt.Errorf("check: chainrun through hop 1, a dead port %d, hop 3: want a failing connloop, got %v (stdout %q)", bad, r.err, r.stdout)
		}
		if after != before {
			return fmt.Errorf("check: chainrun through hop 1, a dead port %d, hop 3: the target still got %d request(s): a hop was skipped", bad, after-before)
		}
		if got := b.hops[2].snapshot().total - msBefore[2].total; got != 0 {
			return fmt.Errorf("check: chainrun through hop 1, a dead port %d, hop 3: hop 3 logged %d connection(s), want 0", bad, got)
		}
		b.logf("check: dead middle hop → exit %d, target untouched (%s)", ee.ExitCode(), strings.TrimSpace(r.stderr))
	}
	// Warm-up, verified like every measured run.
	for i, c := range cfgs {
		if b.runsOf(i) == 0 {
			continue
		}
		if _, err := b.runConnloop(ctx, c, min(100, b.opts.n)); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	return nil
}

// measureConnloop runs every configuration runsOf times, in rounds. A
// configuration with fewer runs than there are rounds has them spread
// evenly over the rounds; within a round the order is rotated, so that
// drift on the machine hits every configuration alike.
func (b *bench) measureConnloop(ctx context.Context) ([nConfigs][]loopResult, error) {
	var res [nConfigs][]loopResult
	cfgs := b.configs()
	rounds := 0
	for c := range nConfigs {
		rounds = max(rounds, b.runsOf(c))
	}
	for i := range rounds {
		var active []int
		for c := range nConfigs {
			if k := b.runsOf(c); (i+1)*k/rounds > i*k/rounds {
				active = append(active, c)
			}
		}
		for j := range active {
			c := active[(i+j)%len(active)]
			lr, err := b.runConnloop(ctx, cfgs[c], b.opts.n)
			if err != nil {
				return res, err
			}
			res[c] = append(res[c], lr)
		}
	}
	return res, nil
}

// measureStartup times `chainrun … true`, `proxychains4 … true` and
// /bin/true; the direct-SOCKS column has no start-up of its own.
func (b *bench) measureStartup(ctx context.Context) ([nCols][]float64, error) {
	var res [nCols][]float64
	truePath, err := exec.LookPath("true")
	if err != nil {
		truePath = "/bin/true"
	}
	argv := map[int][]string{
		colChainrun:    append(b.chainrunArgv(route(1)), "true"),
		colProxychains: {b.opts.proxychains, "-q", "-f", b.pcConf[1], "true"},
		colBare:        {truePath},
	}
	cols := []int{colChainrun, colProxychains, colBare}
	for i := -2; i < b.opts.startupRuns; i++ { // two unmeasured warm-up rounds
		for j := range cols {
			col := cols[(i+2+j)%len(cols)]
			r := b.run(ctx, startupTimout, true, argv[col]...)
			if r.err != nil {
				if errors.Is(r.err, context.Canceled) || errors.Is(r.err, context.DeadlineExceeded) {
					return res, r.err
				}
				return res, fmt.Errorf("start-up %s: %v\n  command: %s\n  stderr: %s", colNames[col], r.err, strings.Join(argv[col], " "), r.stderr)
			}
			if i >= 0 {
				res[col] = append(res[col], float64(r.wall)/1e6)
			}
		}
	}
	b.logf("start-up medians: chainrun %.2fms proxychains4 %.2fms true %.2fms",
		median(res[colChainrun]), median(res[colProxychains]), median(res[colBare]))
	return res, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// cell formats "median [min–max]".
func cell(xs []float64, prec int) string {
	if len(xs) == 0 {
		return "—"
	}
	return fmt.Sprintf("%.*f [%.*f–%.*f]", prec, median(xs), prec, slices.Min(xs), prec, slices.Max(xs))
}

// A goal is a target: a value must be at most v (or, with atLeast, at
// least v). The zero goal is no target.
type goal struct {
	v       float64
	atLeast bool
	note    string // how v was derived, shown after it (absolute goals)
}

func atMost(v float64) goal  { return goal{v: v} }
func atLeast(v float64) goal { return goal{v: v, atLeast: true} }

// check returns "✓ (target ≤ v)" or "✗ (…)" for x, with prec decimals.
func (g goal) check(x float64, prec int, unit string) string {
	mark, op := "✓", "≤"
	if g.atLeast {
		op = "≥"
		if x < g.v {
			mark = "✗"
		}
	} else if x > g.v {
		mark = "✗"
	}
	return fmt.Sprintf("%s (target %s %.*f%s%s)", mark, op, prec, g.v, unit, g.note)
}

func ratio(a, b []float64, g goal) string {
	if len(a) == 0 || len(b) == 0 || median(b) <= 0 || median(a) < 0 {
		return "—" // no ratio of a time that is not positive (an "added" row below zero)
	}
	r := median(a) / median(b)
	if g.v == 0 {
		return fmt.Sprintf("%.2f", r)
	}
	return fmt.Sprintf("%.2f %s", r, g.check(r, 2, ""))
}

// Ratio columns, in the order the table shows them.
const (
	ratioProxychains = iota // chainrun ÷ proxychains4
	ratioDirect             // chainrun ÷ direct-SOCKS client
	ratioBare               // chainrun ÷ bare
	nRatios
)

// row is one line of the table: a value per column, median [min–max].
type row struct {
	name    string
	vals    [nCols][]float64
	prec    int
	targets [nRatios]goal // per ratio column; the zero goal: none
	// abs is a target on chainrun's own median (e.g. memory), shown in its
	// cell with unit.
	abs  goal
	unit string
}

// onRatio returns targets with g on ratio column col.
func onRatio(col int, g goal) [nRatios]goal {
	var t [nRatios]goal
	t[col] = g
	return t
}

func (b *bench) table(conn [nConfigs][]loopResult, start [nCols][]float64, more []row) string {
	pick := func(f func(loopResult) float64) [nCols][]float64 {
		var out [nCols][]float64
		for c := range nCols {
			for _, lr := range conn[c] {
				out[c] = append(out[c], f(lr))
			}
		}
		return out
	}
	perConn := pick(func(l loopResult) float64 { return l.perConnUs })
	var overBare [nCols][]float64
	bare := median(perConn[colBare])
	for c := range colBare {
		for _, v := range perConn[c] {
			overBare[c] = append(overBare[c], v-bare)
		}
	}
	var trapOnly [nCols][]float64
	for _, lr := range conn[colTrap] {
		trapOnly[colChainrun] = append(trapOnly[colChainrun], lr.perConnUs)
	}
	trapOnly[colDirect] = perConn[colDirect]
	var ptraceOnly [nCols][]float64
	for _, lr := range conn[colPtrace] {
		ptraceOnly[colChainrun] = append(ptraceOnly[colChainrun], lr.perConnUs)
	}
	ptraceOnly[colProxychains] = perConn[colProxychains]
	ptraceOnly[colDirect] = perConn[colDirect]
	var chains [nHops + 1][nCols][]float64 // chains[k]: per connection through k hops
	for k := 2; k <= nHops; k++ {
		for _, col := range []int{colChainrun, colProxychains} {
			for _, lr := range conn[chainCfg(k, col)] {
				chains[k][col] = append(chains[k][col], lr.perConnUs)
			}
		}
	}
	rows := []row{
		{name: fmt.Sprintf("per connection, µs (connloop N=%d: loop time ÷ N)", b.opts.n), vals: perConn, prec: 1, targets: onRatio(ratioProxychains, atMost(perConnTarget))},
		{name: "per connection p50, µs (within a run)", vals: pick(func(l loopResult) float64 { return l.p50Us }), prec: 1},
		{name: "added per connection over bare, µs (run − median bare)", vals: overBare, prec: 1},
		{name: fmt.Sprintf("connloop N=%d whole command, ms (start-up included)", b.opts.n), vals: pick(func(l loopResult) float64 { return l.wallMs }), prec: 1},
		{name: "per connection, µs, trap only: the client speaks SOCKS5 itself under chainrun, which lets the connect to the proxy through", vals: trapOnly, prec: 1},
		{name: "per connection, µs, connects stopping for ptrace (CHAINRUN_PTRACE_ONLY=1: the path before the seccomp listener, and on kernels without one)", vals: ptraceOnly, prec: 1},
	}
	if b.opts.chainRuns > 0 {
		for k := 2; k <= nHops; k++ {
			rows = append(rows, row{name: fmt.Sprintf("per connection, µs, %d-hop chain (connloop N=%d, %d runs)", k, b.opts.n, b.opts.chainRuns),
				vals: chains[k], prec: 1, targets: onRatio(ratioProxychains, atMost(perConnTarget))})
		}
	}
	rows = append(rows, row{name: "start-up: `… true` wall time, ms (bare = /bin/true)", vals: start, prec: 2, targets: onRatio(ratioProxychains, atMost(startupTarget))})
	rows = append(rows, more...)
	var sb strings.Builder
	runs := fmt.Sprintf("%d connloop runs, %d start-up runs", b.opts.runs, b.opts.startupRuns)
	if b.opts.netRuns > 0 {
		runs += fmt.Sprintf(", %d runs of each DNS, UDP and TCP-stream configuration", b.opts.netRuns)
	}
	if b.extraOn() {
		runs += fmt.Sprintf(", %d runs of each bulk, non-network, concurrent-connect and memory configuration", b.opts.extraRuns)
	}
	fmt.Fprintf(&sb, "| metric (median [min–max]; %s) | %s | %s | %s | %s | chainrun÷proxychains4 | chainrun÷direct-SOCKS | chainrun÷bare |\n",
		runs, colNames[0], colNames[1], colNames[2], colNames[3])
	sb.WriteString("|---|---:|---:|---:|---:|---|---|---|\n")
	for _, r := range rows {
		crCell := cell(r.vals[colChainrun], r.prec)
		if r.abs.v != 0 && len(r.vals[colChainrun]) > 0 {
			crCell += " " + r.abs.check(median(r.vals[colChainrun]), r.prec, r.unit)
		}
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", r.name,
			crCell, cell(r.vals[colProxychains], r.prec),
			cell(r.vals[colDirect], r.prec), cell(r.vals[colBare], r.prec),
			ratio(r.vals[colChainrun], r.vals[colProxychains], r.targets[ratioProxychains]),
			ratio(r.vals[colChainrun], r.vals[colDirect], r.targets[ratioDirect]),
			ratio(r.vals[colChainrun], r.vals[colBare], r.targets[ratioBare]))
	}
	return sb.String()
}

func (b *bench) machineInfo(ctx context.Context) string {
	var sb strings.Builder
	read := func(path string) string {
		data, err := os.ReadFile(path)
		if err != nil {
			return "?"
		}
		return strings.TrimSpace(string(data))
	}
	cpu := "?"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	version := func(argv ...string) string {
		r := b.run(ctx, 10*time.Second, false, argv...)
		if r.err != nil {
			return "?"
		}
		return strings.TrimSpace(r.stdout)
	}
	pkg := func(name string) string {
		if _, err := exec.LookPath("dpkg-query"); err != nil {
			return "?"
		}
		return version("dpkg-query", "-W", "-f", "${Version}", name)
	}
	fmt.Fprintf(&sb, "date:        %s\n", time.Now().UTC().Format("2006-01-02 15:04:05 UTC"))
	fmt.Fprintf(&sb, "kernel:      %s\n", read("/proc/sys/kernel/osrelease"))
	fmt.Fprintf(&sb, "cpu:         %s, nproc %d\n", cpu, runtime.NumCPU())
	fmt.Fprintf(&sb, "loadavg:     %s (at start)\n", read("/proc/loadavg"))
	fmt.Fprintf(&sb, "go:          %s\n", runtime.Version())
	fmt.Fprintf(&sb, "chainrun:    %s (%s)\n", version(b.opts.chainrun, "--version"), b.opts.chainrun)
	fmt.Fprintf(&sb, "proxychains: %s %s, microsocks %s\n", filepath.Base(b.opts.proxychains), pkg("proxychains4"), pkg("microsocks"))
	fmt.Fprintf(&sb, "command:     testdata/bench/run %s\n", strings.Join(os.Args[1:], " "))
	var hops []string
	for _, h := range b.hops {
		hops = append(hops, h.addr)
	}
	fmt.Fprintf(&sb, "setup:       target %s, microsocks hops %s, connloop N=%d\n", b.targetAddr, strings.Join(hops, " → "), b.opts.n)
	if b.opts.netRuns > 0 {
		ns := &b.net
		pinned := "not pinned"
		if ns.cpuA >= 0 {
			pinned = fmt.Sprintf("pinned to CPU %d", ns.cpuA)
		}
		fmt.Fprintf(&sb, "net setup:   DNS server %s:53 (A %s), resolv.conf bind-mounted in a private mount namespace; UDP echo %s (%s); TCP stream server %s; dig %s\n",
			ns.dnsHost, dnsAnswerA, ns.udpEcho, pinned, ns.tcpServer, pkg("bind9-dnsutils"))
	}
	if b.extraOn() {
		x := &b.extra
		nofile := x.msNofile
		if nofile == "" {
			nofile = "inherited"
		}
		fmt.Fprintf(&sb, "more setup:  sink %s; bulk %d MiB; find %q (findutils %s); open/fcntl/getppid n %d/%d/%d; burst %d threads; hold %d connections; microsocks RLIMIT_NOFILE %s\n",
			x.sinkAddr, b.opts.bulkMiB, b.opts.findDir, pkg("findutils"), b.opts.openN, b.opts.fcntlN, b.opts.getppidN, b.opts.burstThreads, b.opts.holdN, nofile)
	}
	return sb.String()
}
