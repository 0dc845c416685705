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
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			acc &= in.K
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		default:
			t.Fatalf("unexpected BPF opcode %#x at %d", in.Code, pc)
		}
	}
	t.Fatalf("filter fell off its end")
	return 0
}

// action is what the filter returns for a call rule r stops.
func action(r Rule) uint32 {
	if r.Notify {
		return unix.SECCOMP_RET_USER_NOTIF | uint32(r.Trap)
	}
	return unix.SECCOMP_RET_TRACE | uint32(r.Trap)
}

// TestFilterActions runs both filters chainrun loads (connect to the
// listener, or every trap to the tracer) in a BPF interpreter over every
// rule, its argument conditions and its neighbours.
func TestFilterActions(t *testing.T) {
	for _, table := range []struct {
		name  string
		rules []Rule
	}{{"trace", Rules()}, {"notify", NotifyRules()}} {
		t.Run(table.name, func(t *testing.T) { testFilterActions(t, table.rules) })
	}
}

func testFilterActions(t *testing.T, rules []Rule) {
	prog, err := Filter(rules)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("filter: %d instructions for %d rules", len(prog), len(rules))
	type tc struct {
		name string
		arch uint32
		nr   int32
		args [6]uint64
		want uint32
	}
	trappedNr := map[[2]uint32]bool{}
	socketcalls := map[[2]uint32]bool{} // arch, SYS_* value
	for _, r := range rules {
		trappedNr[[2]uint32{r.Arch, r.Nr}] = true
		if r.Arg0 != nil {
			socketcalls[[2]uint32{r.Arch, *r.Arg0}] = true
		}
	}
	var cases []tc
	for _, r := range rules {
		var args [6]uint64
		if r.Arg0 != nil {
			args[0] = uint64(*r.Arg0)
			// Only the low 32 bits of the argument count.
			high := args
			high[0] |= 1 << 32
			cases = append(cases, tc{r.Trap.String() + "/arg0-high-bits", r.Arch, int32(r.Nr), high, action(r)})
			// A socket call the table does not trap runs freely.
			for _, other := range []uint64{args[0] + 1, args[0] - 1} {
				if !socketcalls[[2]uint32{r.Arch, uint32(other)}] {
					o := args
					o[0] = other
					cases = append(cases, tc{fmt.Sprintf("%s/arg0=%d", r.Trap, other), r.Arch, int32(r.Nr), o, unix.SECCOMP_RET_ALLOW})
				}
			}
		}
		for i, m := range r.Args {
			args[m.Index] = uint64(m.Value) | uint64(^m.Mask&0x80) // bits outside the mask do not count
			// The call with this argument different runs freely, unless
			// another rule of the number takes it.
			other := args
			other[m.Index] = uint64(m.Value ^ m.Mask&0x7)
			if i == len(r.Args)-1 && !anyRuleMatches(rules, r.Arch, r.Nr, other) {
				cases = append(cases, tc{fmt.Sprintf("%s/arg%d=%#x", r.Trap, m.Index, other[m.Index]), r.Arch, int32(r.Nr), other, unix.SECCOMP_RET_ALLOW})
			}
		}
		if r.NonZero != nil {
			// Without the address the call runs freely; either half of
			// a 64-bit pointer makes it stop.
			cases = append(cases, tc{r.Trap.String() + "/no-address", r.Arch, int32(r.Nr), args, unix.SECCOMP_RET_ALLOW})
			low, high := args, args
			low[*r.NonZero] = 0x7ffc1000
			high[*r.NonZero] = 1 << 40
			cases = append(cases, tc{r.Trap.String() + "/address-high", r.Arch, int32(r.Nr), high, action(r)})
			args = low
		}
		cases = append(cases, tc{r.Trap.String(), r.Arch, int32(r.Nr), args, action(r)})
		// Neighbouring syscall numbers that are not trapped run freely.
		for _, nr := range []uint32{r.Nr + 1, r.Nr - 1} {
			if !trappedNr[[2]uint32{r.Arch, nr}] {
				cases = append(cases, tc{fmt.Sprintf("%s/nr%d", r.Trap, nr), r.Arch, int32(nr), args, unix.SECCOMP_RET_ALLOW})
			}
		}
	}
	// An architecture the table does not know is killed: fail closed.
	cases = append(cases, tc{"unknown-arch", 0x1234, 42, [6]uint64{}, unix.SECCOMP_RET_KILL_PROCESS})
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/arch%#x", c.name, c.arch), func(t *testing.T) {
			got := runBPF(t, prog, c.arch, c.nr, c.args)
			if got != c.want {
				t.Errorf("nr %d args %#x: action %#x, want %#x", c.nr, c.args, got, c.want)
			}
		})
	}
}

// anyRuleMatches reports whether a rule with Args of (arch, nr) takes args.
func anyRuleMatches(rules []Rule, arch, nr uint32, args [6]uint64) bool {
	for _, r := range rules {
		if r.Arch != arch || r.Nr != nr || len(r.Args) == 0 {
			continue
		}
		ok := true
		for _, m := range r.Args {
			ok = ok && uint32(args[m.Index])&m.Mask == m.Value
		}
		if ok {
			return true
		}
	}
	return false
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

func TestTrapNames(t *testing.T) {
	for _, c := range []struct {
		trap    Trap
		name    string
		ptr     int
		receive bool
	}{
		{TrapConnect, "connect", 8, false},
		{MakeTrap(CallSendto, VariantCompat), "sendto(compat32)", 4, false},
		{MakeTrap(CallRecvmsg, VariantSocketcall), "socketcall(recvmsg)", 4, true},
		{MakeTrap(CallRecvmmsg, VariantX32), "recvmmsg(x32)", 4, true},
		{MakeTrap(CallSendmmsg, VariantNative), "sendmmsg", 8, false},
		{MakeTrap(CallRecvfrom, VariantNative), "recvfrom", 8, true},
	} {
		if got := c.trap.String(); got != c.name {
			t.Errorf("String() = %q, want %q", got, c.name)
		}
		if got := c.trap.PointerSize(); got != c.ptr {
			t.Errorf("%s: PointerSize() = %d, want %d", c.name, got, c.ptr)
		}
		if got := c.trap.Call().Receives(); got != c.receive {
			t.Errorf("%s: Receives() = %v, want %v", c.name, got, c.receive)
		}
	}
	// Every rule's trap decodes back to a known call.
	for _, r := range Rules() {
		if c := r.Trap.Call(); c >= callCount || callNames[c] == "" || r.Trap == 0 {
			t.Errorf("rule for nr %d: trap %#x has no call", r.Nr, uint16(r.Trap))
		}
	}
}

// TestNotifyRules checks which calls go to the listener: the native
// connect and sends (their arguments are in the notification; the compat
// ABIs and socketcall keep the ptrace path, which reads them from registers
// and memory, and receives stop so that the tracer can follow them to
// their exit), and that NotifyTrap names them.
func TestNotifyRules(t *testing.T) {
	rules := NotifyRules()
	want := map[Trap]bool{TrapConnect: true, MakeTrap(CallSendto, VariantNative): true,
		MakeTrap(CallSendmsg, VariantNative): true, MakeTrap(CallSendmmsg, VariantNative): true}
	notified := map[Trap]bool{}
	for _, r := range rules {
		if !r.Notify {
			continue
		}
		notified[r.Trap] = true
		if !want[r.Trap] {
			t.Errorf("%v goes to the listener; it should stop for ptrace", r.Trap)
		}
		if trap, ok := NotifyTrap(rules, r.Arch, r.Nr); !ok || trap != r.Trap {
			t.Errorf("NotifyTrap(%#x, %d) = %v, %v; want %v", r.Arch, r.Nr, trap, ok, r.Trap)
		}
	}
	for trap := range want {
		if !notified[trap] {
			t.Errorf("%v does not go to the listener", trap)
		}
	}
	for _, r := range Rules() {
		if r.Notify {
			t.Errorf("Rules() has %v going to a listener", r.Trap)
		}
		if !want[r.Trap] {
			if _, ok := NotifyTrap(rules, r.Arch, r.Nr); ok && r.Arg0 == nil {
				t.Errorf("NotifyTrap names %v, which stops for ptrace", r.Trap)
			}
		}
	}
}

// TestWithoutListener: the filter derived from the listener's equals the
// one assembled from the rules without a listener.
func TestWithoutListener(t *testing.T) {
	withListener, err := Filter(NotifyRules())
	if err != nil {
		t.Fatal(err)
	}
	want, err := Filter(Rules())
	if err != nil {
		t.Fatal(err)
	}
	got := WithoutListener(withListener)
	if len(got) != len(want) {
		t.Fatalf("%d instructions, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("instruction %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if withListener[0] == (unix.SockFilter{}) || &withListener[0] == &got[0] {
		t.Error("WithoutListener must copy")
	}
}
