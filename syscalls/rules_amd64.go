package syscalls

import "golang.org/x/sys/unix"

// x32SyscallBit marks a syscall number of the x32 ABI.
const x32SyscallBit = 0x40000000

// nrSocketcallI386 is i386 socketcall(2); its first argument says which
// socket call (SYS_CONNECT … in linux/net.h).
const nrSocketcallI386 = 102

// Syscall numbers of the socket calls in each ABI an amd64 kernel runs.
var (
	nrAMD64 = [callCount]uint32{CallConnect: 42, CallSendto: 44, CallRecvfrom: 45, CallSendmsg: 46,
		CallRecvmsg: 47, CallRecvmmsg: 299, CallSendmmsg: 307, CallSocket: 41, CallIoUringSetup: 425}
	// x32 has its own entry points for the calls that take a msghdr.
	nrX32 = [callCount]uint32{CallConnect: 42, CallSendto: 44, CallRecvfrom: 45, CallSendmsg: 518,
		CallRecvmsg: 519, CallRecvmmsg: 537, CallSendmmsg: 538, CallSocket: 41, CallIoUringSetup: 425}
	nrI386 = [callCount]uint32{CallConnect: 362, CallSendto: 369, CallSendmsg: 370, CallRecvfrom: 371,
		CallRecvmsg: 372, CallSendmmsg: 345, CallRecvmmsg: 337, CallSocket: 359, CallIoUringSetup: 425}
	// recvmmsg_time64 (i386 417) takes the same mmsghdr array as recvmmsg.
	nrI386RecvmmsgTime64 uint32 = 417
	// SYS_* numbers of socketcall (0: the call has none).
	socketcallNr = [callCount]uint32{CallConnect: 3, CallSendto: 11, CallRecvfrom: 12, CallSendmsg: 16,
		CallRecvmsg: 17, CallRecvmmsg: 19, CallSendmmsg: 20, CallSocket: 1}
)

func archRules() []Rule {
	var rules []Rule
	for _, c := range trappedCalls {
		rules = append(rules, callRules(unix.AUDIT_ARCH_X86_64, nrAMD64[c], c, VariantNative)...)
		rules = append(rules, callRules(unix.AUDIT_ARCH_X86_64, x32SyscallBit|nrX32[c], c, VariantX32)...)
		rules = append(rules, callRules(unix.AUDIT_ARCH_I386, nrI386[c], c, VariantCompat)...)
		if c == CallRecvmmsg {
			rules = append(rules, Rule{Arch: unix.AUDIT_ARCH_I386, Nr: nrI386RecvmmsgTime64, Trap: MakeTrap(c, VariantCompat)})
		}
		// socketcall's arguments live in memory: every call of the kind
		// stops (io_uring_setup has no socketcall).
		if sc := socketcallNr[c]; sc != 0 {
			rules = append(rules, Rule{Arch: unix.AUDIT_ARCH_I386, Nr: nrSocketcallI386, Arg0: &sc, Trap: MakeTrap(c, VariantSocketcall)})
		}
	}
	return rules
}
