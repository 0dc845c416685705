package syscalls

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// InstallFilter sets no_new_privs and loads prog as a seccomp filter on the
// calling thread. The filter survives execve, so it must be called from the
// thread that will exec (runtime.LockOSThread). It is not synchronised to
// other threads: the stub execs right after, which ends them.
func InstallFilter(prog []unix.SockFilter) error {
	if len(prog) == 0 {
		return fmt.Errorf("seccomp: empty filter")
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog)))
	if errno != 0 {
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): %w", errno)
	}
	return nil
}
