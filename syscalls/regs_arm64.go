package syscalls

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Regs is a stopped thread's register file.
type Regs struct {
	r unix.PtraceRegs
}

// ntARMSystemCall is the regset holding the syscall number (elf.h).
const ntARMSystemCall = 0x404

// GetRegs reads the registers of stopped thread tid (NT_PRSTATUS).
func GetRegs(tid int) (Regs, error) {
	var regs Regs
	err := unix.PtraceGetRegs(tid, &regs.r)
	return regs, err
}

// Arg returns syscall argument i (0–5). At the seccomp stop x0 still holds
// the first argument. AArch32 tracees pass r0–r5, which the kernel shows in
// the same slots.
func (r *Regs) Arg(abi ABI, i int) uint64 {
	if i < 0 || i > 5 {
		return 0
	}
	v := r.r.Regs[i]
	if abi == ABICompat32 {
		v &= 0xffffffff
	}
	return v
}

// Ret is the syscall's return value at a syscall-exit stop (x0; a
// negative errno for a failure).
func (r *Regs) Ret(abi ABI) int64 {
	if abi == ABICompat32 {
		return int64(int32(r.r.Regs[0]))
	}
	return int64(r.r.Regs[0])
}

// SyscallNr is the number of the syscall the thread is stopped in (x8).
func (r *Regs) SyscallNr() int64 { return int64(r.r.Regs[8]) }

// SkipSyscall makes the stopped thread skip its syscall and see ret as the
// result: the syscall number becomes -1 through NT_ARM_SYSTEM_CALL and x0
// carries the result.
func SkipSyscall(tid int, r *Regs, ret int64) error {
	nr := int32(-1)
	iov := unix.Iovec{Base: (*byte)(unsafe.Pointer(&nr))}
	iov.SetLen(int(unsafe.Sizeof(nr)))
	_, _, errno := unix.RawSyscall6(unix.SYS_PTRACE, unix.PTRACE_SETREGSET, uintptr(tid), ntARMSystemCall, uintptr(unsafe.Pointer(&iov)), 0, 0)
	if errno != 0 {
		return errno
	}
	r.r.Regs[0] = uint64(ret)
	return unix.PtraceSetRegs(tid, &r.r)
}
