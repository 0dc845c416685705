package syscalls

import "fmt"

// Call is the socket call a trap stopped: connect, or one of the calls
// that carry datagrams with an address (the DNS path, and the leak paths
// around connect).
type Call uint8

// The trapped calls.
const (
	CallConnect Call = iota + 1
	CallSendto
	CallSendmsg
	CallSendmmsg
	CallRecvfrom
	CallRecvmsg
	CallRecvmmsg
	// CallSocket is socket(2) of a raw or packet socket (the filter stops
	// no other).
	CallSocket
	// CallIoUringSetup is io_uring_setup(2): io_uring's connect and send
	// never pass through seccomp.
	CallIoUringSetup
)

// callCount sizes the tables indexed by Call (arrays, not maps: built
// into the binary, nothing to do at start-up).
const callCount = CallIoUringSetup + 1

var callNames = [callCount]string{
	CallConnect: "connect", CallSendto: "sendto", CallSendmsg: "sendmsg", CallSendmmsg: "sendmmsg",
	CallRecvfrom: "recvfrom", CallRecvmsg: "recvmsg", CallRecvmmsg: "recvmmsg",
	CallSocket: "socket", CallIoUringSetup: "io_uring_setup",
}

// String is the syscall's name.
func (c Call) String() string {
	if c < callCount && callNames[c] != "" {
		return callNames[c]
	}
	return fmt.Sprintf("call(%d)", uint8(c))
}

// Receives reports whether the call receives (its source addresses are
// written by the kernel at the syscall's exit).
func (c Call) Receives() bool { return c >= CallRecvfrom && c <= CallRecvmmsg }

// Variant is how a program reached a call: the native ABI, the 32-bit
// compat ABI, i386 socketcall (arguments in memory), or x32.
type Variant uint8

// The variants.
const (
	VariantNative Variant = iota
	VariantCompat
	VariantSocketcall
	VariantX32
)

// Trap names a syscall the filter stops at: the call in its low byte, the
// variant in its high byte. The filter hands it to the tracer in
// SECCOMP_RET_DATA, so the tracer knows the ABI and the call without
// guessing from registers.
type Trap uint16

// MakeTrap returns the trap id of call c reached through variant v.
func MakeTrap(c Call, v Variant) Trap { return Trap(uint16(v)<<8 | uint16(c)) }

// The connect traps.
var (
	// TrapConnect is connect(2) through the native ABI.
	TrapConnect = MakeTrap(CallConnect, VariantNative)
	// TrapConnectCompat is connect(2) through the 32-bit compat ABI
	// (i386 int 0x80 on amd64, AArch32 on arm64).
	TrapConnectCompat = MakeTrap(CallConnect, VariantCompat)
	// TrapSocketcallConnect is socketcall(SYS_CONNECT, args) through the
	// i386 ABI; the three arguments live in tracee memory.
	TrapSocketcallConnect = MakeTrap(CallConnect, VariantSocketcall)
	// TrapConnectX32 is connect(2) through the x32 ABI.
	TrapConnectX32 = MakeTrap(CallConnect, VariantX32)
)

// Call is the trapped call.
func (t Trap) Call() Call { return Call(t & 0xff) }

// Variant is the way the call was made.
func (t Trap) Variant() Variant { return Variant(t >> 8) }

// String names the trap for logs: "connect", "sendto(compat32)",
// "socketcall(recvmsg)", "connect(x32)".
func (t Trap) String() string {
	switch t.Variant() {
	case VariantNative:
		return t.Call().String()
	case VariantCompat:
		return t.Call().String() + "(compat32)"
	case VariantSocketcall:
		return "socketcall(" + t.Call().String() + ")"
	case VariantX32:
		return t.Call().String() + "(x32)"
	}
	return fmt.Sprintf("trap(%#x)", uint16(t))
}

// ABI returns the calling convention the trapped syscall's arguments follow.
func (t Trap) ABI() ABI {
	switch t.Variant() {
	case VariantCompat, VariantSocketcall:
		return ABICompat32
	}
	return ABINative // x32 passes arguments in the native registers
}

// PointerSize is the size of a pointer (and of size_t) in the program's
// structures (msghdr, iovec, mmsghdr): 4 for the compat ABIs and x32.
func (t Trap) PointerSize() int {
	if t.Variant() == VariantNative {
		return 8
	}
	return 4
}

// ABI is a syscall calling convention.
type ABI uint8

// The ABIs a tracee may use.
const (
	ABINative ABI = iota
	ABICompat32
)

// trappedCalls are the calls the filter stops, in table order.
var trappedCalls = []Call{CallConnect, CallSendto, CallSendmsg, CallSendmmsg, CallRecvfrom, CallRecvmsg, CallRecvmmsg, CallSocket, CallIoUringSetup}

// Address families and the socket type checked by the socket rules.
const (
	afInet   = 2
	afInet6  = 10
	afPacket = 17
	sockRaw  = 3
	sockType = 0xf // SOCK_TYPE_MASK: the type without SOCK_NONBLOCK|SOCK_CLOEXEC
)

// socketMatches are the sockets whose creation stops: every packet
// socket, and raw IPv4 and IPv6 sockets.
var socketMatches = [][]ArgMatch{
	{{Index: 0, Mask: ^uint32(0), Value: afPacket}},
	{{Index: 0, Mask: ^uint32(0), Value: afInet}, {Index: 1, Mask: sockType, Value: sockRaw}},
	{{Index: 0, Mask: ^uint32(0), Value: afInet6}, {Index: 1, Mask: sockType, Value: sockRaw}},
}

// callRules returns the rules of call c for syscall nr of arch: one rule,
// or for socket one per kind of socket that stops.
func callRules(arch, nr uint32, c Call, v Variant) []Rule {
	if c == CallSocket {
		var rules []Rule
		for _, m := range socketMatches {
			rules = append(rules, Rule{Arch: arch, Nr: nr, Args: m, Trap: MakeTrap(c, v)})
		}
		return rules
	}
	return []Rule{{Arch: arch, Nr: nr, NonZero: addressArg(c), Trap: MakeTrap(c, v)}}
}

// addressArg is the argument that must be set for a call to stop: sendto
// and recvfrom stop only with an address (argument 4), so the send() and
// recv() of a stream, which libcs implement with them, run freely.
func addressArg(c Call) *int {
	if c == CallSendto || c == CallRecvfrom {
		i := 4
		return &i
	}
	return nil
}
