// Command run is chainrun's benchmark driver (`make bench`). It compares
// chainrun with proxychains4 and with a client that speaks SOCKS5 itself,
// all through the same microsocks on loopback, and prints one Markdown
// table.
//
// Usage (from the repository root, after building bin/chainrun):
//
//	go run ./testdata/bench/run -chainrun bin/chainrun
//
// In one run, bounded by -timeout, it:
//
//  1. compiles testdata/bench/connloop.c and builds testdata/bench/target
//     into a temporary directory, starts the target on 127.0.0.2 and
//     microsocks on 127.0.0.1 (free ports, listeners awaited at most 5 s);
//  2. checks correctness: a run under chainrun with a proxy port where
//     nothing listens must fail without reaching the target, and every
//     measured run must report N successful requests, the target must have
//     answered exactly N more, and microsocks must have logged exactly N
//     more connections (0 for the bare run);
//  3. measures connloop N=-n per-connection time, -runs times per
//     configuration, interleaved: bare (no proxy), chainrun, proxychains4
//     (generated strict_chain config, no proxy_dns) and connloop speaking
//     SOCKS5 itself (and, as a diagnostic row, connloop speaking SOCKS5
//     itself under chainrun: every connect trapped, none negotiated by the
//     tracer); then the start-up wall time of `chainrun … true`,
//     `proxychains4 … true` and /bin/true, -startup-runs times each;
//  4. prints machine information and the table (median [min–max]) with the
//     ratios chainrun÷proxychains4 and chainrun÷direct-SOCKS. Targets are
//     shown with ✓/✗ for information only.
//
// Network: everything stays on 127.0.0.0/8. The exit status is 0 when every
// run succeeded, 1 when a run or a check failed (never because of a ratio),
// 2 on bad usage, 130 when interrupted. Every process it starts is killed by
// its PID (and its process group) on the way out, including on error and on
// SIGINT/SIGTERM, and the temporary directory is removed.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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
	"sync/atomic"
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
	perConnTarget = 1.05 // per connection, chainrun ÷ proxychains4
	startupTarget = 1.5  // start-up, chainrun ÷ proxychains4
)

type options struct {
	chainrun    string
	proxychains string
	microsocks  string
	cc          string
	dir         string
	n           int
	runs        int
	startupRuns int
	timeout     time.Duration
	verbose     bool
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
	flag.IntVar(&o.startupRuns, "startup-runs", 40, "start-up runs per configuration (≥20)")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "bound on the whole benchmark")
	flag.BoolVar(&o.verbose, "v", false, "print every run as it happens")
	flag.Parse()
	if flag.NArg() != 0 || o.n < 1 || o.runs < 1 || o.startupRuns < 1 || o.timeout <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	if o.runs < 5 || o.startupRuns < 20 {
		fmt.Fprintln(os.Stderr, "bench: warning: fewer runs than the benchmark's minimum (5 connloop, 20 start-up)")
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
	proxyPort  int
	pcConf     string

	msLines  atomic.Int64 // microsocks "connected to" log lines so far
	services []*exec.Cmd  // long-running children (target, microsocks)
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
	if err := b.startTarget(ctx); err != nil {
		return err
	}
	if err := b.startMicrosocks(ctx); err != nil {
		return err
	}
	b.pcConf = filepath.Join(b.tmp, "proxychains.conf")
	conf := fmt.Sprintf("# generated by testdata/bench/run\nstrict_chain\nquiet_mode\ntcp_read_time_out 15000\ntcp_connect_time_out 8000\n[ProxyList]\nsocks5 %s %d\n", proxyHost, b.proxyPort)
	if err := os.WriteFile(b.pcConf, []byte(conf), 0o644); err != nil {
		return err
	}

	info := b.machineInfo(ctx)
	if err := b.checks(ctx); err != nil {
		return err
	}
	conn, err := b.measureConnloop(ctx)
	if err != nil {
		return err
	}
	start, err := b.measureStartup(ctx)
	if err != nil {
		return err
	}
	fmt.Print(info)
	fmt.Println()
	fmt.Print(b.table(conn, start))
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

func (b *bench) startMicrosocks(ctx context.Context) error {
	port, err := freePort(proxyHost)
	if err != nil {
		return err
	}
	b.proxyPort = port
	err = b.startService([]string{b.opts.microsocks, "-i", proxyHost, "-p", strconv.Itoa(port)}, func(line string) {
		if strings.Contains(line, "connected to") {
			b.msLines.Add(1)
		}
	})
	if err != nil {
		return fmt.Errorf("starting microsocks: %w", err)
	}
	if err := waitListener(ctx, net.JoinHostPort(proxyHost, strconv.Itoa(port))); err != nil {
		return fmt.Errorf("microsocks: %w", err)
	}
	b.logf("microsocks listening on %s:%d", proxyHost, port)
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

// waitMicrosocks waits (at most 2 s) until microsocks has logged want
// connections in all, and returns how many it has logged.
func (b *bench) waitMicrosocks(want int64) int64 {
	deadline := time.Now().Add(2 * time.Second)
	for {
		got := b.msLines.Load()
		if got >= want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A config is one way of running connloop.
type config struct {
	name     string
	viaProxy bool // microsocks must see every connection
	argv     func(n int) []string
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
	colTrap  = nCols
	nConfigs = nCols + 1
)

var colNames = [nCols]string{"chainrun", "proxychains4", "direct-SOCKS client", "bare"}

func (b *bench) configs() [nConfigs]config {
	th, tp, _ := net.SplitHostPort(b.targetAddr)
	pp := strconv.Itoa(b.proxyPort)
	proxyURL := "socks5://" + net.JoinHostPort(proxyHost, pp)
	plain := func(n int) []string { return []string{b.connloop, "plain", th, tp, strconv.Itoa(n)} }
	socks5 := func(n int) []string { return []string{b.connloop, "socks5", proxyHost, pp, th, tp, strconv.Itoa(n)} }
	return [nConfigs]config{
		colChainrun: {"chainrun", true, func(n int) []string {
			return append([]string{b.opts.chainrun, "-q", "-x", proxyURL}, plain(n)...)
		}},
		colProxychains: {"proxychains4", true, func(n int) []string {
			return append([]string{b.opts.proxychains, "-q", "-f", b.pcConf}, plain(n)...)
		}},
		colDirect: {"direct-SOCKS", true, socks5},
		colBare:   {"bare", false, plain},
		colTrap: {"chainrun-trap", true, func(n int) []string {
			return append([]string{b.opts.chainrun, "-q", "-x", proxyURL}, socks5(n)...)
		}},
	}
}

// loopResult is one verified connloop run.
type loopResult struct {
	perConnUs float64 // connloop's own loop time ÷ N
	p50Us     float64
	wallMs    float64 // the whole command, start-up included
}

// runConnloop runs one configuration and verifies it: exit 0, N ok, the
// target answered N more requests, microsocks logged N more connections
// (or none for a configuration that must not use it).
func (b *bench) runConnloop(ctx context.Context, c config, n int) (loopResult, error) {
	before, err := b.targetCount()
	if err != nil {
		return loopResult{}, fmt.Errorf("target /count: %w", err)
	}
	msBefore := b.msLines.Load()
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
	want := int64(0)
	if c.viaProxy {
		want = int64(n)
	}
	if got := b.waitMicrosocks(msBefore+want) - msBefore; got != want {
		return loopResult{}, fmt.Errorf("%s: microsocks logged %d connections, want %d", c.name, got, want)
	}
	var lr loopResult
	lr.wallMs = float64(r.wall) / 1e6
	if lr.perConnUs, err = strconv.ParseFloat(kv["per_conn_us"], 64); err != nil {
		return loopResult{}, fmt.Errorf("%s: bad connloop output %q", c.name, r.stdout)
	}
	if lr.p50Us, err = strconv.ParseFloat(kv["p50_us"], 64); err != nil {
		return loopResult{}, fmt.Errorf("%s: bad connloop output %q", c.name, r.stdout)
	}
	b.logf("%-13s n=%d per_conn=%.2fµs p50=%.2fµs wall=%.1fms", c.name, n, lr.perConnUs, lr.p50Us, lr.wallMs)
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
	// Warm-up, verified like every measured run.
	for _, c := range cfgs {
		if _, err := b.runConnloop(ctx, c, min(100, b.opts.n)); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	return nil
}

func (b *bench) measureConnloop(ctx context.Context) ([nConfigs][]loopResult, error) {
	var res [nConfigs][]loopResult
	cfgs := b.configs()
	for i := 0; i < b.opts.runs; i++ {
		for j := range nConfigs {
			col := (i + j) % nConfigs // rotate the order: drift hits every configuration alike
			lr, err := b.runConnloop(ctx, cfgs[col], b.opts.n)
			if err != nil {
				return res, err
			}
			res[col] = append(res[col], lr)
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
		colChainrun:    {b.opts.chainrun, "-q", "-x", fmt.Sprintf("socks5://%s:%d", proxyHost, b.proxyPort), "true"},
		colProxychains: {b.opts.proxychains, "-q", "-f", b.pcConf, "true"},
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

func ratio(a, b []float64, target float64) string {
	if len(a) == 0 || len(b) == 0 || median(b) == 0 {
		return "—"
	}
	r := median(a) / median(b)
	if target == 0 {
		return fmt.Sprintf("%.2f", r)
	}
	mark := "✓"
	if r > target {
		mark = "✗"
	}
	return fmt.Sprintf("%.2f %s (target ≤ %.2f)", r, mark, target)
}

func (b *bench) table(conn [nConfigs][]loopResult, start [nCols][]float64) string {
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
	type row struct {
		name   string
		vals   [nCols][]float64
		prec   int
		target float64 // chainrun ÷ proxychains4 target, 0 for none
	}
	rows := []row{
		{fmt.Sprintf("per connection, µs (connloop N=%d: loop time ÷ N)", b.opts.n), perConn, 1, perConnTarget},
		{"per connection p50, µs (within a run)", pick(func(l loopResult) float64 { return l.p50Us }), 1, 0},
		{"added per connection over bare, µs (run − median bare)", overBare, 1, 0},
		{fmt.Sprintf("connloop N=%d whole command, ms (start-up included)", b.opts.n), pick(func(l loopResult) float64 { return l.wallMs }), 1, 0},
		{"per connection, µs, trap only: the client speaks SOCKS5 itself under chainrun, which lets the connect to the proxy through", trapOnly, 1, 0},
		{"start-up: `… true` wall time, ms (bare = /bin/true)", start, 2, startupTarget},
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "| metric (median [min–max]; %d connloop runs, %d start-up runs) | %s | %s | %s | %s | chainrun÷proxychains4 | chainrun÷direct-SOCKS |\n",
		b.opts.runs, b.opts.startupRuns, colNames[0], colNames[1], colNames[2], colNames[3])
	sb.WriteString("|---|---:|---:|---:|---:|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s | %s | %s |\n", r.name,
			cell(r.vals[colChainrun], r.prec), cell(r.vals[colProxychains], r.prec),
			cell(r.vals[colDirect], r.prec), cell(r.vals[colBare], r.prec),
			ratio(r.vals[colChainrun], r.vals[colProxychains], r.target),
			ratio(r.vals[colChainrun], r.vals[colDirect], 0))
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
	fmt.Fprintf(&sb, "setup:       target %s, microsocks %s:%d, connloop N=%d\n", b.targetAddr, proxyHost, b.proxyPort, b.opts.n)
	return sb.String()
}
