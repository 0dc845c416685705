package main

// The bulk-throughput, non-network, concurrent-connect and tracer-memory
// rows: what chainrun costs a program that moves a lot of data through one
// proxied connection, a program that does no networking at all, a program
// that connects from many threads at once, and how much memory the tracer
// needs for many open proxied connections.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Targets of these rows, for information (✓/✗), like the others.
const (
	bulkTarget      = 0.98 // bulk MB/s, chainrun ÷ direct-SOCKS client: at least
	sysTarget       = 1.02 // non-network workloads, chainrun ÷ bare: at most
	burstTarget     = 1.3  // concurrent connects' wall time, chainrun ÷ in-process SOCKS5: at most
	holdRSSTarget   = 30.0 // tracer VmRSS with the connections open, MB: at most
	holdAfterTarget = 1.10 // tracer VmRSS after they closed ÷ its baseline: at most ("back near baseline")
)

// extraState is what these rows need.
type extraState struct {
	sink, bulk, sysloop, burst, connhold string // built fixtures
	find                                 string // find(1)
	file                                 string // the file sysloop opens
	sinkAddr, sinkHost, sinkPort         string
	msNofile                             string // what the microsocks' RLIMIT_NOFILE is, for the machine info

	mu     sync.Mutex
	closed map[string]int64 // the sink's "closed len=L bytes=B" lines, by "len=L bytes=B"

	// pcBurstRetries counts the proxychains4 burst runs that failed and
	// were run again (see runExtraRetry); pcBurstFailed the connects that
	// failed in them.
	pcBurstRetries, pcBurstFailed int
}

// maxRetries bounds how often a failed proxychains4 burst run is run again.
const maxRetries = 3

// Groups: the table rows, each measured in up to four columns.
const (
	xgBulk = iota
	xgFind
	xgOpen
	xgFcntl
	xgGetppid
	xgBurst
	xgHold
	nXGroups
)

type xKind int

const (
	xkBulk xKind = iota
	xkSys
	xkBurst
	xkHold
)

// An xCase is one way of running one of these fixtures.
type xCase struct {
	name  string
	group int
	col   int // colChainrun, colProxychains, colDirect or colBare
	kind  xKind
	route []int // hops every connection goes through; nil: none
	argv  func(n int) []string
	n     int // the run's size (MiB, calls, threads, connections)
	warmN int
}

// xResult is one verified run.
type xResult struct {
	value float64 // MB/s, ns per call, ms
	p50   float64 // burst: the median thread's time, ms
	// hold: chainrun's VmRSS (MB) before the first connect, with all open,
	// after all closed (and -hold-settle), and its VmHWM at the end.
	rssBase, rssOpen, rssClosed, hwm float64
	// The same three readings split: anonymous memory (RssAnon: what the
	// tracer allocates) and file pages (RssFile: chainrun's own code,
	// faulted in as code paths run for the first time).
	anon, file [3]float64
}

func (b *bench) extraOn() bool { return b.opts.extraRuns > 0 }

// buildExtra compiles the fixtures of these rows.
func (b *bench) buildExtra(ctx context.Context) error {
	x := &b.extra
	for _, f := range []struct {
		dst   *string
		src   string
		extra []string
	}{{&x.sink, "sink", nil}, {&x.bulk, "bulk", nil}, {&x.sysloop, "sysloop", nil},
		{&x.burst, "burst", []string{"-pthread"}}, {&x.connhold, "connhold", nil}} {
		*f.dst = filepath.Join(b.tmp, f.src)
		argv := append([]string{b.opts.cc, "-O2", "-Wall", "-o", *f.dst, filepath.Join(b.opts.dir, f.src+".c")}, f.extra...)
		r := b.run(ctx, 2*time.Minute, false, argv...)
		if r.err != nil {
			return fmt.Errorf("compiling %s.c: %v\n%s%s", f.src, r.err, r.stdout, r.stderr)
		}
	}
	if b.opts.findDir != "" {
		var err error
		if x.find, err = exec.LookPath("find"); err != nil {
			return fmt.Errorf("%w (apt-get install -y findutils)", err)
		}
		if st, err := os.Stat(b.opts.findDir); err != nil || !st.IsDir() {
			return fmt.Errorf("-find-dir %s: not a directory (%v)", b.opts.findDir, err)
		}
	}
	x.file = filepath.Join(b.tmp, "sysloop-file")
	return os.WriteFile(x.file, []byte("chainrun bench\n"), 0o644)
}

// microsocksArgv is the command that starts one microsocks: with the
// memory row on, under prlimit if the soft RLIMIT_NOFILE children get is
// too low for -hold-n connections (two descriptors each).
func (b *bench) microsocksArgv(ctx context.Context, port int) ([]string, error) {
	argv := []string{b.opts.microsocks, "-i", proxyHost, "-p", strconv.Itoa(port)}
	if !b.extraOn() || b.opts.holdN == 0 {
		return argv, nil
	}
	need := 2*b.opts.holdN + 64
	if b.extra.msNofile == "" {
		// What a child gets (the Go runtime raised the driver's own limit).
		r := b.run(ctx, 10*time.Second, false, "sh", "-c", "ulimit -Sn; ulimit -Hn")
		f := strings.Fields(r.stdout)
		if r.err != nil || len(f) != 2 {
			return nil, fmt.Errorf("reading RLIMIT_NOFILE: %v %q", r.err, r.stdout)
		}
		soft, _ := strconv.Atoi(f[0])
		hard := f[1]
		switch {
		case f[0] == "unlimited" || soft >= need:
			b.extra.msNofile = fmt.Sprintf("%s (inherited; %d needed)", f[0], need)
		default:
			if h, err := strconv.Atoi(hard); err == nil && h < need {
				return nil, fmt.Errorf("-hold-n %d needs RLIMIT_NOFILE ≥ %d for microsocks, the hard limit is %d: lower -hold-n", b.opts.holdN, need, h)
			}
			b.extra.msNofile = fmt.Sprintf("%d (raised with prlimit from %d)", need, soft)
		}
	}
	if strings.Contains(b.extra.msNofile, "prlimit") {
		pl, err := exec.LookPath("prlimit")
		if err != nil {
			return nil, fmt.Errorf("microsocks needs RLIMIT_NOFILE ≥ %d for -hold-n %d: %w (apt-get install -y util-linux, or lower -hold-n)", need, b.opts.holdN, err)
		}
		argv = append([]string{pl, fmt.Sprintf("--nofile=%d:", need), "--"}, argv...)
	}
	return argv, nil
}

// startExtra starts the sink.
func (b *bench) startExtra() error {
	x := &b.extra
	x.closed = map[string]int64{}
	addrc := make(chan string, 1)
	err := b.startService([]string{x.sink, targetHost, strconv.Itoa(int(serviceLifetime / time.Second))}, func(line string) {
		if a, ok := strings.CutPrefix(line, "listening "); ok {
			select {
			case addrc <- a:
			default:
			}
			return
		}
		if k, ok := strings.CutPrefix(line, "closed "); ok {
			x.mu.Lock()
			x.closed[k]++
			x.mu.Unlock()
			return
		}
		fmt.Fprintln(os.Stderr, "sink:", line)
	})
	if err != nil {
		return fmt.Errorf("starting the sink: %w", err)
	}
	select {
	case x.sinkAddr = <-addrc:
	case <-time.After(listenerWait):
		return fmt.Errorf("the sink did not listen within %v", listenerWait)
	}
	x.sinkHost, x.sinkPort, _ = net.SplitHostPort(x.sinkAddr)
	b.logf("sink listening on %s", x.sinkAddr)
	return nil
}

func (b *bench) sinkSnapshot() map[string]int64 {
	b.extra.mu.Lock()
	defer b.extra.mu.Unlock()
	return maps.Clone(b.extra.closed)
}

// checkSink waits (at most 2 s) until the sink has logged n more closed
// connections than in before, then checks that they are exactly n, all
// "len=L bytes=L" (every announced byte arrived, and no more).
func (b *bench) checkSink(name string, before map[string]int64, n int, l uint64) error {
	key := fmt.Sprintf("len=%d bytes=%d", l, l)
	sum := func(m map[string]int64) (t int64) {
		for _, v := range m {
			t += v
		}
		return t
	}
	deadline := time.Now().Add(2 * time.Second)
	var now map[string]int64
	for {
		now = b.sinkSnapshot()
		if sum(now)-sum(before) >= int64(n) || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := sum(now) - sum(before); got != int64(n) {
		return fmt.Errorf("%s: the sink logged %d closed connections, want %d", name, got, n)
	}
	if got := now[key] - before[key]; got != int64(n) {
		var diff []string
		for k, v := range now {
			if d := v - before[k]; d != 0 {
				diff = append(diff, fmt.Sprintf("%d × %s", d, k))
			}
		}
		return fmt.Errorf("%s: the sink logged %s, want %d × %s", name, strings.Join(diff, ", "), n, key)
	}
	return nil
}

func (b *bench) extraCases() []xCase {
	x := &b.extra
	o := &b.opts
	pp := strconv.Itoa(b.hops[0].port)
	th, tp, _ := net.SplitHostPort(b.targetAddr)
	cr := func(argv []string) []string { return append(b.chainrunArgv(route(1)), argv...) }
	pc := func(argv []string) []string {
		return append([]string{o.proxychains, "-q", "-f", b.pcConf[1]}, argv...)
	}
	var cs []xCase
	// Bulk: plain under chainrun and proxychains4; the client speaking
	// SOCKS5 itself; bare, straight to the sink.
	bulkPlain := func(n int) []string { return []string{x.bulk, "plain", x.sinkHost, x.sinkPort, strconv.Itoa(n)} }
	bulkSocks := func(n int) []string {
		return []string{x.bulk, "socks5", proxyHost, pp, x.sinkHost, x.sinkPort, strconv.Itoa(n)}
	}
	if o.bulkMiB > 0 {
		warm := min(o.bulkMiB, 64)
		cs = append(cs,
			xCase{"bulk-chainrun", xgBulk, colChainrun, xkBulk, route(1), func(n int) []string { return cr(bulkPlain(n)) }, o.bulkMiB, warm},
			xCase{"bulk-proxychains4", xgBulk, colProxychains, xkBulk, route(1), func(n int) []string { return pc(bulkPlain(n)) }, o.bulkMiB, warm},
			xCase{"bulk-direct-SOCKS", xgBulk, colDirect, xkBulk, route(1), bulkSocks, o.bulkMiB, warm},
			xCase{"bulk-bare", xgBulk, colBare, xkBulk, nil, bulkPlain, o.bulkMiB, warm},
		)
	}
	// Non-network: chainrun, proxychains4 (for reference) and bare.
	sys := func(group int, tag string, n int, warmN int, args func(n int) []string) {
		cs = append(cs,
			xCase{tag + "-chainrun", group, colChainrun, xkSys, nil, func(n int) []string { return cr(args(n)) }, n, warmN},
			xCase{tag + "-proxychains4", group, colProxychains, xkSys, nil, func(n int) []string { return pc(args(n)) }, n, warmN},
			xCase{tag + "-bare", group, colBare, xkSys, nil, args, n, warmN},
		)
	}
	if o.findDir != "" {
		// The warm-up runs it whole once per column: that warms the cache.
		sys(xgFind, "find", 1, 1, func(int) []string { return []string{x.sysloop, "spawn", x.find, o.findDir} })
	}
	if o.openN > 0 {
		sys(xgOpen, "openclose", o.openN, max(1, o.openN/10), func(n int) []string {
			return []string{x.sysloop, "openclose", x.file, strconv.Itoa(n)}
		})
	}
	if o.fcntlN > 0 {
		sys(xgFcntl, "fcntl", o.fcntlN, max(1, o.fcntlN/10), func(n int) []string {
			return []string{x.sysloop, "fcntl", x.file, strconv.Itoa(n)}
		})
	}
	if o.getppidN > 0 {
		sys(xgGetppid, "getppid", o.getppidN, max(1, o.getppidN/10), func(n int) []string {
			return []string{x.sysloop, "getppid", strconv.Itoa(n)}
		})
	}
	// Concurrent connects to the HTTP target through hop 1.
	if o.burstThreads > 0 {
		plain := func(n int) []string { return []string{x.burst, "plain", th, tp, strconv.Itoa(n)} }
		socks := func(n int) []string { return []string{x.burst, "socks5", proxyHost, pp, th, tp, strconv.Itoa(n)} }
		t := o.burstThreads
		cs = append(cs,
			xCase{"burst-chainrun", xgBurst, colChainrun, xkBurst, route(1), func(n int) []string { return cr(plain(n)) }, t, t},
			xCase{"burst-proxychains4", xgBurst, colProxychains, xkBurst, route(1), func(n int) []string { return pc(plain(n)) }, t, t},
			xCase{"burst-in-process-SOCKS", xgBurst, colDirect, xkBurst, route(1), socks, t, t},
			xCase{"burst-bare", xgBurst, colBare, xkBurst, nil, plain, t, t},
		)
	}
	if o.holdN > 0 {
		cs = append(cs, xCase{"hold-chainrun", xgHold, colChainrun, xkHold, route(1), func(n int) []string {
			return cr([]string{x.connhold, x.sinkHost, x.sinkPort, strconv.Itoa(n)})
		}, o.holdN, min(o.holdN, 100)})
	}
	return cs
}

// runExtraRetry is runExtra, except that a proxychains4 burst run that
// fails (a connect, or a check) is counted, reported, and run again, at
// most maxRetries times. proxychains-ng keeps each proxy's state (free,
// busy, down) in memory that all threads share, without a lock
// (rofl0r/proxychains-ng#23): with many threads connecting at once under
// a strict chain, a thread can find the proxy "busy" and fail, or select it
// a second time. That is proxychains4's limit with threads, not the
// bench's; the row says how many runs it cost. Any other failure, in any
// other configuration, fails the benchmark.
func (b *bench) runExtraRetry(ctx context.Context, c xCase, n int) (xResult, error) {
	for attempt := 0; ; attempt++ {
		res, err := b.runExtra(ctx, c, n)
		if err == nil || c.kind != xkBurst || c.col != colProxychains || attempt == maxRetries ||
			errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return res, err
		}
		b.extra.pcBurstRetries++
		fmt.Fprintf(os.Stderr, "bench: %v\nbench: proxychains4 with %d threads (rofl0r/proxychains-ng#23): run again\n", err, n)
		// Let the hops' and the target's logs of the failed run settle
		// before the next run takes its snapshots.
		select {
		case <-time.After(300 * time.Millisecond):
		case <-ctx.Done():
			return xResult{}, ctx.Err()
		}
	}
}

// runExtra runs case c with size n once and checks it.
func (b *bench) runExtra(ctx context.Context, c xCase, n int) (xResult, error) {
	if c.kind == xkHold {
		return b.runHold(ctx, c, n)
	}
	var targetBefore int64
	var err error
	if c.kind == xkBurst {
		if targetBefore, err = b.targetCount(); err != nil {
			return xResult{}, fmt.Errorf("target /count: %w", err)
		}
	}
	sinkBefore := b.sinkSnapshot()
	msBefore := b.snapshotHops()
	argv := c.argv(n)
	r := b.run(ctx, runTimeout, false, argv...)
	if errors.Is(r.err, context.Canceled) || errors.Is(r.err, context.DeadlineExceeded) {
		return xResult{}, r.err
	}
	kv := parseKV(r.stdout)
	if c.kind == xkBurst && c.col == colProxychains && r.err != nil {
		failed, _ := strconv.Atoi(kv["fail"])
		b.extra.pcBurstFailed += failed
	}
	if r.err != nil {
		return xResult{}, fmt.Errorf("%s: %v\n  command: %s\n  stdout: %s  stderr: %s", c.name, r.err, strings.Join(argv, " "), r.stdout, r.stderr)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s\n  command: %s\n  stdout: %s", c.name, fmt.Sprintf(format, args...), strings.Join(argv, " "), r.stdout)
	}
	var res xResult
	conns, last := 0, b.targetAddr
	switch c.kind {
	case xkBulk:
		if kv["ok"] != "1" || kv["mib"] != strconv.Itoa(n) {
			return xResult{}, bad("want ok=1 mib=%d", n)
		}
		if res.value, err = strconv.ParseFloat(kv["mbps"], 64); err != nil {
			return xResult{}, bad("no mbps")
		}
		if err := b.checkSink(c.name, sinkBefore, 1, uint64(n)<<20); err != nil {
			return xResult{}, err
		}
		conns, last = 1, b.extra.sinkAddr
	case xkSys:
		if kv["ok"] != "1" {
			return xResult{}, bad("want ok=1")
		}
		key := "ns_per_op"
		if c.group == xgFind {
			key = "total_ns"
		} else if kv["n"] != strconv.Itoa(n) {
			return xResult{}, bad("want n=%d", n)
		}
		if res.value, err = strconv.ParseFloat(kv[key], 64); err != nil {
			return xResult{}, bad("no %s", key)
		}
		if c.group == xgFind {
			res.value /= 1e6 // ms
		}
	case xkBurst:
		if kv["ok"] != strconv.Itoa(n) || kv["fail"] != "0" {
			return xResult{}, bad("want ok=%d fail=0", n)
		}
		if res.value, err = strconv.ParseFloat(kv["total_ns"], 64); err != nil {
			return xResult{}, bad("no total_ns")
		}
		res.value /= 1e6
		res.p50, _ = strconv.ParseFloat(kv["p50_us"], 64)
		res.p50 /= 1e3
		after, err := b.targetCount()
		if err != nil {
			return xResult{}, fmt.Errorf("target /count: %w", err)
		}
		if after-targetBefore != int64(n) {
			return xResult{}, bad("the target answered %d requests, want %d", after-targetBefore, n)
		}
		conns = n
	}
	if c.kind != xkBulk {
		if err := b.checkSink(c.name, sinkBefore, 0, 0); err != nil {
			return xResult{}, err
		}
	}
	route := c.route
	if conns == 0 {
		route = nil
	}
	if err := b.checkHopsTo(c.name, route, msBefore, conns, last); err != nil {
		return xResult{}, err
	}
	b.logf("%-24s n=%d value=%.2f p50=%.2f wall=%.1fms", c.name, n, res.value, res.p50, float64(r.wall)/1e6)
	return res, nil
}

// vmReading is what vmStatus reads, in MB (10^6 bytes).
type vmReading struct{ rss, hwm, anon, file float64 }

// vmStatus reads VmRSS, VmHWM, RssAnon and RssFile of pid.
func vmStatus(pid int) (vmReading, error) {
	var r vmReading
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return r, err
	}
	fields := map[string]*float64{"VmRSS": &r.rss, "VmHWM": &r.hwm, "RssAnon": &r.anon, "RssFile": &r.file}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		dst := fields[k]
		if !ok || dst == nil {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return r, fmt.Errorf("/proc/%d/status: %q", pid, line)
		}
		kb, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return r, err
		}
		*dst = kb * 1024 / 1e6
	}
	if r.rss == 0 {
		return r, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
	}
	return r, nil
}

// runHold runs connhold under chainrun and reads chainrun's memory at each
// of connhold's phases: before the first connect, with all n connections
// open, and after they all closed. The whole run is bounded by runTimeout;
// on any failure chainrun is killed by PID and process group.
func (b *bench) runHold(ctx context.Context, c xCase, n int) (xResult, error) {
	sinkBefore := b.sinkSnapshot()
	msBefore := b.snapshotHops()
	argv := c.argv(n)
	cmd := exec.Command(argv[0], argv[1:]...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return xResult{}, err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return xResult{}, err
	}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = pw, &stderr
	cmd.WaitDelay = 2 * time.Second
	err = b.procs.start(cmd)
	pw.Close()
	if err != nil {
		pr.Close()
		return xResult{}, err
	}
	pid := cmd.Process.Pid
	lines := make(chan string, 8)
	go func() {
		defer pr.Close()
		defer close(lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	waited := false
	defer func() {
		if !waited {
			b.procs.kill(pid)
			stdin.Close()
			cmd.Wait()
		}
		b.procs.forget(pid)
	}()
	deadline := time.NewTimer(runTimeout)
	defer deadline.Stop()
	fail := func(format string, args ...any) (xResult, error) {
		return xResult{}, fmt.Errorf("%s: %s\n  command: %s\n  stderr: %s", c.name, fmt.Sprintf(format, args...), strings.Join(argv, " "), stderr.String())
	}
	var res xResult
	phase := 0 // which reading sample takes: baseline, open, closed
	sample := func(want string, settle time.Duration, dst *float64) error {
		select {
		case line, ok := <-lines:
			if !ok {
				return fmt.Errorf("connhold ended before %q", want)
			}
			if line != want {
				return fmt.Errorf("connhold said %q, want %q", line, want)
			}
		case <-deadline.C:
			return fmt.Errorf("no %q within %v: killed", want, runTimeout)
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case <-time.After(settle):
		case <-ctx.Done():
			return ctx.Err()
		}
		m, err := vmStatus(pid)
		if err != nil {
			return err
		}
		*dst, res.hwm = m.rss, m.hwm
		res.anon[phase], res.file[phase] = m.anon, m.file
		phase++
		_, err = stdin.Write([]byte("go\n"))
		return err
	}
	const settle = 100 * time.Millisecond
	if err := sample("phase=baseline", settle, &res.rssBase); err != nil {
		return fail("%v", err)
	}
	if err := sample(fmt.Sprintf("phase=open ok=%d", n), settle, &res.rssOpen); err != nil {
		return fail("%v", err)
	}
	if err := sample("phase=closed", b.opts.holdSettle, &res.rssClosed); err != nil {
		return fail("%v", err)
	}
	stdin.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
		waited = true
	case <-deadline.C:
		return fail("still running after %v: killed", runTimeout)
	case <-ctx.Done():
		return xResult{}, ctx.Err()
	}
	if err != nil {
		return fail("%v", err)
	}
	if err := b.checkSink(c.name, sinkBefore, n, 0); err != nil {
		return xResult{}, err
	}
	if err := b.checkHopsTo(c.name, c.route, msBefore, n, b.extra.sinkAddr); err != nil {
		return xResult{}, err
	}
	b.logf("%-24s n=%d rss base=%.1fMB open=%.1fMB closed=%.1fMB hwm=%.1fMB", c.name, n, res.rssBase, res.rssOpen, res.rssClosed, res.hwm)
	return res, nil
}

// checkExtra warms every case up once, verified like a measured run (for
// find, the whole walk: that warms the cache).
func (b *bench) checkExtra(ctx context.Context) error {
	for _, c := range b.extraCases() {
		if _, err := b.runExtraRetry(ctx, c, c.warmN); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	return nil
}

// measureExtra runs every case -extra-runs times, in rounds, the order
// rotated from one round to the next.
func (b *bench) measureExtra(ctx context.Context) ([nXGroups][nCols][]xResult, error) {
	var res [nXGroups][nCols][]xResult
	cases := b.extraCases()
	for round := range b.opts.extraRuns {
		for j := range cases {
			c := cases[(round+j)%len(cases)]
			xr, err := b.runExtraRetry(ctx, c, c.n)
			if err != nil {
				return res, err
			}
			res[c.group][c.col] = append(res[c.group][c.col], xr)
		}
	}
	return res, nil
}

// extraRows are the table's rows for these cases.
func (b *bench) extraRows(res [nXGroups][nCols][]xResult) []row {
	if !b.extraOn() {
		return nil
	}
	o := &b.opts
	vals := func(g int, f func(xResult) float64) [nCols][]float64 {
		var v [nCols][]float64
		for col := range nCols {
			for _, r := range res[g][col] {
				v[col] = append(v[col], f(r))
			}
		}
		return v
	}
	value := func(r xResult) float64 { return r.value }
	var rows []row
	if o.bulkMiB > 0 {
		rows = append(rows, row{name: fmt.Sprintf("bulk throughput, MB/s (higher is better): %d MiB through microsocks hop 1 to a loopback sink that discards and counts (bulk, 64 KiB write()s; time from the first write to the sink's confirmation of the count). direct-SOCKS: the same client speaking SOCKS5 itself; bare: straight to the sink", o.bulkMiB),
			vals: vals(xgBulk, value), prec: 0, targets: onRatio(ratioDirect, atLeast(bulkTarget))})
	}
	sysRow := func(g int, name string, prec int) {
		rows = append(rows, row{name: name, vals: vals(g, value), prec: prec, targets: onRatio(ratioBare, atMost(sysTarget))})
	}
	if o.findDir != "" {
		sysRow(xgFind, fmt.Sprintf("non-network: `find %s > /dev/null`, ms (sysloop forks, execs and waits for it: chainrun's own start-up excluded; cache warm)", o.findDir), 1)
	}
	if o.openN > 0 {
		sysRow(xgOpen, fmt.Sprintf("non-network: open()+close() of a file, ns per pair (sysloop, %d pairs, timed inside)", o.openN), 1)
	}
	if o.fcntlN > 0 {
		sysRow(xgFcntl, fmt.Sprintf("non-network: fcntl(F_GETFL), ns per call (sysloop, %d calls)", o.fcntlN), 1)
	}
	if o.getppidN > 0 {
		sysRow(xgGetppid, fmt.Sprintf("non-network: getppid(), ns per call (sysloop, %d raw syscalls)", o.getppidN), 1)
	}
	if o.burstThreads > 0 {
		retried := ""
		if x := &b.extra; x.pcBurstRetries > 0 {
			retried = fmt.Sprintf("; %d proxychains4 run(s) failed (%d failed connect(s)) and were run again: proxychains-ng shares its proxies' state between threads without a lock, rofl0r/proxychains-ng#23", x.pcBurstRetries, x.pcBurstFailed)
		}
		rows = append(rows,
			row{name: fmt.Sprintf("%d connects from %d threads at once, ms: wall time from the barrier's release to the last thread's end (burst: connect, GET, read the reply, close; direct-SOCKS: each thread speaks SOCKS5 in-process%s)", o.burstThreads, o.burstThreads, retried),
				vals: vals(xgBurst, value), prec: 1, targets: onRatio(ratioDirect, atMost(burstTarget))},
			row{name: "  the same, the median thread's time, ms",
				vals: vals(xgBurst, func(r xResult) float64 { return r.p50 }), prec: 1},
		)
	}
	if o.holdN > 0 {
		base := vals(xgHold, func(r xResult) float64 { return r.rssBase })
		after := goal{v: holdAfterTarget * median(base[colChainrun]), note: fmt.Sprintf(" MB = %.2f × baseline", holdAfterTarget)}
		rows = append(rows,
			row{name: fmt.Sprintf("tracer memory: chainrun's VmRSS, MB, before the first connect (connhold: %d connections to the sink through microsocks hop 1, held open, then closed)", o.holdN),
				vals: base, prec: 1},
			row{name: fmt.Sprintf("  the same, with the %d proxied connections open", o.holdN),
				vals: vals(xgHold, func(r xResult) float64 { return r.rssOpen }), prec: 1, abs: atMost(holdRSSTarget), unit: " MB"},
			row{name: fmt.Sprintf("  the same, after they all closed (%v later)", o.holdSettle),
				vals: vals(xgHold, func(r xResult) float64 { return r.rssClosed }), prec: 1, abs: after},
			row{name: "  the same, peak (VmHWM at the end)",
				vals: vals(xgHold, func(r xResult) float64 { return r.hwm }), prec: 1},
			row{name: "  its anonymous memory (RssAnon: what the tracer allocates), before the first connect",
				vals: vals(xgHold, func(r xResult) float64 { return r.anon[0] }), prec: 2},
			row{name: "    with the connections open",
				vals: vals(xgHold, func(r xResult) float64 { return r.anon[1] }), prec: 2},
			row{name: fmt.Sprintf("    after they all closed (%v later)", o.holdSettle),
				vals: vals(xgHold, func(r xResult) float64 { return r.anon[2] }), prec: 2},
			row{name: "  its file pages (RssFile: chainrun's code, paged in as code paths first run), before the first connect",
				vals: vals(xgHold, func(r xResult) float64 { return r.file[0] }), prec: 2},
			row{name: "    after they all closed",
				vals: vals(xgHold, func(r xResult) float64 { return r.file[2] }), prec: 2},
		)
	}
	return rows
}
