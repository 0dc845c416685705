package tracer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chainrun/chainrun/syscalls"
)

// Tracer runs one command tree under trace.
type Tracer struct {
	// Handler decides every trapped connect. Required.
	Handler Handler
	// Logf receives the tracer's own diagnostics (tracees that vanished,
	// unexpected ptrace errors). Nil discards them.
	Logf func(format string, args ...any)
	// Self is the executable re-run as the Go stub; empty means
	// /proc/self/exe.
	Self string
	// GoStub makes the tracer re-run Self as the stub (its StubMain) even
	// where a stub in machine code exists (amd64); arm64 always does.
	GoStub bool
	// PtraceOnly stops every trapped call for the tracer thread, as on a
	// kernel without seccomp user notification (Linux < 5.19), instead of
	// handing connects to the filter's listener.
	PtraceOnly bool
}

// Run starts argv (looked up in PATH by the stub) with environment env under
// trace and returns when every traced process has exited. The exit status
// is the first process's: its exit code, or 128+N when signal N killed it.
// An error means chainrun could not trace the command at all.
func (t *Tracer) Run(ctx context.Context, argv []string, env []string) (int, error) {
	if t.Handler == nil {
		return ExitFailure, errors.New("tracer: no handler")
	}
	if len(argv) == 0 {
		return ExitFailure, errors.New("tracer: no command")
	}
	type outcome struct {
		code int
		err  error
	}
	done := make(chan outcome, 1)
	go func() {
		// The thread that seizes is the only one that may ptrace; it is
		// never unlocked, so it dies with this goroutine, after the last
		// tracee (a tracer thread's exit would detach or kill them).
		runtime.LockOSThread()
		l := &loop{
			t:        t,
			threads:  map[int]*thread{},
			tasks:    newTasks(),
			results:  make(chan result, 64),
			exitCode: -1,
		}
		code, err := l.run(ctx, argv, env)
		done <- outcome{code, err}
	}()
	o := <-done
	return o.code, o.err
}

// thread is a traced task.
type thread struct {
	tgid    int // 0 until known
	pending *pendingCall
	exit    *exitFixup // a receive followed to its exit
}

// pendingCall is a connect being decided in its own goroutine.
type pendingCall struct {
	seq    uint64
	regs   syscalls.Regs
	cancel context.CancelFunc
	tgid   int
	fd     int
}

type result struct {
	tid int
	seq uint64
	res Result
}

type waitEvent struct {
	tid    int
	status unix.WaitStatus
	done   bool // no tracee is left
}

type loop struct {
	t       *Tracer
	threads map[int]*thread
	// tasks is shared with the notifier: processes, pidfds, and the
	// sockets chainrun redirected (DNS), whose receives are followed to
	// their exit.
	tasks    *tasks
	notifier *notifier // nil: every trap stops the tracee
	results  chan result
	seq      uint64
	pending  int // connects being negotiated in goroutines
	mainPid  int
	exitCode int
}

func (l *loop) logf(format string, args ...any) {
	if l.t.Logf != nil {
		l.t.Logf(format, args...)
	}
}

func (l *loop) run(ctx context.Context, argv, env []string) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Registering for signals costs the Go runtime a thread of its own
	// (~0.7 ms here): do it while the stub starts.
	sigs := make(chan os.Signal, 8)
	notified := make(chan struct{})
	go func() {
		signal.Notify(sigs, forwardedSignals...)
		close(notified)
	}()
	// Stopping waits until signal delivery is idle (~1 ms): let it finish
	// in the background, chainrun is done with them.
	defer func() {
		<-notified
		go signal.Stop(sigs)
	}()

	pid, sync, err := l.spawn(argv, env)
	var cerr *commandError
	if errors.As(err, &cerr) {
		// What a shell would say, and its status (the Go stub does
		// the same from the child).
		fmt.Fprintf(os.Stderr, "chainrun: %v\n", cerr)
		return cerr.code, nil
	}
	if err != nil {
		return ExitFailure, err
	}
	l.mainPid = pid
	l.addThread(pid, &thread{tgid: pid})
	// The stub reports its filter before chainrun seizes it: seized
	// earlier, it could stop at the end of its own exec while chainrun
	// waits for the report.
	listenerNum, err := readListenerNumber(sync)
	if err != nil {
		// The stub is gone (it said why) or stuck: its status is the
		// run's. It was never seized; the loop below reaps it.
		unix.Kill(pid, unix.SIGKILL)
		unix.Close(sync)
	} else {
		if err := syscalls.Seize(pid); err != nil {
			unix.Kill(pid, unix.SIGKILL)
			unix.Close(sync)
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, 0, nil)
			return ExitFailure, fmt.Errorf("ptrace(PTRACE_SEIZE, %d): %w (is ptrace allowed here?)", pid, err)
		}
		if err := l.startNotifier(ctx, pid, listenerNum); err != nil {
			unix.Kill(pid, unix.SIGKILL)
			unix.Close(sync)
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, 0, nil)
			return ExitFailure, err
		}
		defer l.stopNotifier()
		if _, err := unix.Write(sync, []byte{1}); err != nil {
			unix.Kill(pid, unix.SIGKILL) // cannot happen while it waits
		}
		unix.Close(sync)
	}

	// Signals are forwarded from a goroutine of their own: kill(2) needs
	// no ptrace, and the tracer thread may be blocked in wait4. It starts
	// once the runtime has registered them (~0.1-0.5 ms): the command's
	// first stops do not wait for that.
	go func() {
		<-notified
		l.forwardSignals(ctx, sigs)
	}()

	// While no connect is being negotiated, this thread waits for the
	// tracees in wait4: a stop wakes it directly. While one is, it waits
	// for the negotiations' results and looks for stops in between
	// (wait4 WNOHANG), at an interval that starts short and backs off:
	// a result is applied the moment it arrives, with no hand-off between
	// threads, and a stop waits at most maxPollInterval.
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	interval := minPollInterval
	for {
		if l.pending == 0 {
			ev := wait(0)
			if ev.done {
				return l.finishRun()
			}
			l.onEvent(ctx, ev)
			interval = minPollInterval
			continue
		}
		timer.Reset(interval)
		select {
		case r := <-l.results:
			timer.Stop()
			l.onResult(r)
			interval = minPollInterval
		case <-timer.C:
			interval = min(2*interval, maxPollInterval)
		}
		for l.pending > 0 {
			ev := wait(unix.WNOHANG)
			if ev.done {
				return l.finishRun()
			}
			if ev.tid <= 0 {
				break
			}
			l.onEvent(ctx, ev)
			interval = minPollInterval
		}
	}
}

// How often the tracer thread looks for stops while a connect is being
// negotiated.
const (
	minPollInterval = 50 * time.Microsecond
	maxPollInterval = time.Millisecond
)

// finishRun closes what the run holds and returns the command's status.
func (l *loop) finishRun() (int, error) {
	l.stopNotifier()
	l.tasks.closeAll()
	if l.exitCode < 0 {
		return ExitFailure, errors.New("lost track of the command")
	}
	return l.exitCode, nil
}

// spawn starts the stub. It returns chainrun's end of the socket the two
// share: the stub writes its listener's number there, then waits for one
// byte before it execs the command.
func (l *loop) spawn(argv, env []string) (int, int, error) {
	if haveFastStub && !l.t.GoStub {
		return spawnFast(argv, env, l.t.PtraceOnly)
	}
	self := l.t.Self
	if self == "" {
		self = "/proc/self/exe"
	}
	stubEnd, sync, err := stubSocket()
	if err != nil {
		return 0, -1, err
	}
	defer unix.Close(stubEnd)
	stubVal := strconv.Itoa(stubEnd)
	if l.t.PtraceOnly {
		stubVal += stubNoListener
	}
	stubEnvv := append(append([]string{}, env...), stubEnv+"="+stubVal)
	pid, err := syscall.ForkExec(self, append([]string{"chainrun"}, argv...), &syscall.ProcAttr{
		Env:   stubEnvv,
		Files: []uintptr{0, 1, 2},
	})
	if err != nil {
		unix.Close(sync)
		return 0, -1, fmt.Errorf("starting the stub %s: %w", self, err)
	}
	return pid, sync, nil
}

// wait returns the next wait status of any tracee, or done when none is
// left (ECHILD). With WNOHANG it returns tid 0 when no tracee has news.
func wait(flags int) waitEvent {
	for {
		var ws unix.WaitStatus
		tid, err := unix.Wait4(-1, &ws, unix.WALL|flags, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return waitEvent{done: true}
		}
		return waitEvent{tid: tid, status: ws}
	}
}

func (l *loop) onEvent(ctx context.Context, ev waitEvent) {
	tid, ws := ev.tid, ev.status
	if ws.Exited() || ws.Signaled() {
		l.onExit(tid, ws)
		return
	}
	if !ws.Stopped() {
		return
	}
	th := l.threads[tid]
	if th == nil { // a new task can stop before its parent's clone event
		th = &thread{}
		l.addThread(tid, th)
	}
	sig := ws.StopSignal()
	event := int(ws) >> 16
	if event == 0 && sig == syscalls.SyscallExitStop {
		l.onSyscallExit(tid, th)
		return
	}
	switch event {
	case unix.PTRACE_EVENT_SECCOMP:
		l.onSeccomp(ctx, tid, th)
	case unix.PTRACE_EVENT_FORK, unix.PTRACE_EVENT_VFORK, unix.PTRACE_EVENT_CLONE:
		if msg, err := syscalls.EventMsg(tid); err == nil {
			l.onNewTask(tid, th, int(msg), event != unix.PTRACE_EVENT_CLONE)
		}
		l.resume(tid, 0)
	case unix.PTRACE_EVENT_EXEC:
		if obs, ok := l.t.Handler.(ExecObserver); ok {
			if exe, err := os.Readlink("/proc/" + strconv.Itoa(tid) + "/exe"); err == nil {
				obs.Exec(tid, filepath.Base(exe))
			}
		}
		if msg, err := syscalls.EventMsg(tid); err == nil && int(msg) != tid {
			// Exec from a non-leader thread: it took over the leader's
			// tid, and the old tid is never reported again.
			if old := l.threads[int(msg)]; old != nil {
				l.dropThread(int(msg), old)
			}
			if th.pending != nil {
				th.pending.cancel()
				th.pending = nil
			}
		}
		l.resume(tid, 0)
	case unix.PTRACE_EVENT_STOP:
		switch sig {
		case unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
			// Group-stop: stay stopped, but hear SIGCONT.
			if err := syscalls.Listen(tid); err != nil && err != unix.ESRCH {
				l.logf("ptrace(PTRACE_LISTEN, %d): %v", tid, err)
			}
			if tid == l.mainPid && sig != unix.SIGSTOP && foregroundOnTTY() {
				// Ctrl-Z stopped the command: stop chainrun too, so the
				// shell sees the job stop; its SIGCONT wakes us both.
				unix.Kill(os.Getpid(), unix.SIGSTOP)
			}
		default:
			l.resume(tid, 0)
		}
	case 0:
		l.resume(tid, int(sig)) // signal-delivery-stop: deliver it unchanged
	default:
		l.resume(tid, 0)
	}
}

func (l *loop) resume(tid, sig int) {
	if err := syscalls.Cont(tid, sig); err != nil && err != unix.ESRCH {
		l.logf("ptrace(PTRACE_CONT, %d): %v", tid, err)
	}
}

func (l *loop) onExit(tid int, ws unix.WaitStatus) {
	if tid == l.mainPid {
		if ws.Exited() {
			l.exitCode = ws.ExitStatus()
		} else {
			l.exitCode = 128 + int(ws.Signal())
		}
		if len(l.threads) > 1 {
			l.logf("command exited; still tracing its background processes")
		}
	}
	th := l.threads[tid]
	if th != nil {
		l.dropThread(tid, th)
	}
	if th == nil || th.tgid == tid {
		// A leader's exit is reported after all its threads are gone.
		l.tasks.processExited(tid)
	}
}

// addThread starts following thread tid.
func (l *loop) addThread(tid int, th *thread) {
	l.threads[tid] = th
	if th.tgid != 0 {
		l.tasks.setThread(tid, th.tgid)
	}
	l.tasks.threads.Store(int32(len(l.threads)))
}

func (l *loop) dropThread(tid int, th *thread) {
	if th.pending != nil {
		th.pending.cancel()
		th.pending = nil
	}
	delete(l.threads, tid)
	l.tasks.forgetThread(tid)
	if l.notifier != nil {
		l.notifier.threadGone(tid)
	}
	l.tasks.threads.Store(int32(len(l.threads)))
}

// onNewTask records task child, which thread tid (of th) has just created:
// a new process for a fork or vfork; for a clone, a new process when the
// child leads a thread group of its own (pidfd_open accepts only a
// leader: the pidfd is kept), otherwise a thread of tid's process.
func (l *loop) onNewTask(tid int, th *thread, child int, forked bool) {
	ct := l.threads[child]
	if ct == nil {
		ct = &thread{}
		l.addThread(child, ct)
	}
	parent, perr := l.tgidOf(tid, th)
	if !forked {
		fd, err := syscalls.PidfdOpen(child)
		if err == nil {
			l.tasks.addProcess(child, fd)
			forked = true
		} else if perr == nil {
			ct.tgid = parent
			l.tasks.setThread(child, parent)
			return
		}
	}
	if forked {
		ct.tgid = child
		l.tasks.setThread(child, child)
		if perr == nil {
			l.tasks.inheritWatched(parent, child)
		}
	}
}

// tgidOf returns the process a thread belongs to.
func (l *loop) tgidOf(tid int, th *thread) (int, error) {
	if th.tgid != 0 {
		return th.tgid, nil
	}
	tgid, err := l.tasks.tgidOf(tid)
	if err != nil {
		return 0, err
	}
	th.tgid = tgid
	return tgid, nil
}

// onSeccomp handles a thread stopped by the filter. Everything that needs
// ptrace or the pidfds happens here, on the tracer thread, and is quick;
// deciding (and the network) happens in a goroutine.
func (l *loop) onSeccomp(ctx context.Context, tid int, th *thread) {
	start := time.Now()
	msg, err := syscalls.EventMsg(tid)
	if err != nil {
		l.resume(tid, 0)
		return
	}
	trap := syscalls.Trap(msg & 0xffff)
	regs, err := syscalls.GetRegs(tid)
	if err != nil {
		if err != unix.ESRCH {
			l.logf("reading registers of %d: %v", tid, err)
		}
		l.resume(tid, 0)
		return
	}
	args, err := syscallArgs(tid, trap, &regs)
	if err != nil {
		l.resume(tid, 0) // unreadable memory: the kernel answers EFAULT
		return
	}
	switch c := trap.Call(); {
	case c == syscalls.CallConnect:
		l.onConnect(ctx, tid, th, trap, &regs, args, start)
	case c == syscalls.CallSocket || c == syscalls.CallIoUringSetup:
		l.onPolicy(tid, th, trap, &regs, args, start)
	case c.Receives():
		l.onReceive(tid, th, trap, args)
	default:
		l.onSend(ctx, tid, th, trap, &regs, args, start)
	}
}

// onConnect handles a trapped connect: the handler routes it at once or
// negotiates it in a goroutine while the thread stays stopped.
func (l *loop) onConnect(ctx context.Context, tid int, th *thread, trap syscalls.Trap, regs *syscalls.Regs, args sysArgs, start time.Time) {
	fd := args.fd()
	sa, err := readSockaddr(tid, args[1], args[2])
	if err == nil && sa.Family == unix.AF_UNIX {
		l.onUnixConnect(tid, th, regs, fd, sa.Path, start)
		return
	}
	if err != nil || !sa.IsInet() {
		l.resume(tid, 0) // other families, or a malformed address
		return
	}
	tgid, sock, pidfd, err := l.socketOf(tid, th, fd)
	if err != nil {
		l.resume(tid, 0) // not an open descriptor: the kernel says EBADF
		return
	}
	call := &Call{Tid: tid, Pid: tgid, Trap: trap, Fd: fd, Dst: sa.Dest(), Socket: sock, Start: start, ProcessFd: pidfd}
	res, step := prepareConnect(l.t.Handler, call, sa.Family)
	switch step {
	case stepKernel:
		// Not a socket (ENOTSOCK), a family mismatch, or a socket that is
		// connected, connecting or listening: the kernel gives its answer
		// (EISCONN, EALREADY, EAFNOSUPPORT, …).
		l.callDone(call)
		l.resume(tid, 0)
	case stepDecided:
		l.callDone(call)
		l.finish(tid, tgid, fd, regs, res)
	default:
		l.negotiate(ctx, th, call, regs, nil)
	}
}

// callDone closes a call's duplicate of the program's socket and gives
// back its pidfd.
func (l *loop) callDone(c *Call) {
	unix.Close(c.Socket)
	l.tasks.release(c.Pid, c.ProcessFd)
}

// negotiate has the Handler's Connect decide call in a goroutine while the
// thread stays stopped; fastOpen, when not nil, is sent once connected
// (TCP Fast Open) and the syscall returns its length.
func (l *loop) negotiate(ctx context.Context, th *thread, call *Call, regs *syscalls.Regs, fastOpen []byte) {
	if len(l.threads) == 1 && l.pending == 0 {
		// The only traced thread is stopped here: nothing can happen
		// that this thread would have to handle meanwhile, so it
		// negotiates itself (measured: ~15% less per connection than a
		// goroutine and its cross-thread wake-ups). A process killed
		// meanwhile ends the wait through call.ProcessFd.
		call.Inline = true
		res := l.t.Handler.Connect(ctx, call)
		if fastOpen != nil {
			res = sendConnected(call.Socket, res, fastOpen)
		}
		l.callDone(call)
		l.finish(call.Tid, call.Pid, call.Fd, regs, res)
		return
	}
	l.seq++
	callCtx, cancel := context.WithCancel(ctx)
	th.pending = &pendingCall{seq: l.seq, regs: *regs, cancel: cancel, tgid: call.Pid, fd: call.Fd}
	l.pending++
	go l.connect(callCtx, call, l.seq, fastOpen)
}

// onUnixConnect lets a UnixHandler refuse a connect to a local socket
// (a resolver daemon that would look names up behind the chain's back).
func (l *loop) onUnixConnect(tid int, th *thread, regs *syscalls.Regs, fd int, path string, start time.Time) {
	uh, ok := l.t.Handler.(UnixHandler)
	if !ok {
		l.resume(tid, 0)
		return
	}
	tgid, err := l.tgidOf(tid, th)
	if err != nil {
		l.resume(tid, 0)
		return
	}
	l.finish(tid, tgid, fd, regs, uh.ConnectUnix(&UnixCall{Tid: tid, Pid: tgid, Fd: fd, Path: path, Start: start}))
}

// onPolicy lets a PolicyHandler decide a socket(2) of a raw or packet
// socket, or io_uring_setup(2).
func (l *loop) onPolicy(tid int, th *thread, trap syscalls.Trap, regs *syscalls.Regs, a sysArgs, start time.Time) {
	ph, ok := l.t.Handler.(PolicyHandler)
	tgid, err := l.tgidOf(tid, th)
	if !ok || err != nil {
		l.resume(tid, 0)
		return
	}
	c := &PolicyCall{Tid: tid, Pid: tgid, Trap: trap, Start: start}
	if trap.Call() == syscalls.CallSocket {
		c.Domain, c.Type, c.Protocol = int(int32(a[0])), int(int32(a[1])), int(int32(a[2]))
	}
	l.finish(tid, tgid, -1, regs, ph.Policy(c))
}

// socketOf duplicates descriptor fd of thread tid's process into chainrun
// (pidfd_getfd). The caller owns the duplicate, and the process's pidfd
// until it calls tasks.release.
func (l *loop) socketOf(tid int, th *thread, fd int) (tgid, sock, pidfd int, err error) {
	tgid, err = l.tgidOf(tid, th)
	if err != nil {
		return 0, -1, -1, err // the thread is going away
	}
	pidfd, err = l.tasks.acquire(tgid)
	if err != nil {
		return 0, -1, -1, err
	}
	sock, err = syscalls.GetFd(pidfd, fd)
	if err != nil {
		l.tasks.release(tgid, pidfd)
		return 0, -1, -1, err
	}
	return tgid, sock, pidfd, nil
}

// connect runs the Handler's Connect in its own goroutine and sends the
// verdict to the tracer thread.
func (l *loop) connect(ctx context.Context, c *Call, seq uint64, fastOpen []byte) {
	res := l.t.Handler.Connect(ctx, c)
	if fastOpen != nil {
		res = sendConnected(c.Socket, res, fastOpen)
	}
	l.callDone(c)
	l.results <- result{tid: c.Tid, seq: seq, res: res}
}

// finish applies a verdict to a thread stopped at a trapped syscall on
// descriptor fd of process tgid, and resumes it.
func (l *loop) finish(tid, tgid, fd int, regs *syscalls.Regs, res Result) {
	if res.watch {
		l.tasks.watch(tgid, fd)
	}
	if ret, ok := res.Emulated(); ok {
		if err := syscalls.SkipSyscall(tid, regs, ret); err != nil {
			if err != unix.ESRCH {
				l.logf("setting the result of %d: %v", tid, err)
			}
			return
		}
	}
	l.resume(tid, 0)
}

func (l *loop) onResult(r result) {
	l.pending--
	th := l.threads[r.tid]
	if th == nil || th.pending == nil || th.pending.seq != r.seq {
		return // the thread died or exec'd meanwhile
	}
	p := th.pending
	th.pending = nil
	p.cancel()
	l.finish(r.tid, p.tgid, p.fd, &p.regs, r.res)
}

// sysArgs are a trapped syscall's six arguments.
type sysArgs [6]uint64

// fd is the first argument read as a descriptor.
func (a sysArgs) fd() int { return int(int32(a[0])) }

// syscallArgs reads a trapped syscall's arguments, from registers or, for
// socketcall, from the array of 32-bit words the program points at.
func syscallArgs(tid int, trap syscalls.Trap, regs *syscalls.Regs) (sysArgs, error) {
	var a sysArgs
	abi := trap.ABI()
	if trap.Variant() == syscalls.VariantSocketcall {
		var b [24]byte
		n, err := syscalls.ReadMem(tid, regs.Arg(abi, 1), b[:])
		if err != nil || n < 12 {
			return a, fmt.Errorf("socketcall args: short read")
		}
		for i := 0; i < n/4; i++ {
			a[i] = uint64(binary.NativeEndian.Uint32(b[4*i:]))
		}
		return a, nil
	}
	for i := range a {
		a[i] = regs.Arg(abi, i)
	}
	return a, nil
}

// readSockaddr reads the sockaddr of addrLen bytes at addr (clamped to
// MaxSockaddrLen).
func readSockaddr(tid int, addr, addrLen uint64) (syscalls.Sockaddr, error) {
	n := addrLen & 0xffffffff
	if n > syscalls.MaxSockaddrLen {
		n = syscalls.MaxSockaddrLen
	}
	var buf [syscalls.MaxSockaddrLen]byte
	got, err := syscalls.ReadMem(tid, addr, buf[:n])
	if err != nil {
		return syscalls.Sockaddr{}, err
	}
	return syscalls.DecodeSockaddr(buf[:got])
}
