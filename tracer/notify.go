package tracer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chainrun/chainrun/syscalls"
)

// notifier answers the connects and sends the filter hands to its listener
// (seccomp user notification) rather than stopping the program for the
// tracer thread. A connect then costs two context switches on one CPU (the
// program sleeps in the kernel while chainrun decides) instead of a ptrace
// stop, its register reads and its resume; and connects of different
// threads are decided at once, without queueing on the tracer thread.
//
// Workers take turns waiting on the listener (see serve). The one that
// receives a call reads it, duplicates the socket, answers at once what
// needs no network (Handler.Route) and otherwise negotiates the call
// itself, waiting for the network in place, then answers.
type notifier struct {
	t        *Tracer
	tasks    *tasks
	listener int
	rules    []syscalls.Rule // the rules that go to the listener, looked up per call
	// ctx is cancelled when the run ends: negotiations whose callers are
	// gone stop then.
	ctx    context.Context
	cancel context.CancelFunc
	// stop is an eventfd that ends the workers.
	stop int
	// calls holds a cancel function per thread whose connect is being
	// negotiated in a program of several threads: the tracer thread
	// cancels it if the thread dies.
	mu    sync.Mutex
	calls map[int]context.CancelFunc
	// recvMu is held by the worker that waits for the next notification
	// (leader and followers: the worker that receives a call negotiates it
	// itself, in place, and another takes over the waiting).
	recvMu sync.Mutex
	// workers counts the workers; waiting, those waiting for recvMu.
	workers, waiting atomic.Int32
	wg               sync.WaitGroup
}

// maxWorkers bounds the workers, each holding a thread while it waits for
// the network; calls that come while all are busy are negotiated by
// goroutines on Go's network poller.
const maxWorkers = 32

// newNotifier serves listener, which it owns from now on.
func newNotifier(t *Tracer, ts *tasks, listener int) (*notifier, error) {
	stop, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(listener)
		return nil, err
	}
	// Best effort: without it (Linux < 6.6) the program and chainrun may
	// wake each other across CPUs, which costs more but works.
	syscalls.SetSyncWakeUp(listener)
	return &notifier{t: t, tasks: ts, listener: listener, rules: listenerRules(), stop: stop,
		calls: map[int]context.CancelFunc{}}, nil
}

func (n *notifier) logf(format string, args ...any) {
	if n.t.Logf != nil {
		n.t.Logf(format, args...)
	}
}

// startWorker adds a worker.
func (n *notifier) startWorker() {
	n.workers.Add(1)
	n.wg.Add(1)
	go n.serve()
}

// serve is one worker: it takes its turn waiting for a notification and
// negotiates the call it receives, in place. Before it does, it lets the
// next worker wait, starting one when none is free and the program has
// more than one thread (a single-threaded program is served by one worker,
// with no hand-off at all). When maxWorkers are all busy, calls go to
// goroutines that wait through Go's network poller, so any number of
// connects are negotiated at once. It returns once the filter has no more
// users (every traced process is gone) or close is called.
func (n *notifier) serve() {
	defer n.wg.Done()
	defer n.workers.Add(-1)
	for {
		n.waiting.Add(1)
		n.recvMu.Lock()
		n.waiting.Add(-1)
		for {
			nt, ok := n.receive()
			if !ok {
				n.recvMu.Unlock()
				return
			}
			if n.waiting.Load() == 0 && n.tasks.threads.Load() > 1 {
				if n.workers.Load() >= maxWorkers {
					// Every worker is busy: the poller takes
					// this one, and this worker goes on waiting.
					n.wg.Add(1)
					go func() {
						defer n.wg.Done()
						n.handle(nt, false)
					}()
					continue
				}
				n.startWorker()
			}
			n.recvMu.Unlock()
			n.handle(nt, true)
			break
		}
	}
}

// receive waits for the next notification; ok is false when the workers
// must stop.
func (n *notifier) receive() (nt syscalls.Notification, ok bool) {
	fds := []unix.PollFd{{Fd: int32(n.listener), Events: unix.POLLIN}, {Fd: int32(n.stop), Events: unix.POLLIN}}
	for {
		fds[0].Revents, fds[1].Revents = 0, 0
		if _, err := unix.Poll(fds, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			n.logf("polling the seccomp listener: %v", err)
			return nt, false
		}
		if fds[1].Revents != 0 {
			return nt, false
		}
		if fds[0].Revents&unix.POLLIN == 0 {
			return nt, false // POLLHUP: no task uses the filter any more
		}
		nt, err := syscalls.Receive(n.listener)
		if err == unix.ENOENT {
			continue // the caller went away first
		}
		if err != nil {
			n.logf("receiving a seccomp notification: %v", err)
			return nt, false
		}
		return nt, true
	}
}

// close stops the workers once they have answered what they hold (every
// traced process is gone: their negotiations end at once), and closes the
// listener.
func (n *notifier) close() {
	var one [8]byte
	one[0] = 1
	unix.Write(n.stop, one[:])
	n.cancel()
	n.wg.Wait()
	unix.Close(n.stop)
	unix.Close(n.listener)
}

// answer completes notification id with res.
func (n *notifier) answer(id uint64, res Result) {
	ret, emulated := res.Emulated()
	err := syscalls.Answer(n.listener, id, ret, !emulated)
	if err != nil && err != unix.ENOENT {
		n.logf("answering a seccomp notification: %v", err)
	}
}

// handle decides one notification, waiting for the network in place or
// through Go's network poller. The program's thread sleeps in the
// kernel until it is answered; it is answered exactly once, or not at all
// when the thread is gone.
func (n *notifier) handle(nt syscalls.Notification, inPlace bool) {
	start := time.Now()
	trap, ok := syscalls.NotifyTrap(n.rules, nt.Arch, nt.Nr)
	switch {
	case !ok:
		n.answer(nt.ID, Allow()) // not a call the filter sends here
	case trap.Call() == syscalls.CallConnect:
		n.onConnect(nt, trap, start, inPlace)
	default:
		n.onSend(nt, trap, start, inPlace)
	}
}

// onConnect decides a connect.
func (n *notifier) onConnect(nt syscalls.Notification, trap syscalls.Trap, start time.Time, inPlace bool) {
	fd := int(int32(nt.Args[0]))
	sa, err := readSockaddr(nt.Tid, nt.Args[1], nt.Args[2])
	if !syscalls.Valid(n.listener, nt.ID) {
		return // the thread is gone: what was read may be another's
	}
	if err == nil && sa.Family == unix.AF_UNIX {
		n.onUnixConnect(nt, fd, sa.Path, start)
		return
	}
	if err != nil || !sa.IsInet() {
		n.answer(nt.ID, Allow()) // other families, or a malformed address
		return
	}
	call, err := n.callOn(nt, trap, fd, start)
	if err != nil {
		n.answerError(nt, err)
		return
	}
	call.Dst = sa.Dest()
	res, step := prepareConnect(n.t.Handler, call, sa.Family)
	if step != stepNegotiate {
		n.finish(nt.ID, call, res, step)
		return
	}
	n.negotiate(nt, call, inPlace, nil)
}

// onSend decides a sendto, sendmsg or sendmmsg (see planSend).
func (n *notifier) onSend(nt syscalls.Notification, trap syscalls.Trap, start time.Time, inPlace bool) {
	a := sysArgs(nt.Args)
	lay := syscalls.LayoutFor(trap)
	msgs, ok := readOutMessages(nt.Tid, trap, lay, a)
	if !syscalls.Valid(n.listener, nt.ID) {
		return // the thread is gone: what was read may be another's
	}
	if !ok {
		n.answer(nt.ID, Allow()) // nothing with an address, or unreadable: the kernel answers
		return
	}
	call, err := n.callOn(nt, trap, a.fd(), start)
	if err != nil {
		n.answerError(nt, err)
		return
	}
	plan := planSend(n.t.Handler, n.tasks, call, lay, a, msgs)
	switch {
	case plan.kernel:
		n.finish(nt.ID, call, Allow(), stepKernel)
	case plan.fastOpen != nil:
		n.negotiate(nt, call, inPlace, plan.fastOpen)
	default:
		n.finish(nt.ID, call, plan.res, stepDecided)
	}
}

// callOn makes the Call of a notified syscall on descriptor fd: the
// caller's process, a pidfd of it (held until finish) and chainrun's
// duplicate of the descriptor. An error is what the program should see.
func (n *notifier) callOn(nt syscalls.Notification, trap syscalls.Trap, fd int, start time.Time) (*Call, error) {
	tgid, err := n.tasks.tgidOf(nt.Tid)
	if err != nil {
		return nil, err // the thread is going away
	}
	pidfd, err := n.tasks.acquire(tgid)
	if err != nil {
		return nil, err
	}
	sock, err := syscalls.GetFd(pidfd, fd)
	if err != nil {
		n.tasks.release(tgid, pidfd)
		return nil, err
	}
	return &Call{Tid: nt.Tid, Pid: tgid, Trap: trap, Fd: fd, Socket: sock, Start: start, ProcessFd: pidfd, Notified: true}, nil
}

// negotiate has the Handler's Connect decide call, in place on this worker
// or through the poller, and answers; fastOpen, when not nil, is sent once
// connected (TCP Fast Open) and the syscall returns its length. In a
// program of several threads, the tracer thread may see the caller die
// meanwhile and cancel the negotiation.
func (n *notifier) negotiate(nt syscalls.Notification, call *Call, inPlace bool, fastOpen []byte) {
	call.Inline = inPlace
	ctx := n.ctx
	if n.tasks.threads.Load() > 1 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(n.ctx)
		n.mu.Lock()
		n.calls[nt.Tid] = cancel
		n.mu.Unlock()
		defer func() {
			n.mu.Lock()
			delete(n.calls, nt.Tid)
			n.mu.Unlock()
			cancel()
		}()
	}
	res := n.t.Handler.Connect(ctx, call)
	if fastOpen != nil {
		res = sendConnected(call.Socket, res, fastOpen)
	}
	n.finish(nt.ID, call, res, stepDecided)
}

// threadGone cancels the negotiation of thread tid, if one runs: the
// tracer thread saw the thread exit.
func (n *notifier) threadGone(tid int) {
	n.mu.Lock()
	cancel := n.calls[tid]
	n.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// finish answers a call, releases what it holds, and watches the socket
// when the result asks for it.
func (n *notifier) finish(id uint64, call *Call, res Result, step connectStep) {
	if step == stepKernel {
		res = Allow()
	}
	if res.watch {
		n.tasks.watch(call.Pid, call.Fd)
	}
	n.answer(id, res)
	// The program runs on from here; the duplicate is chainrun's own.
	unix.Close(call.Socket)
	n.tasks.release(call.Pid, call.ProcessFd)
}

// answerError fails a connect whose socket chainrun could not look at, with
// the errno the kernel would have given for a descriptor that is not open
// (EBADF), or the error itself: a connect chainrun has not inspected never
// runs.
func (n *notifier) answerError(nt syscalls.Notification, err error) {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		errno = unix.EPERM
	}
	if errno != unix.EBADF {
		n.logf("connect of thread %d: %v", nt.Tid, err)
	}
	n.answer(nt.ID, Fail(errno))
}

// onUnixConnect lets a UnixHandler refuse a connect to a local socket.
func (n *notifier) onUnixConnect(nt syscalls.Notification, fd int, path string, start time.Time) {
	uh, ok := n.t.Handler.(UnixHandler)
	if !ok {
		n.answer(nt.ID, Allow())
		return
	}
	tgid, err := n.tasks.tgidOf(nt.Tid)
	if err != nil {
		n.answerError(nt, err)
		return
	}
	n.answer(nt.ID, uh.ConnectUnix(&UnixCall{Tid: nt.Tid, Pid: tgid, Fd: fd, Path: path, Start: start}))
}

// connectStep is what a trapped connect needs once its socket is known.
type connectStep uint8

const (
	// stepKernel: the kernel runs the connect as the program made it and
	// gives its own answer (not a socket, a socket already connected or
	// listening, a family the socket does not take).
	stepKernel connectStep = iota
	// stepDecided: Handler.Route answered.
	stepDecided
	// stepNegotiate: Handler.Connect must decide.
	stepNegotiate
)

// prepareConnect looks at the program's socket for a connect to an address
// of family and lets the Handler's Route answer what needs no network. It
// fills in call.Info.
func prepareConnect(h Handler, call *Call, family uint16) (Result, connectStep) {
	info, err := syscalls.InspectSocket(call.Socket)
	if err != nil || !info.Fresh || !familyFits(info, family) {
		return Result{}, stepKernel
	}
	call.Info = info
	if res, ok := h.Route(call); ok {
		return res, stepDecided
	}
	return Result{}, stepNegotiate
}

// familyFits reports whether a socket of info's domain connects to an
// address of family: the same family, or an IPv4 address on an IPv6
// datagram socket, which the kernel connects as v4-mapped (a TCP socket
// refuses it with EAFNOSUPPORT).
func familyFits(info syscalls.SocketInfo, family uint16) bool {
	if info.Domain == int(family) {
		return true
	}
	return info.Domain == unix.AF_INET6 && family == unix.AF_INET && info.Type == unix.SOCK_DGRAM
}

func closeFd(fd int) { unix.Close(fd) }

// maxStubWait bounds how long chainrun waits for the stub to report its
// filter (it takes microseconds; a stub that never does is stuck).
const maxStubWait = 10 * time.Second

// startNotifier takes the listener the stub (pid, seized) reported as
// descriptor number num and starts answering its notifications. A stub
// that loaded the filter without a listener reports -1: every trap then
// stops for the tracer thread.
func (l *loop) startNotifier(ctx context.Context, pid, num int) error {
	if num < 0 {
		if !l.t.PtraceOnly {
			l.logf("the kernel gave no seccomp listener (Linux < 5.19, or a filter with one already): connects stop for ptrace, which is slower")
		}
		return nil
	}
	pidfd, err := l.tasks.acquire(pid)
	if err != nil {
		return fmt.Errorf("taking the seccomp listener: %w", err)
	}
	listener, err := syscalls.GetFd(pidfd, num)
	l.tasks.release(pid, pidfd)
	if err != nil {
		return fmt.Errorf("taking the seccomp listener (pidfd_getfd): %w", err)
	}
	n, err := newNotifier(l.t, l.tasks, listener)
	if err != nil {
		return fmt.Errorf("seccomp listener: %w", err)
	}
	n.ctx, n.cancel = context.WithCancel(ctx)
	l.notifier = n
	n.startWorker()
	return nil
}

// stopNotifier ends the notifier, if there is one.
func (l *loop) stopNotifier() {
	if l.notifier != nil {
		l.notifier.close()
		l.notifier = nil
	}
}

// readListenerNumber reads the stub's report: its listener's descriptor
// number, or -1.
func readListenerNumber(sync int) (int, error) {
	var b [4]byte
	got := 0
	deadline := time.Now().Add(maxStubWait)
	for got < len(b) {
		left := time.Until(deadline)
		if left <= 0 {
			return -1, errors.New("the stub did not report its filter")
		}
		fds := []unix.PollFd{{Fd: int32(sync), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(left/time.Millisecond)+1); err != nil && err != unix.EINTR {
			return -1, err
		}
		if fds[0].Revents == 0 {
			continue
		}
		n, err := unix.Read(sync, b[got:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, err
		}
		if n == 0 {
			return -1, errors.New("the stub exited")
		}
		got += n
	}
	return int(int32(binary.LittleEndian.Uint32(b[:]))), nil
}

// listenerRules are the rules of the filter whose calls come to the
// listener: a handful, so the lookup of every call scans only them.
func listenerRules() []syscalls.Rule {
	var out []syscalls.Rule
	for _, r := range syscalls.NotifyRules() {
		if r.Notify {
			out = append(out, r)
		}
	}
	return out
}
