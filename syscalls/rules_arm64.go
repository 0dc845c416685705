package syscalls

import "golang.org/x/sys/unix"

// Syscall numbers of the socket calls in each ABI an arm64 kernel runs.
// AArch32 has no socketcall.
var (
	nrARM64 = [callCount]uint32{CallConnect: 203, CallSendto: 206, CallRecvfrom: 207, CallSendmsg: 211,
		CallRecvmsg: 212, CallRecvmmsg: 243, CallSendmmsg: 269, CallSocket: 198, CallIoUringSetup: 425}
	nrARM = [callCount]uint32{CallConnect: 283, CallSendto: 290, CallRecvfrom: 292, CallSendmsg: 296,
		CallRecvmsg: 297, CallRecvmmsg: 365, CallSendmmsg: 374, CallSocket: 281, CallIoUringSetup: 425}
	// recvmmsg_time64 (AArch32 417) takes the same mmsghdr array as recvmmsg.
	nrARMRecvmmsgTime64 uint32 = 417
)

func archRules() []Rule {
	var rules []Rule
	for _, c := range trappedCalls {
		rules = append(rules, callRules(unix.AUDIT_ARCH_AARCH64, nrARM64[c], c, VariantNative)...)
		rules = append(rules, callRules(unix.AUDIT_ARCH_ARM, nrARM[c], c, VariantCompat)...)
		if c == CallRecvmmsg {
			rules = append(rules, Rule{Arch: unix.AUDIT_ARCH_ARM, Nr: nrARMRecvmmsgTime64, Trap: MakeTrap(c, VariantCompat)})
		}
	}
	return rules
}
