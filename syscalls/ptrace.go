package syscalls

import (
	"golang.org/x/sys/unix"
)

// TraceOptions are the ptrace options every tracee gets: seccomp stops, the
// whole process tree followed, death when the tracer dies, and syscall
// stops marked (SIGTRAP|0x80) for the few calls the tracer follows to
// their exit.
const TraceOptions = unix.PTRACE_O_TRACESECCOMP | unix.PTRACE_O_TRACECLONE | unix.PTRACE_O_TRACEFORK |
	unix.PTRACE_O_TRACEVFORK | unix.PTRACE_O_TRACEEXEC | unix.PTRACE_O_EXITKILL | unix.PTRACE_O_TRACESYSGOOD

// SyscallExitStop is the stop signal of a syscall stop under
// PTRACE_O_TRACESYSGOOD.
const SyscallExitStop = unix.SIGTRAP | 0x80

// ptrace issues one raw ptrace request. Every request must come from the
// OS thread that seized the tracee.
func ptrace(req int, tid int, addr, data uintptr) error {
	_, _, errno := unix.RawSyscall6(unix.SYS_PTRACE, uintptr(req), uintptr(tid), addr, data, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// Seize attaches to tid with TraceOptions without stopping it.
func Seize(tid int) error { return ptrace(unix.PTRACE_SEIZE, tid, 0, TraceOptions) }

// Cont resumes a stopped tracee, delivering sig (0 for none).
func Cont(tid int, sig int) error { return ptrace(unix.PTRACE_CONT, tid, 0, uintptr(sig)) }

// ResumeToExit resumes a tracee stopped at a seccomp stop so that it stops
// again when its syscall returns (PTRACE_SYSCALL): the tracer can then
// see, and fix, what the kernel wrote.
func ResumeToExit(tid int) error { return ptrace(unix.PTRACE_SYSCALL, tid, 0, 0) }

// Listen leaves a tracee in group-stop but lets it report the SIGCONT that
// ends it (PTRACE_LISTEN): job control keeps working under the tracer.
func Listen(tid int) error { return ptrace(unix.PTRACE_LISTEN, tid, 0, 0) }

// EventMsg returns the PTRACE_GETEVENTMSG value of a stopped tracee: the new
// tid at a fork/clone event, the former tid at an exec event, the
// SECCOMP_RET_DATA at a seccomp stop.
func EventMsg(tid int) (uint64, error) {
	msg, err := unix.PtraceGetEventMsg(tid)
	return uint64(msg), err
}
