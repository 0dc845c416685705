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
	// Route is called on the tracer thread and must not block: it answers
	// at once the connects that need no network (ok true), or returns ok
	// false to have Connect called for this one.
	Route(c *Call) (r Result, ok bool)
	// Connect is called in a goroutine of its own. It may take as long as
	// the network needs (ctx is cancelled if the thread dies); the calling
	// thread stays stopped until it returns.
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
	// Start is when the thread stopped.
	Start time.Time
}

// Program is the name of the calling process (/proc/PID/comm), for logs.
func (c *Call) Program() string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", c.Pid))
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
}

// Allow lets the kernel perform the syscall as the program asked.
func Allow() Result { return Result{} }

// Return skips the syscall; the program sees ret (0 or a negative errno).
func Return(ret int64) Result { return Result{emulate: true, ret: ret} }

// Fail skips the syscall; the program sees -1 with errno e.
func Fail(e syscall.Errno) Result { return Return(-int64(e)) }

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
