package tracer

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/chainrun/chainrun/syscalls"
)

// Handler decides what happens to a trapped connect. The tracer calls it
// only for a fresh (unconnected, not listening) IPv4 or IPv6 socket; every
// other connect goes to the kernel untouched.
type Handler interface {
	// Route is called on the thread that received the call (the tracer
	// thread, or a notification worker) and must not block: it answers
	// at once the connects that need no network (ok true), or returns ok
	// false to have Connect called for this one.
	Route(c *Call) (r Result, ok bool)
	// Connect decides the connects Route left: in a goroutine of its own,
	// or, when the calling thread is the only traced one, on the thread
	// that received the call (the tracer thread, or the one receiving the
	// filter's notifications: no thread hand-off, the cheapest path for
	// the many programs that connect from one thread). It may take as long
	// as the network needs, bounded by its own timeouts; ctx is cancelled
	// if the thread dies while in a goroutine, and c.ProcessFd becomes
	// readable if the process dies in either case. The calling thread
	// waits until it returns.
	Connect(ctx context.Context, c *Call) Result
}

// ExecObserver is an optional interface of a Handler: Exec is called on the
// tracer thread when process pid has exec'd program (the base name of its
// new executable). It must not block.
type ExecObserver interface {
	Exec(pid int, program string)
}

// Call is one trapped connect.
type Call struct {
	// Tid is the calling thread, Pid its process (thread-group id).
	Tid, Pid int
	// Trap says which syscall and ABI the program used.
	Trap syscalls.Trap
	// Fd is the socket's descriptor number in the program.
	Fd int
	// Dst is the destination, an IPv4-mapped IPv6 address unmapped to IPv4.
	Dst netip.AddrPort
	// Socket is the program's own socket, duplicated into chainrun with
	// pidfd_getfd: a descriptor that shares the open file description with
	// the program's (O_NONBLOCK included). The tracer owns it and closes it
	// after Connect returns: do not keep or close it.
	Socket int
	// Info describes the socket (domain, type, protocol, O_NONBLOCK).
	Info syscalls.SocketInfo
	// Inline is true when Connect should wait for the network in place,
	// blocking the thread it runs on (poll(2)), rather than through Go's
	// network poller: when it runs on the thread that received the call
	// (the caller is the only traced thread), or in one of a bounded
	// number of goroutines that may each hold a thread.
	Inline bool
	// ProcessFd is a pidfd of the calling process (owned by the tracer):
	// it becomes readable when the process is gone, which may end a
	// negotiation that nothing else would cancel (see Handler.Connect).
	ProcessFd int
	// Start is when the thread stopped.
	Start time.Time
	// Notified is true when the call came through the filter's listener
	// (seccomp user notification), false when it stopped the thread for
	// ptrace.
	Notified bool
}

// Program is the name of the calling process, for logs.
func (c *Call) Program() string { return programName(c.Pid) }

// programName is the name of process pid (/proc/PID/comm), or "?".
func programName(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// Result is what the tracer does with a trapped syscall: let the kernel run
// it, or skip it and hand the program a result.
type Result struct {
	emulate bool
	ret     int64
	watch   bool
}

// Allow lets the kernel perform the syscall as the program asked.
func Allow() Result { return Result{} }

// Return skips the syscall; the program sees ret (0 or a negative errno).
func Return(ret int64) Result { return Result{emulate: true, ret: ret} }

// Fail skips the syscall; the program sees -1 with errno e.
func Fail(e syscall.Errno) Result { return Return(-int64(e)) }

// WatchReplies marks the program's socket, after a connect that the handler
// pointed elsewhere (a DNS socket sent to chainrun's resolver): the tracer
// then follows the socket's receives to their exit and lets the
// DatagramHandler rewrite the source addresses the program sees.
func (r Result) WatchReplies() Result { r.watch = true; return r }

// Emulated reports whether the syscall is skipped, and the value the
// program then sees.
func (r Result) Emulated() (ret int64, ok bool) { return r.ret, r.emulate }

// String describes the result for logs and tests.
func (r Result) String() string {
	switch {
	case !r.emulate:
		return "allow"
	case r.ret < 0:
		return "errno " + syscall.Errno(-r.ret).Error()
	}
	return fmt.Sprintf("return %d", r.ret)
}

// DatagramHandler is an optional interface of a Handler: it decides the
// datagrams a program sends with an explicit destination (sendto, sendmsg,
// sendmmsg on an IPv4 or IPv6 socket), and the source addresses the program
// sees on the sockets it redirected.
type DatagramHandler interface {
	// Datagram decides one datagram. It is called on the tracer thread and
	// must not block.
	Datagram(d *Datagram) Verdict
	// Source maps the source address of a datagram received on a watched
	// socket to the one the program must see (ok false: leave it).
	Source(src netip.AddrPort) (netip.AddrPort, bool)
}

// Datagram is one datagram a program sends with a destination address.
type Datagram struct {
	// Tid, Pid, Trap, Fd, Info and Start are as in Call.
	Tid, Pid int
	Trap     syscalls.Trap
	Fd       int
	Info     syscalls.SocketInfo
	Start    time.Time
	// Dst is the destination the program gave, unmapped to IPv4.
	Dst netip.AddrPort
	// Size is the datagram's length in bytes.
	Size int
	// Notified is as in Call.
	Notified bool
}

// Program is the name of the sending process, for logs.
func (d *Datagram) Program() string { return programName(d.Pid) }

// Verdict is what happens to one datagram.
type Verdict struct {
	kind  verdictKind
	to    netip.AddrPort
	errno syscall.Errno
}

type verdictKind uint8

const (
	verdictPass verdictKind = iota
	verdictRedirect
	verdictRefuse
)

// Pass sends the datagram where the program asked.
func Pass() Verdict { return Verdict{} }

// Redirect sends the datagram to another address instead (the tracer sends
// it on the program's socket) and watches the socket's replies.
func Redirect(to netip.AddrPort) Verdict { return Verdict{kind: verdictRedirect, to: to} }

// Refuse fails the send with errno e.
func Refuse(e syscall.Errno) Verdict { return Verdict{kind: verdictRefuse, errno: e} }

// String describes the verdict for logs and tests.
func (v Verdict) String() string {
	switch v.kind {
	case verdictRedirect:
		return "redirect to " + v.to.String()
	case verdictRefuse:
		return "refuse " + v.errno.Error()
	}
	return "pass"
}

// UnixHandler is an optional interface of a Handler: it sees connects to
// AF_UNIX sockets (on the thread that received the call; it must not
// block) and may refuse them, e.g. the sockets of resolver daemons (nscd,
// systemd-resolved) that would resolve names outside the chain.
type UnixHandler interface {
	ConnectUnix(c *UnixCall) Result
}

// UnixCall is one trapped connect to an AF_UNIX socket.
type UnixCall struct {
	Tid, Pid int
	Fd       int
	// Path is the socket's path; an abstract address starts with "@".
	Path  string
	Start time.Time
}

// Program is the name of the calling process, for logs.
func (c *UnixCall) Program() string { return programName(c.Pid) }

// PolicyHandler is an optional interface of a Handler: it decides the
// calls that could reach the network around connect and the datagram
// calls: creating a raw or packet socket, and io_uring_setup (io_uring's
// connect and send never pass through seccomp). It is called on the tracer
// thread and must not block. Without it they run.
type PolicyHandler interface {
	Policy(c *PolicyCall) Result
}

// PolicyCall is one such call.
type PolicyCall struct {
	Tid, Pid int
	// Trap is the call: syscalls.CallSocket or syscalls.CallIoUringSetup.
	Trap syscalls.Trap
	// Domain, Type and Protocol are socket's arguments (Type with its
	// SOCK_NONBLOCK and SOCK_CLOEXEC flags). Through i386 socketcall every
	// socket() stops, not only raw and packet ones.
	Domain, Type, Protocol int
	Start                  time.Time
}

// Program is the name of the calling process, for logs.
func (c *PolicyCall) Program() string { return programName(c.Pid) }
