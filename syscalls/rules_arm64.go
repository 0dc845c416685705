package syscalls

import "golang.org/x/sys/unix"

// Syscall numbers of the ABIs an arm64 kernel runs.
const (
	nrConnectARM64 = 203 // AArch64 connect
	nrConnectARM   = 283 // AArch32 (EABI) connect; AArch32 has no socketcall
)

func archRules() []Rule {
	return []Rule{
		{Arch: unix.AUDIT_ARCH_AARCH64, Nr: nrConnectARM64, Trap: TrapConnect},
		{Arch: unix.AUDIT_ARCH_ARM, Nr: nrConnectARM, Trap: TrapConnectCompat},
	}
}
