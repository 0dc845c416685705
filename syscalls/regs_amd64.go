package syscalls

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Regs is a stopped thread's register file.
type Regs struct {
	r unix.PtraceRegs
}

// GetRegs reads the registers of stopped thread tid. It uses PTRACE_GETREGS,
// which always fills the 64-bit layout: GETREGSET (what unix.PtraceGetRegs
// uses) silently returns the 32-bit layout for a compat tracee.
func GetRegs(tid int) (Regs, error) {
	var regs Regs
	_, _, errno := unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_GETREGS, uintptr(tid), 0, uintptr(unsafe.Pointer(&regs.r)), 0, 0)
	if errno != 0 {
		return regs, errno
	}
	return regs, nil
}

// Arg returns syscall argument i (0–5) as the ABI passes it.
func (r *Regs) Arg(abi ABI, i int) uint64 {
	if abi == ABICompat32 {
		var v uint64
		switch i {
		case 0:
			v = r.r.Rbx
		case 1:
			v = r.r.Rcx
		case 2:
			v = r.r.Rdx
		case 3:
			v = r.r.Rsi
		case 4:
			v = r.r.Rdi
		case 5:
			v = r.r.Rbp
		}
		return v & 0xffffffff
	}
	switch i {
	case 0:
		return r.r.Rdi
	case 1:
		return r.r.Rsi
	case 2:
		return r.r.Rdx
	case 3:
		return r.r.R10
	case 4:
		return r.r.R8
	case 5:
		return r.r.R9
	}
	return 0
}

// Ret is the syscall's return value at a syscall-exit stop (a negative
// errno for a failure).
func (r *Regs) Ret(abi ABI) int64 {
	if abi == ABICompat32 {
		return int64(int32(r.r.Rax))
	}
	return int64(r.r.Rax)
}

// SyscallNr is the number of the syscall the thread is stopped in.
func (r *Regs) SyscallNr() int64 { return int64(r.r.Orig_rax) }

// SkipSyscall makes the stopped thread skip its syscall and see ret as the
// result (a negative errno for a failure). Call it at the seccomp stop.
func SkipSyscall(tid int, r *Regs, ret int64) error {
	r.r.Orig_rax = ^uint64(0) // -1: no syscall
	r.r.Rax = uint64(ret)
	_, _, errno := unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_SETREGS, uintptr(tid), 0, uintptr(unsafe.Pointer(&r.r)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
