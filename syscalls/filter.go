package syscalls

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Rule is one row of the filter table: syscall Nr of architecture Arch stops
// the tracee with Trap. When Arg0 is set, only calls whose first argument's
// low 32 bits equal *Arg0 stop. When NonZero is set, only calls whose
// argument *NonZero (a pointer, all 64 bits) is not zero stop: sendto and
// recvfrom with an address, not the plain send/recv a stream uses.
type Rule struct {
	Arch    uint32
	Nr      uint32
	Arg0    *uint32
	NonZero *int
	// Args must all match for the call to stop (socket(2) of a raw or
	// packet family, not the TCP and UDP sockets of every connection).
	Args []ArgMatch
	Trap Trap
	// Notify hands the call to the filter's listener (seccomp user
	// notification) instead of stopping the tracee for the tracer.
	Notify bool
}

// ArgMatch is a condition on the low 32 bits of argument Index:
// arg & Mask == Value.
type ArgMatch struct {
	Index       int
	Mask, Value uint32
}

// Rules is the table the filter is generated from (see rules_*.go): for
// each syscall ABI of this architecture, the calls that must stop.
func Rules() []Rule { return archRules() }

// seccomp_data offsets (include/uapi/linux/seccomp.h). The low 32 bits of
// args[0] sit at offset 16 on the little-endian machines we build for.
const (
	offNr      = 0
	offArch    = 4
	offArgs    = 16
	offArg0Low = offArgs
)

// Filter turns a rule table into a classic BPF program for seccomp. The
// program dispatches on the architecture, then on the syscall number, and
// looks at an argument only inside the branch of a trapped call, so every
// syscall that is not trapped is an argument-independent ALLOW: the kernel
// (≥ 5.11) caches that verdict per syscall number and skips the filter.
// An architecture the table does not know is killed: fail closed.
func Filter(rules []Rule) ([]unix.SockFilter, error) {
	// At most ten instructions a rule, plus the dispatch: sized once.
	a := asm{insns: make([]insn, 0, 10*len(rules)+8), labels: make(map[label]int, 2*len(rules)+8)}
	var arches []uint32
	byArch := map[uint32][]Rule{}
	for _, r := range rules {
		if r.Trap == 0 {
			return nil, fmt.Errorf("filter rule for syscall %d: trap id 0 is reserved", r.Nr)
		}
		if r.NonZero != nil && (*r.NonZero < 0 || *r.NonZero > 5) {
			return nil, fmt.Errorf("filter rule for syscall %d: no argument %d", r.Nr, *r.NonZero)
		}
		for _, m := range r.Args {
			if m.Index < 0 || m.Index > 5 {
				return nil, fmt.Errorf("filter rule for syscall %d: no argument %d", r.Nr, m.Index)
			}
		}
		if _, ok := byArch[r.Arch]; !ok {
			arches = append(arches, r.Arch)
		}
		byArch[r.Arch] = append(byArch[r.Arch], r)
	}
	a.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offArch)
	for i, arch := range arches {
		a.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, arch, label{kind: labelArch, arch: i}, noLabel)
	}
	a.stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_KILL_PROCESS)
	for i, arch := range arches {
		// Rules of one syscall number form a group: each checks its
		// arguments and, when they do not match, hands over to the next
		// rule of the group (socketcall has one rule per socket call).
		var nrs []uint32
		groups := map[uint32][]Rule{}
		for _, r := range byArch[arch] {
			if _, ok := groups[r.Nr]; !ok {
				nrs = append(nrs, r.Nr)
			}
			groups[r.Nr] = append(groups[r.Nr], r)
		}
		a.label(label{kind: labelArch, arch: i})
		a.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offNr)
		for _, nr := range nrs {
			a.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, nr, label{kind: labelRule, arch: i, nr: nr}, noLabel)
		}
		a.stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ALLOW)
		for _, nr := range nrs {
			group := groups[nr]
			for j, r := range group {
				a.label(label{kind: labelRule, arch: i, nr: nr, rule: j})
				next := label{kind: labelAllow}
				if j+1 < len(group) {
					next = label{kind: labelRule, arch: i, nr: nr, rule: j + 1}
				}
				if r.Arg0 != nil {
					a.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, offArg0Low)
					a.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, *r.Arg0, noLabel, next)
				}
				for _, m := range r.Args {
					a.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, uint32(offArgs+8*m.Index))
					if m.Mask != ^uint32(0) {
						a.stmt(unix.BPF_ALU|unix.BPF_AND|unix.BPF_K, m.Mask)
					}
					a.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, m.Value, noLabel, next)
				}
				if r.NonZero != nil {
					// Stop when either half of the 64-bit argument is set.
					trap := label{kind: labelTrap, arch: i, nr: nr, rule: j}
					off := uint32(offArgs + 8**r.NonZero)
					a.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, off)
					a.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, 0, noLabel, trap)
					a.stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, off+4)
					a.jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, 0, next, noLabel)
					a.label(trap)
				}
				if r.Notify {
					// The kernel ignores the data of USER_NOTIF; it
					// carries the trap for WithoutListener.
					a.stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_USER_NOTIF|uint32(r.Trap))
				} else {
					a.stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_TRACE|uint32(r.Trap))
				}
			}
		}
	}
	a.label(label{kind: labelAllow})
	a.stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_ALLOW)
	return a.assemble()
}

// WithoutListener returns a copy of prog, a filter Filter made from rules
// that send some calls to a listener, in which those calls stop for the
// tracer instead (SECCOMP_RET_TRACE with their trap): the filter of the
// same rules without Notify, made without assembling it again.
func WithoutListener(prog []unix.SockFilter) []unix.SockFilter {
	out := append([]unix.SockFilter(nil), prog...)
	for i, in := range out {
		if in.Code == unix.BPF_RET|unix.BPF_K && in.K&unix.SECCOMP_RET_ACTION_FULL == unix.SECCOMP_RET_USER_NOTIF {
			out[i].K = unix.SECCOMP_RET_TRACE | in.K&unix.SECCOMP_RET_DATA
		}
	}
	return out
}

// asm is a tiny classic-BPF assembler with forward labels.
type asm struct {
	insns  []insn
	labels map[label]int
}

type insn struct {
	f      unix.SockFilter
	jt, jf label // noLabel means fall through
}

// label names a place in the program: the branch of an architecture (by
// index), a rule of a syscall number's group, a rule's trap, or the shared
// ALLOW. Labels are values, not formatted names: every run of chainrun
// builds its filters, and this keeps that to a few microseconds.
type label struct {
	kind       labelKind
	arch, rule int
	nr         uint32
}

type labelKind uint8

const (
	labelNone labelKind = iota
	labelArch
	labelRule
	labelTrap
	labelAllow
)

var noLabel = label{}

func (a *asm) stmt(code uint16, k uint32) {
	a.insns = append(a.insns, insn{f: unix.SockFilter{Code: code, K: k}})
}

func (a *asm) jump(code uint16, k uint32, jt, jf label) {
	a.insns = append(a.insns, insn{f: unix.SockFilter{Code: code, K: k}, jt: jt, jf: jf})
}

func (a *asm) label(name label) {
	if a.labels == nil {
		a.labels = map[label]int{}
	}
	a.labels[name] = len(a.insns)
}

func (a *asm) assemble() ([]unix.SockFilter, error) {
	out := make([]unix.SockFilter, len(a.insns))
	offset := func(at int, name label) (uint8, error) {
		if name == noLabel {
			return 0, nil
		}
		target, ok := a.labels[name]
		if !ok {
			return 0, fmt.Errorf("bpf: undefined label %+v", name)
		}
		d := target - at - 1
		if d < 0 || d > 255 {
			return 0, fmt.Errorf("bpf: jump to %+v out of range (%d)", name, d)
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
