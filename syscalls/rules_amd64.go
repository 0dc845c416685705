package syscalls

import "golang.org/x/sys/unix"

// Syscall numbers of the ABIs an amd64 kernel runs.
const (
	nrConnectAMD64       = 42 // x86_64 connect
	x32SyscallBit        = 0x40000000
	nrConnectI386        = 362 // i386 connect
	nrSocketcallI386     = 102 // i386 socketcall
	socketcallSysConnect = 3   // SYS_CONNECT in linux/net.h
)

func archRules() []Rule {
	sysConnect := uint32(socketcallSysConnect)
	return []Rule{
		{Arch: unix.AUDIT_ARCH_X86_64, Nr: nrConnectAMD64, Trap: TrapConnect},
		{Arch: unix.AUDIT_ARCH_X86_64, Nr: x32SyscallBit | nrConnectAMD64, Trap: TrapConnectX32},
		{Arch: unix.AUDIT_ARCH_I386, Nr: nrConnectI386, Trap: TrapConnectCompat},
		{Arch: unix.AUDIT_ARCH_I386, Nr: nrSocketcallI386, Arg0: &sysConnect, Trap: TrapSocketcallConnect},
	}
}
