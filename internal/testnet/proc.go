package testnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Proc is a process started with [Topology.Start].
type Proc struct {
	cmd  *exec.Cmd
	argv []string
	ns   string
	out  lockedBuffer

	done  chan struct{} // closed when the process has been waited for
	code  int           // exit code, or 128+signal; valid after done
	werr  error         // error from Wait other than a non-zero exit
	kOnce sync.Once
}

// Pid returns the process id (also its process group id: it runs in a
// group of its own).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Output returns everything the process wrote so far, stdout and stderr
// interleaved as written. It is safe to call at any time, from any goroutine.
func (p *Proc) Output() string { return p.out.String() }

// Wait waits at most timeout for the process to exit and returns its exit
// code (128+signal when killed by a signal). The error is non-nil when the
// process is still running after timeout (it is left running, and the error
// wraps os.ErrDeadlineExceeded), or when waiting failed in some other way.
func (p *Proc) Wait(timeout time.Duration) (int, error) {
	select {
	case <-p.done:
		return p.code, p.werr
	case <-time.After(timeout):
		return -1, fmt.Errorf("%s: still running after %v: %w", p, timeout, os.ErrDeadlineExceeded)
	}
}

// Signal sends sig to the process (not to its group).
func (p *Proc) Signal(sig os.Signal) error {
	select {
	case <-p.done:
		return os.ErrProcessDone
	default:
	}
	return p.cmd.Process.Signal(sig)
}

// Exited reports whether the process has exited (and been waited for).
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *Proc) String() string {
	return fmt.Sprintf("%q (pid %d, ns %s)", strings.Join(p.argv, " "), p.Pid(), nsName(p.ns))
}

// kill SIGKILLs the process group and waits (bounded) for the process.
func (p *Proc) kill() {
	p.kOnce.Do(func() {
		syscall.Kill(-p.Pid(), syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
		}
	})
}

func (p *Proc) wait() {
	err := p.cmd.Wait()
	p.code, p.werr = exitCode(p.cmd.ProcessState, err)
	close(p.done)
}

// exitCode turns the result of exec.Cmd.Wait into an exit code
// (128+signal for a signal) and an error that is not about the exit status.
func exitCode(ps *os.ProcessState, err error) (int, error) {
	if ps == nil {
		return -1, err
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	if _, ok := err.(*exec.ExitError); ok {
		err = nil
	}
	return ps.ExitCode(), err
}

func nsName(ns string) string {
	if ns == "" {
		return "host"
	}
	return ns
}

// command returns the exec.Cmd that runs argv in namespace ns ("" for the
// test's own namespace), in a process group of its own.
//
// No Pdeathsig: it fires when the OS thread that forked exits, and threads
// do exit here (InNS discards its locked threads), which would kill
// long-running servers at random.
func command(ctx context.Context, ns string, argv []string) *exec.Cmd {
	full := argv
	if ns != "" {
		full = append([]string{"ip", "netns", "exec", ns}, argv...)
	}
	cmd := exec.CommandContext(ctx, full[0], full[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Do not block forever on output pipes held by escaped grandchildren.
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// Start starts argv inside namespace ns with `ip netns exec` (which execs
// argv, so Pid is argv's own process), or directly when ns is "". It runs in
// a process group of its own, with the test's environment; its stdout and
// stderr go to a buffer read with [Proc.Output]. A t.Cleanup kills the
// process group with SIGKILL and waits for it (so does the topology's own
// cleanup). The test fails if argv cannot be started.
func (tp *Topology) Start(t testing.TB, ns string, argv ...string) *Proc {
	t.Helper()
	p := startProc(t, ns, argv)
	tp.mu.Lock()
	tp.procs = append(tp.procs, p)
	tp.mu.Unlock()
	return p
}

// startProc is Start without a topology.
func startProc(t testing.TB, ns string, argv []string) *Proc {
	t.Helper()
	if len(argv) == 0 {
		t.Fatal("testnet: Start without a command")
	}
	p := &Proc{argv: argv, ns: ns, done: make(chan struct{})}
	p.cmd = command(context.Background(), ns, argv)
	p.cmd.Stdout = &p.out
	p.cmd.Stderr = &p.out // the same writer: one pipe, writes in order
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("testnet: start %q in %s: %v", argv, nsName(ns), err)
	}
	go p.wait()
	t.Cleanup(func() {
		p.kill()
		if out := p.Output(); out != "" && t.Failed() {
			t.Logf("testnet: output of %s:\n%s", p, out)
		}
	})
	return p
}

// Run runs argv in namespace ns (or directly when ns is "") to completion and
// returns its stdout, its stderr and its exit code (128+signal when killed by
// a signal). env entries ("KEY=value") are added to the test's environment,
// later ones winning. When the command is still running after timeout its
// process group is killed and the test is marked failed (t.Errorf; code is
// then 128+SIGKILL): use [Topology.Start] for a command meant to hang.
func (tp *Topology) Run(t testing.TB, timeout time.Duration, ns string, env []string, argv ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runProc(t, timeout, ns, env, argv)
}

// runProc is Run without a topology.
func runProc(t testing.TB, timeout time.Duration, ns string, env []string, argv []string) (stdout, stderr string, code int) {
	t.Helper()
	if len(argv) == 0 {
		t.Fatal("testnet: Run without a command")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := command(ctx, ns, argv)
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	start := time.Now()
	err := cmd.Run()
	if cmd.Process == nil {
		t.Fatalf("testnet: run %q in %s: %v", argv, nsName(ns), err)
	}
	code, werr := exitCode(cmd.ProcessState, err)
	if errors.Is(werr, exec.ErrWaitDelay) {
		t.Logf("testnet: %q in %s left its output open after exiting (output may be cut)", argv, nsName(ns))
		werr = nil
	}
	// Whatever the command left in its group goes too.
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	t.Logf("testnet: ran %q in %s: exit %d in %v", argv, nsName(ns), code, time.Since(start).Round(time.Millisecond))
	if ctx.Err() != nil {
		t.Errorf("testnet: %q in %s timed out after %v\nstdout:\n%s\nstderr:\n%s", argv, nsName(ns), timeout, o.String(), e.String())
	} else if werr != nil {
		t.Errorf("testnet: %q in %s: %v", argv, nsName(ns), werr)
	}
	return o.String(), e.String(), code
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
