package syscalls

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Seccomp user notification (seccomp_unotify(2)). A call the filter hands to
// a listener instead of the tracer blocks in the kernel until chainrun
// answers it through the listener descriptor: no ptrace stop, no register
// access, and any thread of chainrun may answer while others negotiate.
// With SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (Linux 6.6) the kernel switches
// between the program and the answering thread on one CPU, which is what
// makes a trapped connect cost ~5 µs instead of a ptrace stop's ~15–50 µs
// on this kind of machine.

// ListenerFilterFlags are the flags of the filter that has a listener:
// a new listener descriptor, and, once chainrun has received a call, a wait
// that only a fatal signal ends (Linux 5.19): a signal handler cannot
// interrupt a connect halfway through its negotiation.
const ListenerFilterFlags = unix.SECCOMP_FILTER_FLAG_NEW_LISTENER | unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV

// NotifyRules is the rule table with the native connect, sendto, sendmsg
// and sendmmsg handed to the listener (their arguments are in the
// notification, their buffers read with process_vm_readv). The receives
// still stop for the tracer, which follows those on redirected sockets to
// their exit; so does every call of the other ABIs.
func NotifyRules() []Rule {
	rules := Rules()
	for i := range rules {
		switch rules[i].Trap {
		case TrapConnect, MakeTrap(CallSendto, VariantNative), MakeTrap(CallSendmsg, VariantNative), MakeTrap(CallSendmmsg, VariantNative):
			rules[i].Notify = true
		}
	}
	return rules
}

// NotifyTrap returns the trap of a notification for syscall nr of
// architecture arch, as the rule table names it (ok false: the filter sends
// no such call to the listener).
func NotifyTrap(rules []Rule, arch, nr uint32) (Trap, bool) {
	for _, r := range rules {
		if r.Notify && r.Arch == arch && r.Nr == nr {
			return r.Trap, true
		}
	}
	return 0, false
}

// InstallListenerFilter sets no_new_privs and loads prog with a listener
// (ListenerFilterFlags) on the calling thread, and returns the listener
// descriptor (close-on-exec). It fails where the kernel lacks the flags or
// a filter already on the thread has a listener (chainrun under a
// supervisor that uses one, or under chainrun): the caller then loads a
// filter without one.
func InstallListenerFilter(prog []unix.SockFilter) (int, error) {
	if len(prog) == 0 {
		return -1, fmt.Errorf("seccomp: empty filter")
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return -1, fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	fd, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, ListenerFilterFlags, uintptr(unsafe.Pointer(&fprog)))
	if errno != 0 {
		return -1, fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER, NEW_LISTENER): %w", errno)
	}
	return int(fd), nil
}

// Notification is one call waiting for chainrun's answer (struct
// seccomp_notif).
type Notification struct {
	// ID names the call in the answer.
	ID uint64
	// Tid is the calling thread, in chainrun's pid namespace.
	Tid int
	// Arch and Nr are the syscall's architecture and number.
	Arch, Nr uint32
	// Args are its six arguments.
	Args [6]uint64
}

// seccompNotif is struct seccomp_notif (80 bytes).
type seccompNotif struct {
	id    uint64
	pid   uint32
	flags uint32
	nr    int32
	arch  uint32
	ip    uint64
	args  [6]uint64
}

// seccompNotifResp is struct seccomp_notif_resp (24 bytes).
type seccompNotifResp struct {
	id    uint64
	val   int64
	error int32
	flags uint32
}

// SetSyncWakeUp asks the kernel to wake the program and chainrun on the
// CPU of the one that wakes the other (Linux 6.6); an older kernel says
// EINVAL and notifications still work, only slower.
func SetSyncWakeUp(listener int) error {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(listener), unix.SECCOMP_IOCTL_NOTIF_SET_FLAGS, unix.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)
	if errno != 0 {
		return fmt.Errorf("SECCOMP_IOCTL_NOTIF_SET_FLAGS: %w", errno)
	}
	return nil
}

// Receive waits for the next notification (SECCOMP_IOCTL_NOTIF_RECV). It
// blocks the calling thread; poll the listener for POLLIN first to wait
// with a way out. ENOENT means the call went away before it was received
// (the thread was killed or a signal interrupted it): receive again.
func Receive(listener int) (Notification, error) {
	var raw seccompNotif
	for {
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(listener), unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&raw)))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return Notification{}, errno
		}
		break
	}
	return Notification{ID: raw.id, Tid: int(raw.pid), Arch: raw.arch, Nr: uint32(raw.nr), Args: raw.args}, nil
}

// Valid reports whether notification id still waits for an answer
// (SECCOMP_IOCTL_NOTIF_ID_VALID): checked after reading the program's
// memory, it proves the thread that was read is the one that called, not a
// new task that took over its id.
func Valid(listener int, id uint64) bool {
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(listener), unix.SECCOMP_IOCTL_NOTIF_ID_VALID, uintptr(unsafe.Pointer(&id)))
	return errno == 0
}

// Answer completes notification id: with cont, the kernel runs the syscall
// as the program made it; otherwise the syscall returns ret (a value, or a
// negative errno) without running. ENOENT means the caller is gone.
func Answer(listener int, id uint64, ret int64, cont bool) error {
	resp := seccompNotifResp{id: id}
	switch {
	case cont:
		resp.flags = unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE
	case ret < 0:
		resp.error = int32(ret)
	default:
		resp.val = ret
	}
	for {
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(listener), unix.SECCOMP_IOCTL_NOTIF_SEND, uintptr(unsafe.Pointer(&resp)))
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return errno
		}
		return nil
	}
}
