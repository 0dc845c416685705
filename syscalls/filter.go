package syscalls

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Trap names a syscall the filter stops at. The filter hands it to the tracer
// in SECCOMP_RET_DATA, so the tracer knows the ABI and the call without
// guessing from registers.
type Trap uint16

// The traps chainrun installs.
const (
	// TrapConnect is connect(2) through the native ABI.
	TrapConnect Trap = iota + 1
	// TrapConnectCompat is connect(2) through the 32-bit compat ABI
	// (i386 int 0x80 on amd64, AArch32 on arm64).
	TrapConnectCompat
	// TrapSocketcallConnect is socketcall(SYS_CONNECT, args) through the
	// i386 ABI; the three arguments live in tracee memory.
	TrapSocketcallConnect
	// TrapConnectX32 is connect(2) through the x32 ABI.
	TrapConnectX32
)

// String names the trap for logs.
func (t Trap) String() string {
	switch t {
	case TrapConnect:
		return "connect"
	case TrapConnectCompat:
		return "connect(compat32)"
	case TrapSocketcallConnect:
		return "socketcall(connect)"
	case TrapConnectX32:
		return "connect(x32)"
	}
	return fmt.Sprintf("trap(%d)", uint16(t))
}

// ABI returns the calling convention the trapped syscall's arguments follow.
func (t Trap) ABI() ABI {
	switch t {
	case TrapConnectCompat, TrapSocketcallConnect:
		return ABICompat32
	}
	return ABINative // x32 passes arguments in the native registers
}

// ABI is a syscall calling convention.
type ABI uint8

// The ABIs a tracee may use.
const (
	ABINative ABI = iota
	ABICompat32
)

// Rule is one row of the filter table: syscall Nr of architecture Arch stops
// the tracee with Trap. When Arg0 is set, only calls whose first argument's
// low 32 bits equal *Arg0 stop.
type Rule struct {
	Arch uint32
	Nr   uint32
	Arg0 *uint32
	Trap Trap
}

// Rules is the table the filter is generated from (see rules_*.go): for
// each syscall ABI of this architecture, the connect calls that must stop.
func Rules() []Rule { return archRules() }

// seccomp_data offsets (include/uapi/linux/seccomp.h). The low 32 bits of
// args[0] sit at offset 16 on the little-endian machines we build for.
const (
	offNr      = 0
	offArch    = 4
	offArg0Low = 16
)

// Filter turns a rule table into a classic BPF program for seccomp. The
// program dispatches on the architecture, then on the syscall number, and
// looks at an argument only inside the branch of a trapped call, so every
// syscall that is not trapped is an argument-independent ALLOW: the kernel
// (≥ 5.11) caches that verdict per syscall number and skips the filter.
// An architecture the table does not know is killed: fail closed.
func Filter(rules []Rule) ([]unix.SockFilter, error) {
	var a asm
	var arches []uint32
	byArch := map[uint32][]Rule{}
	for _, r := range rules {
		if r.Trap == 0 {
			return nil, fmt.Errorf("filter rule for syscall %d: trap id 0 is reserved", r.Nr)
		}
		if _, ok := byArch[r.Arch]; !ok {
			arches = append(arches, r.Arch)
		}
		byArch[r.Arch] = append(byArch[r.Arch], r)
	}
	a.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offArch)
	for i, arch := range arches {
		a.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, arch, fmt.Sprintf("arch%d", i), "")
	}
	a.stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_KILL_PROCESS)
	for i, arch := range arches {
		a.label(fmt.Sprintf("arch%d", i))
		a.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offNr)
		for j, r := range byArch[arch] {
			hit := fmt.Sprintf("arch%d.rule%d", i, j)
			a.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, r.Nr, hit, "")
		}
		a.stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ALLOW)
		for j, r := range byArch[arch] {
			a.label(fmt.Sprintf("arch%d.rule%d", i, j))
			if r.Arg0 != nil {
				a.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offArg0Low)
				a.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, *r.Arg0, "", "allow")
			}
			a.stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_TRACE|uint32(r.Trap))
		}
	}
	a.label("allow")
	a.stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ALLOW)
	return a.assemble()
}

// asm is a tiny classic-BPF assembler with forward labels.
type asm struct {
	insns  []insn
	labels map[string]int
}

type insn struct {
	f      unix.SockFilter
	jt, jf string // label names; "" means fall through
}

func (a *asm) stmt(code uint16, k uint32) {
	a.insns = append(a.insns, insn{f: unix.SockFilter{Code: code, K: k}})
}

func (a *asm) jump(code uint16, k uint32, jt, jf string) {
	a.insns = append(a.insns, insn{f: unix.SockFilter{Code: code, K: k}, jt: jt, jf: jf})
}

func (a *asm) label(name string) {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	a.labels[name] = len(a.insns)
}

func (a *asm) assemble() ([]unix.SockFilter, error) {
	out := make([]unix.SockFilter, len(a.insns))
	offset := func(at int, name string) (uint8, error) {
		if name == "" {
			return 0, nil
		}
		target, ok := a.labels[name]
		if !ok {
			return 0, fmt.Errorf("bpf: undefined label %q", name)
		}
		d := target - at - 1
		if d < 0 || d > 255 {
			return 0, fmt.Errorf("bpf: jump to %q out of range (%d)", name, d)
		}
		return uint8(d), nil
	}
	for i, in := range a.insns {
		f := in.f
		var err error
		if f.Jt, err = offset(i, in.jt); err != nil {
			return nil, err
		}
		if f.Jf, err = offset(i, in.jf); err != nil {
			return nil, err
		}
		out[i] = f
	}
	if len(out) > unix.BPF_MAXINSNS {
		return nil, fmt.Errorf("bpf: program of %d instructions is too long", len(out))
	}
	return out, nil
}
