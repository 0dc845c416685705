package tracer_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chainrun/chainrun/internal/testnet"
	"github.com/chainrun/chainrun/syscalls"
	"github.com/chainrun/chainrun/tracer"
)

func TestMain(m *testing.M) {
	// The tracer re-runs this test binary as its stub.
	if tracer.IsStub() {
		tracer.StubMain()
	}
	os.Exit(m.Run())
}

const pageText = "chainrun-target-ok"

// page serves pageText on loopback for the duration of the test.
func page(t *testing.T) netip.AddrPort {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, pageText)
	}))
	t.Cleanup(srv.Close)
	return netip.MustParseAddrPort(srv.Listener.Addr().String())
}

// recorder is a Handler that records calls and answers with a function,
// from a goroutine (Connect) or, when inline is set, on the tracer thread
// (Route).
type recorder struct {
	mu     sync.Mutex
	calls  []tracer.Call
	answer func(c *tracer.Call) tracer.Result
	inline bool
}

func (r *recorder) Route(c *tracer.Call) (tracer.Result, bool) {
	if !r.inline {
		return tracer.Result{}, false
	}
	return r.Connect(context.Background(), c), true
}

func (r *recorder) Connect(ctx context.Context, c *tracer.Call) tracer.Result {
	r.mu.Lock()
	r.calls = append(r.calls, *c)
	r.mu.Unlock()
	if r.answer == nil {
		return tracer.Allow()
	}
	return r.answer(c)
}

func (r *recorder) recorded() []tracer.Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]tracer.Call(nil), r.calls...)
}

// runTraced runs argv under a tracer with handler h, with a time bound,
// and returns its exit status and combined output. Under a subtest of
// forEachPath named ptrace, the tracer has PtraceOnly set.
func runTraced(t *testing.T, h tracer.Handler, argv ...string) (int, string) {
	t.Helper()
	return runTracedWith(t, &tracer.Tracer{Handler: h, Logf: t.Logf, PtraceOnly: ptracePath(t)}, argv...)
}

// forEachPath runs f once for each way a connect reaches the tracer: handed
// to the filter's listener (subtest "notify") and stopped for the tracer
// thread as on kernels without a listener (subtest "ptrace", which
// runTraced sees in the test's name).
func forEachPath(t *testing.T, f func(t *testing.T)) {
	for _, path := range []string{"notify", "ptrace"} {
		t.Run(path, f)
	}
}

// ptracePath reports whether t runs under forEachPath's ptrace subtest.
func ptracePath(t *testing.T) bool {
	name := t.Name()
	return strings.Contains(name, "/ptrace/") || strings.HasSuffix(name, "/ptrace")
}

// runTracedWith is runTraced with a Tracer of the caller's.
func runTracedWith(t *testing.T, tr *tracer.Tracer, argv ...string) (int, string) {
	t.Helper()
	testnet.NeedRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	// The command inherits fds 0–2 of the test process: point stdout and
	// stderr at a file for the duration of the run.
	code, err := withStdio(out, func() (int, error) {
		return tr.Run(ctx, argv, os.Environ())
	})
	if err != nil {
		t.Fatalf("Run(%q): %v", argv, err)
	}
	b, _ := os.ReadFile(out.Name())
	return code, string(b)
}

var stdioMu sync.Mutex

func withStdio(f *os.File, fn func() (int, error)) (int, error) {
	stdioMu.Lock()
	defer stdioMu.Unlock()
	saved1, _ := unix.Dup(1)
	saved2, _ := unix.Dup(2)
	unix.Dup2(int(f.Fd()), 1)
	unix.Dup2(int(f.Fd()), 2)
	defer func() {
		unix.Dup2(saved1, 1)
		unix.Dup2(saved2, 2)
		unix.Close(saved1)
		unix.Close(saved2)
	}()
	return fn()
}

func progs() *testnet.Programs { return testnet.SharedPrograms() }

// TestTrappedConnects checks that every way of calling connect reaches the
// handler with the right destination and socket facts, and that the errno
// the handler picks is what the program sees.
func TestTrappedConnects(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		accepted := make(chan struct{}, 16)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
				accepted <- struct{}{}
			}
		}()
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		dst := netip.MustParseAddrPort("127.0.0.1:" + port)
		cases := []struct {
			name        string
			prog        string
			args        []string
			trap        syscalls.Trap
			domain      int
			nonBlocking bool
		}{
			{"blocking", "connect_block", []string{"127.0.0.1", port}, syscalls.TrapConnect, unix.AF_INET, false},
			{"v4-mapped on an IPv6 socket", "connect_block", []string{"-6mapped", "127.0.0.1", port}, syscalls.TrapConnect, unix.AF_INET6, false},
			{"non-blocking", "connect_nonblock", []string{"127.0.0.1", port}, syscalls.TrapConnect, unix.AF_INET, true},
			{"int 0x80 connect", "connect_int80", []string{"connect", "127.0.0.1", port}, syscalls.TrapConnectCompat, unix.AF_INET, false},
			{"int 0x80 socketcall", "connect_int80", []string{"socketcall", "127.0.0.1", port}, syscalls.TrapSocketcallConnect, unix.AF_INET, false},
			{"x32 connect", "connect_int80", []string{"x32", "127.0.0.1", port}, syscalls.TrapConnectX32, unix.AF_INET, false},
			{"32-bit program", "connect32", []string{"127.0.0.1", port}, syscalls.TrapSocketcallConnect, unix.AF_INET, false},
		}
		for _, c := range cases {
			for _, inline := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/inline=%v", c.name, inline), func(t *testing.T) {
					h := &recorder{inline: inline, answer: func(*tracer.Call) tracer.Result { return tracer.Fail(unix.EHOSTUNREACH) }}
					argv := append([]string{progs().Path(t, c.prog)}, c.args...)
					code, out := runTraced(t, h, argv...)
					if code != 3 || !strings.Contains(out, "connect: EHOSTUNREACH") {
						t.Fatalf("exit %d, output %q; want exit 3 and connect: EHOSTUNREACH", code, out)
					}
					calls := h.recorded()
					if len(calls) != 1 {
						t.Fatalf("%d calls reached the handler, want 1: %+v", len(calls), calls)
					}
					got := calls[0]
					if c.name == "32-bit program" && got.Trap == syscalls.TrapConnectCompat {
						got.Trap = c.trap // a newer i386 libc calls connect directly
					}
					if got.Dst != dst || got.Trap != c.trap || got.Info.Domain != c.domain || got.Info.NonBlocking != c.nonBlocking {
						t.Errorf("call = dst %v trap %v domain %d nonblocking %v; want %v %v %d %v",
							got.Dst, got.Trap, got.Info.Domain, got.Info.NonBlocking, dst, c.trap, c.domain, c.nonBlocking)
					}
					if got.Info.Type != unix.SOCK_STREAM || got.Pid <= 0 || got.Tid != got.Pid {
						t.Errorf("call = type %d pid %d tid %d", got.Info.Type, got.Pid, got.Tid)
					}
					// The native connect goes to the listener; the other
					// ABIs, and everything under PtraceOnly, stop.
					if want := got.Trap == syscalls.TrapConnect && !ptracePath(t); got.Notified != want {
						t.Errorf("call notified = %v, want %v", got.Notified, want)
					}
					select {
					case <-accepted:
						t.Fatal("the refused connect reached the listener")
					default:
					}
				})
			}
		}
	})
}

// connectItself is a handler that performs the connect on the program's
// socket itself (as a proxy dialer would) and reports it as the kernel would.
func connectItself(to netip.AddrPort) func(c *tracer.Call) tracer.Result {
	return func(c *tracer.Call) tracer.Result {
		var sa unix.Sockaddr = &unix.SockaddrInet4{Port: int(to.Port()), Addr: to.Addr().As4()}
		if c.Info.Domain == unix.AF_INET6 {
			sa = &unix.SockaddrInet6{Port: int(to.Port()), Addr: netip.AddrFrom4(to.Addr().As4()).As16()}
		}
		err := unix.Connect(c.Socket, sa)
		if err == unix.EINPROGRESS {
			fds := []unix.PollFd{{Fd: int32(c.Socket), Events: unix.POLLOUT}}
			unix.Poll(fds, 5000)
			err = nil
		}
		if err != nil {
			return tracer.Fail(err.(unix.Errno))
		}
		if c.Info.NonBlocking {
			return tracer.Fail(unix.EINPROGRESS)
		}
		return tracer.Return(0)
	}
}

// TestEmulatedConnect checks the skip path: the handler connects the
// program's socket itself, the program sees the result it would see from the
// kernel and then uses the connected socket; a second connect gets EISCONN.
func TestEmulatedConnect(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		target := page(t)
		// The program asks for a port where nobody listens: only the
		// handler's connect can make it reach the page.
		nowhere := []string{"127.0.0.1", "1"}
		cases := []struct {
			name string
			argv []string
			want []string
		}{
			{"blocking", append([]string{"connect_block", "-twice"}, nowhere...), []string{"connect: 0", "second connect: EISCONN"}},
			{"non-blocking", append([]string{"connect_nonblock"}, nowhere...), []string{"connect: EINPROGRESS", "so_error: 0", "connect: EISCONN"}},
			{"v4-mapped", append([]string{"connect_block", "-6mapped"}, nowhere...), []string{"connect: 0"}},
			{"static Go", []string{"gohttpget", "http://127.0.0.1:1/"}, nil},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				h := &recorder{answer: connectItself(target)}
				argv := append([]string{progs().Path(t, c.argv[0])}, c.argv[1:]...)
				code, out := runTraced(t, h, argv...)
				if code != 0 || !strings.Contains(out, pageText) {
					t.Fatalf("exit %d, output %q; want the page", code, out)
				}
				for _, w := range c.want {
					if !strings.Contains(out, w) {
						t.Errorf("output lacks %q:\n%s", w, out)
					}
				}
				if n := len(h.recorded()); n != 1 {
					t.Errorf("%d calls reached the handler, want 1 (a connected socket must go to the kernel)", n)
				}
			})
		}
	})
}

// TestUnixConnectNotTrapped: AF_UNIX connects never reach the handler.
func TestUnixConnectNotTrapped(t *testing.T) {
	testnet.NeedCommand(t, "python3")
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Write([]byte("unix-ok"))
			c.Close()
		}
	}()
	h := &recorder{answer: func(*tracer.Call) tracer.Result { return tracer.Fail(unix.EACCES) }}
	code, out := runTraced(t, h, "python3", "-c",
		"import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); print(s.recv(100).decode())", sock)
	if code != 0 || !strings.Contains(out, "unix-ok") {
		t.Fatalf("exit %d output %q", code, out)
	}
	if n := len(h.recorded()); n != 0 {
		t.Fatalf("%d AF_UNIX connects reached the handler", n)
	}
}

// TestConcurrentConnects: a program whose threads connect at once must have
// all of them in the handler at the same time — the ptrace loop never waits
// for one connect to be decided before taking the next.
func TestConcurrentConnects(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		target := page(t)
		const n = 50
		var mu sync.Mutex
		arrived := 0
		all := make(chan struct{})
		h := &recorder{answer: func(c *tracer.Call) tracer.Result {
			mu.Lock()
			arrived++
			if arrived == n {
				close(all)
			}
			mu.Unlock()
			select {
			case <-all:
				return tracer.Allow()
			case <-time.After(20 * time.Second):
				return tracer.Fail(unix.ETIMEDOUT)
			}
		}}
		code, out := runTraced(t, h, progs().Path(t, "goparallel"), target.String(), strconv.Itoa(n))
		if code != 0 || !strings.Contains(out, fmt.Sprintf("ok %d/%d", n, n)) {
			t.Fatalf("exit %d, output %q: the %d connects were not all pending at once", code, out, n)
		}
		calls := h.recorded()
		tids := map[int]bool{}
		for _, c := range calls {
			tids[c.Tid] = true
		}
		if len(calls) != n || len(tids) < 2 {
			t.Errorf("%d calls from %d threads", len(calls), len(tids))
		}
	})
}

// TestProcessTree: connects from children made by fork (sh), vfork
// (posix_spawn), a double-forked background process and an exec from a
// non-leader thread all reach the handler; the tracer waits for the
// background process before it returns.
func TestProcessTree(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		target := page(t)
		block := progs().Path(t, "connect_block")
		host, port := target.Addr().String(), strconv.Itoa(int(target.Port()))
		marker := filepath.Join(t.TempDir(), "bg-done")
		cases := []struct {
			name string
			argv []string
			n    int
		}{
			{"shell pipeline", []string{"sh", "-c", block + " " + host + " " + port + " | grep -c " + pageText}, 1},
			{"posix_spawn", []string{"python3", "-c", "import os,sys; p=os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ); print(os.waitpid(p,0))", block, host, port}, 1},
			{"exec from a non-leader thread", []string{progs().Path(t, "exec_thread"), block, host, port}, 1},
			{"double fork", []string{"sh", "-c", "(sh -c 'sleep 0.5; " + block + " " + host + " " + port + " && touch " + marker + "' &) ; exit 0"}, 1},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				h := &recorder{answer: connectItself(target)}
				code, out := runTraced(t, h, c.argv...)
				if code != 0 {
					t.Fatalf("exit %d, output %q", code, out)
				}
				calls := h.recorded()
				if len(calls) != c.n {
					t.Fatalf("%d calls, want %d; output %q", len(calls), c.n, out)
				}
				if calls[0].Dst.Port() != 1 && calls[0].Dst != target {
					t.Errorf("dst %v", calls[0].Dst)
				}
			})
		}
		if _, err := os.Stat(marker); err != nil {
			t.Errorf("the double-forked process did not finish before Run returned: %v", err)
		}
	})
}

// TestExitStatus: the command's status, 128+N for signal N, 127/126 for a
// command that is missing or cannot run.
func TestExitStatus(t *testing.T) {
	notExec := filepath.Join(t.TempDir(), "plain-file")
	os.WriteFile(notExec, []byte("x"), 0o644)
	cases := []struct {
		argv []string
		code int
		out  string
	}{
		{[]string{"true"}, 0, ""},
		{[]string{"sh", "-c", "exit 7"}, 7, ""},
		{[]string{"sh", "-c", "kill -TERM $$"}, 128 + 15, ""},
		{[]string{"sh", "-c", "kill -KILL $$"}, 128 + 9, ""},
		{[]string{"no-such-command-chainrun"}, 127, "no-such-command-chainrun: command not found"},
		{[]string{notExec}, 126, "Permission denied"},
		{[]string{"/no/such/file"}, 127, "No such file or directory"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.argv, " "), func(t *testing.T) {
			code, out := runTraced(t, &recorder{}, c.argv...)
			if code != c.code || !strings.Contains(out, c.out) {
				t.Fatalf("exit %d, output %q; want %d and %q", code, out, c.code, c.out)
			}
		})
	}
}

// TestJobControl: a stopped command stays stopped under the tracer (group
// stop with PTRACE_LISTEN) until SIGCONT, and then carries on.
func TestJobControl(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	type res struct {
		code int
		out  string
	}
	done := make(chan res, 1)
	go func() {
		code, out := runTraced(t, &recorder{}, "sh", "-c", "echo $$ > "+pidFile+".tmp; mv "+pidFile+".tmp "+pidFile+"; kill -STOP $$; echo resumed")
		done <- res{code, out}
	}()
	var pid int
	for i := 0; i < 500 && pid == 0; i++ {
		if b, err := os.ReadFile(pidFile); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if pid == 0 {
		t.Fatal("the command never wrote its pid")
	}
	stopped := false
	for i := 0; i < 500 && !stopped; i++ {
		stopped = procState(pid) == 't' || procState(pid) == 'T'
		time.Sleep(10 * time.Millisecond)
	}
	if !stopped {
		t.Fatalf("the command did not stay stopped (state %c)", procState(pid))
	}
	time.Sleep(200 * time.Millisecond)
	if s := procState(pid); s != 't' && s != 'T' {
		t.Fatalf("the stopped command was resumed without SIGCONT (state %c)", s)
	}
	select {
	case r := <-done:
		t.Fatalf("the run ended while the command was stopped: %+v", r)
	default:
	}
	unix.Kill(pid, unix.SIGCONT)
	select {
	case r := <-done:
		if r.code != 0 || !strings.Contains(r.out, "resumed") {
			t.Fatalf("exit %d output %q", r.code, r.out)
		}
	case <-time.After(20 * time.Second):
		unix.Kill(pid, unix.SIGKILL)
		t.Fatal("SIGCONT did not resume the command")
	}
}

func procState(pid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

// TestGoStub runs the Go stub (what arm64 uses, and amd64 with GoStub):
// the filter it loads traps connects, and a command it cannot run gets a
// shell's status and words.
func TestGoStub(t *testing.T) {
	dst := page(t)
	for _, c := range []struct {
		argv []string
		code int
		out  string
	}{
		{[]string{progs().Path(t, "connect_block"), dst.Addr().String(), strconv.Itoa(int(dst.Port()))}, 0, pageText},
		{[]string{"sh", "-c", "exit 7"}, 7, ""},
		{[]string{"no-such-command-chainrun"}, 127, "no-such-command-chainrun: command not found"},
	} {
		h := &recorder{}
		code, out := runTracedWith(t, &tracer.Tracer{Handler: h, Logf: t.Logf, GoStub: true}, c.argv...)
		if code != c.code || !strings.Contains(out, c.out) {
			t.Errorf("%q: exit %d, output %q; want %d and %q", c.argv, code, out, c.code, c.out)
		}
		if c.out == pageText && len(h.recorded()) != 1 {
			t.Errorf("%q: %d connects trapped, want 1", c.argv, len(h.recorded()))
		}
	}
}

// TestConnectNotInterruptedBySignals: a program taking SIGALRM every
// millisecond, with a handler installed without SA_RESTART, while its
// connect is negotiated (100 ms here) sees the negotiation's result, not
// EINTR, and its signals after it: a signal must not cut a connect that
// chainrun has started to negotiate on the program's socket (the
// listener's WAIT_KILLABLE_RECV; a ptrace stop queues signals).
func TestConnectNotInterruptedBySignals(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		target := page(t)
		for attempt := 1; ; attempt++ {
			connectTo := connectItself(target)
			h := &recorder{answer: func(c *tracer.Call) tracer.Result {
				time.Sleep(100 * time.Millisecond)
				return connectTo(c)
			}}
			code, out := runTraced(t, h, progs().Path(t, "connect_block"), "-alarm", "127.0.0.1", "1")
			calls := len(h.recorded())
			if strings.Contains(out, "connect: EINTR") && calls == 0 && attempt < 3 {
				// The signal came before chainrun received the call:
				// the kernel's own EINTR, before anything was done on
				// the socket (a window of microseconds). Again.
				continue
			}
			if code != 0 || !strings.Contains(out, "connect: 0") || !strings.Contains(out, pageText) || calls != 1 {
				t.Fatalf("exit %d, %d calls; want connect: 0 and the page:\n%s", code, calls, out)
			}
			if strings.Contains(out, "alarms during connect: 0\n") {
				t.Fatalf("no alarm during the 100 ms connect: the test did not test anything\n%s", out)
			}
			return
		}
	})
}

// TestOwnSeccompListener: a program that loads a seccomp listener of its
// own gets EBUSY under chainrun's (the kernel allows one per filter chain:
// README says so and names the way out), and works with PtraceOnly, where
// chainrun has none.
func TestOwnSeccompListener(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		code, out := runTraced(t, &recorder{}, progs().Path(t, "own_listener"))
		want, wantCode := "getppid: 4242", 0
		if !ptracePath(t) {
			want, wantCode = "seccomp: EBUSY", 4
		}
		if code != wantCode || !strings.Contains(out, want) {
			t.Fatalf("exit %d, want %d and %q:\n%s", code, wantCode, want, out)
		}
	})
}
