package syscalls

import (
	"encoding/binary"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// runBPF interprets the subset of classic BPF the filter generator emits,
// over a seccomp_data built from nr, arch and args.
func runBPF(t *testing.T, prog []unix.SockFilter, arch uint32, nr int32, args [6]uint64) uint32 {
	t.Helper()
	var data [64]byte
	binary.NativeEndian.PutUint32(data[0:], uint32(nr))
	binary.NativeEndian.PutUint32(data[4:], arch)
	for i, a := range args {
		binary.NativeEndian.PutUint64(data[16+8*i:], a)
	}
	var acc uint32
	for pc, steps := 0, 0; pc < len(prog); pc++ {
		if steps++; steps > len(prog) {
			t.Fatalf("filter loops")
		}
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			if int(in.K)+4 > len(data) {
				t.Fatalf("load out of seccomp_data at %d", in.K)
			}
			acc = binary.NativeEndian.Uint32(data[in.K:])
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			if acc == in.K {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		default:
			t.Fatalf("unexpected BPF opcode %#x at %d", in.Code, pc)
		}
	}
	t.Fatalf("filter fell off its end")
	return 0
}

func trace(t Trap) uint32 { return unix.SECCOMP_RET_TRACE | uint32(t) }

func TestFilterActions(t *testing.T) {
	prog, err := Filter(Rules())
	if err != nil {
		t.Fatal(err)
	}
	type tc struct {
		arch uint32
		nr   int32
		arg0 uint64
		want uint32
	}
	var cases []tc
	for _, r := range Rules() {
		arg0 := uint64(0)
		if r.Arg0 != nil {
			arg0 = uint64(*r.Arg0)
			// The same syscall with another first argument runs freely,
			// and only the low 32 bits of the argument count.
			cases = append(cases,
				tc{r.Arch, int32(r.Nr), arg0 + 1, unix.SECCOMP_RET_ALLOW},
				tc{r.Arch, int32(r.Nr), arg0 | 1<<32, trace(r.Trap)})
		}
		cases = append(cases, tc{r.Arch, int32(r.Nr), arg0, trace(r.Trap)})
		// Neighbouring syscall numbers run freely.
		cases = append(cases, tc{r.Arch, int32(r.Nr) + 1, arg0, unix.SECCOMP_RET_ALLOW},
			tc{r.Arch, int32(r.Nr) - 1, arg0, unix.SECCOMP_RET_ALLOW})
	}
	// An architecture the table does not know is killed: fail closed.
	cases = append(cases, tc{0x1234, 42, 0, unix.SECCOMP_RET_KILL_PROCESS})
	for _, c := range cases {
		t.Run(fmt.Sprintf("arch%#x/nr%d/arg%#x", c.arch, c.nr, c.arg0), func(t *testing.T) {
			got := runBPF(t, prog, c.arch, c.nr, [6]uint64{c.arg0})
			if got != c.want {
				t.Errorf("action %#x, want %#x", got, c.want)
			}
		})
	}
}

// TestFilterOnlyArgsInsideTrappedBranches checks the property that keeps
// untrapped syscalls on the kernel's cached fast path: on the way to an
// ALLOW for any syscall number that is not in the table, the filter never
// reads an argument.
func TestFilterOnlyArgsInsideTrappedBranches(t *testing.T) {
	prog, err := Filter(Rules())
	if err != nil {
		t.Fatal(err)
	}
	trapped := map[[2]uint32]bool{}
	arches := map[uint32]bool{}
	for _, r := range Rules() {
		trapped[[2]uint32{r.Arch, r.Nr}] = true
		arches[r.Arch] = true
	}
	for arch := range arches {
		for nr := uint32(0); nr < 600; nr++ {
			if trapped[[2]uint32{arch, nr}] {
				continue
			}
			// Poison the arguments: if the filter read them, a
			// trapped verdict would depend on them.
			for _, arg := range []uint64{0, 3, 1<<32 | 3, ^uint64(0)} {
				if got := runBPF(t, prog, arch, int32(nr), [6]uint64{arg, arg, arg, arg, arg, arg}); got != unix.SECCOMP_RET_ALLOW {
					t.Fatalf("arch %#x nr %d arg %#x: action %#x, want ALLOW", arch, nr, arg, got)
				}
			}
		}
	}
}

func TestFilterRejectsReservedTrap(t *testing.T) {
	if _, err := Filter([]Rule{{Arch: 1, Nr: 2}}); err == nil {
		t.Fatal("a rule with trap 0 was accepted")
	}
}

func TestTrapABI(t *testing.T) {
	for trap, want := range map[Trap]ABI{
		TrapConnect: ABINative, TrapConnectX32: ABINative,
		TrapConnectCompat: ABICompat32, TrapSocketcallConnect: ABICompat32,
	} {
		if got := trap.ABI(); got != want {
			t.Errorf("%v.ABI() = %v, want %v", trap, got, want)
		}
	}
}
