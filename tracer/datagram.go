package tracer

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chainrun/chainrun/syscalls"
)

// Bounds on what the tracer reads of a program's send: a vector of at most
// maxMessages messages (UIO_MAXIOV, the kernel's own limit), each of at
// most maxIovecs buffers and maxDatagram bytes (the largest UDP payload).
const (
	maxMessages = 1024
	maxIovecs   = 1024
	maxDatagram = 65535
)

// outMessage is one message of a trapped send.
type outMessage struct {
	dst     netip.AddrPort // invalid: no address (a connected socket)
	family  uint16         // of the address the program gave
	iov     []syscalls.Iovec
	size    int
	verdict Verdict
	// hdr is the msghdr of a sendmsg/sendmmsg message without an
	// address, whose buffers are read only if the tracer sends it.
	hdr *syscalls.Msghdr
}

// onSend handles sendto, sendmsg and sendmmsg that carry a destination
// address (see planSend), stopped for ptrace.
func (l *loop) onSend(ctx context.Context, tid int, th *thread, trap syscalls.Trap, regs *syscalls.Regs, a sysArgs, start time.Time) {
	lay := syscalls.LayoutFor(trap)
	msgs, ok := readOutMessages(tid, trap, lay, a)
	if !ok {
		l.resume(tid, 0) // nothing with an address, or unreadable: the kernel answers
		return
	}
	tgid, sock, pidfd, err := l.socketOf(tid, th, a.fd())
	if err != nil {
		l.resume(tid, 0)
		return
	}
	call := &Call{Tid: tid, Pid: tgid, Trap: trap, Fd: a.fd(), Socket: sock, Start: start, ProcessFd: pidfd}
	plan := planSend(l.t.Handler, l.tasks, call, lay, a, msgs)
	switch {
	case plan.kernel:
		l.callDone(call)
		l.resume(tid, 0)
	case plan.fastOpen != nil:
		l.negotiate(ctx, th, call, regs, plan.fastOpen) // the call is handed over
	default:
		l.callDone(call)
		l.finish(tid, tgid, call.Fd, regs, plan.res)
	}
}

// sendPlan is what a trapped send comes to.
type sendPlan struct {
	// kernel: the kernel sends as the program asked.
	kernel bool
	// res: otherwise, what the program sees (chainrun sent what it
	// redirected, or refused).
	res Result
	// fastOpen, when not nil: a TCP Fast Open whose connect the Handler's
	// Connect must negotiate; these bytes are sent once connected.
	fastOpen []byte
}

// planSend decides a trapped send of msgs on call.Socket (call.Info is
// filled in): every datagram with an address goes to the DatagramHandler;
// when all may go where the program asked, the kernel does the send,
// otherwise chainrun sends them itself on the program's socket and the
// syscall is answered with what was sent. A TCP Fast Open (sendto or
// sendmsg with MSG_FASTOPEN on a fresh stream socket: a connect and a send
// in one call) goes through the chain like a connect: Route may answer it
// at once, or it must be negotiated. Never a direct SYN with data.
func planSend(h Handler, ts *tasks, call *Call, lay syscalls.Layout, a sysArgs, msgs []outMessage) sendPlan {
	info, err := syscalls.InspectSocket(call.Socket)
	if err != nil {
		return sendPlan{kernel: true} // not a socket: ENOTSOCK from the kernel
	}
	call.Info = info
	trap := call.Trap
	if info.Type == unix.SOCK_STREAM && sendFlags(trap, a)&unix.MSG_FASTOPEN != 0 && info.Fresh {
		return planFastOpen(h, call, msgs)
	}
	dh, ok := h.(DatagramHandler)
	if !ok {
		return sendPlan{kernel: true}
	}
	allPass := true
	for i := range msgs {
		m := &msgs[i]
		if !m.dst.IsValid() {
			continue
		}
		m.verdict = dh.Datagram(&Datagram{Tid: call.Tid, Pid: call.Pid, Trap: trap, Fd: call.Fd, Info: info, Start: call.Start, Dst: m.dst, Size: m.size, Notified: call.Notified})
		if m.verdict.kind != verdictPass {
			allPass = false
		}
	}
	if allPass {
		return sendPlan{kernel: true}
	}
	ret, redirected := sendMessages(call.Tid, call.Socket, info.Domain, trap, lay, a, msgs)
	if redirected {
		ts.watch(call.Pid, call.Fd)
	}
	return sendPlan{res: Return(ret)}
}

// sendFlags is a send call's flags argument.
func sendFlags(trap syscalls.Trap, a sysArgs) uint64 {
	if trap.Call() == syscalls.CallSendmsg {
		return a[2]
	}
	return a[3]
}

// maxFastOpen bounds the data the tracer sends after a TCP Fast Open
// connect: what fits is sent, and the program sees a short write.
const maxFastOpen = 64 << 10

// planFastOpen plans a TCP Fast Open (see planSend): call is the connect
// it amounts to, without its destination yet.
func planFastOpen(h Handler, call *Call, msgs []outMessage) sendPlan {
	if call.Trap.Variant() == syscalls.VariantSocketcall || call.Trap.Call() == syscalls.CallSendmmsg || len(msgs) != 1 || !msgs[0].dst.IsValid() {
		return sendPlan{res: Fail(syscall.EOPNOTSUPP)}
	}
	m := msgs[0]
	if m.size > maxFastOpen {
		m.iov = clampIovecs(m.iov, maxFastOpen)
		m.size = maxFastOpen
	}
	data, err := gather(call.Tid, m)
	if err != nil {
		return sendPlan{res: Fail(errnoOf(err, syscall.EFAULT))}
	}
	call.Dst = m.dst
	if res, ok := h.Route(call); ok {
		if ret, em := res.Emulated(); em && ret >= 0 {
			// A connect answered without the network cannot carry
			// data: refuse rather than guess.
			res = Fail(syscall.EOPNOTSUPP)
		}
		if !res.emulate {
			return sendPlan{kernel: true} // a direct route: the kernel does it
		}
		return sendPlan{res: res}
	}
	if data == nil {
		data = []byte{}
	}
	return sendPlan{fastOpen: data}
}

// clampIovecs keeps the first n bytes of iov.
func clampIovecs(iov []syscalls.Iovec, n uint64) []syscalls.Iovec {
	var out []syscalls.Iovec
	for _, v := range iov {
		if n == 0 {
			break
		}
		v.Len = min(v.Len, n)
		n -= v.Len
		out = append(out, v)
	}
	return out
}

// sendConnected finishes a TCP Fast Open: when the connect res reports
// worked (0, or EINPROGRESS for a non-blocking socket, already connected
// through the chain), data is sent on sock and the syscall returns how
// much was; otherwise the connect's error is the send's.
func sendConnected(sock int, res Result, data []byte) Result {
	ret, em := res.Emulated()
	if !em || (ret != 0 && ret != -int64(syscall.EINPROGRESS)) {
		return res
	}
	if len(data) == 0 {
		return Return(0)
	}
	n, err := unix.SendmsgN(sock, data, nil, nil, unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT)
	switch {
	case err == unix.EAGAIN:
		return Fail(syscall.EINPROGRESS) // connected; nothing fitted yet
	case err != nil:
		return Fail(errnoOf(err, syscall.EIO))
	}
	return Return(int64(n))
}

// readOutMessages reads the messages of a trapped send. ok is false when
// none has an inet destination (the kernel may do the send as it is) or
// the program's memory cannot be read (the kernel answers EFAULT).
func readOutMessages(tid int, trap syscalls.Trap, lay syscalls.Layout, a sysArgs) ([]outMessage, bool) {
	var msgs []outMessage
	switch trap.Call() {
	case syscalls.CallSendto:
		msgs = []outMessage{{iov: []syscalls.Iovec{{Base: a[1], Len: a[2]}}}}
		sa, err := readSockaddr(tid, a[4], a[5])
		if err != nil {
			return nil, false
		}
		msgs[0].dst, msgs[0].family = dest(sa), sa.Family
	case syscalls.CallSendmsg:
		m, ok := readMessage(tid, lay, a[1])
		if !ok {
			return nil, false
		}
		msgs = []outMessage{m}
	case syscalls.CallSendmmsg:
		n := min(a[2]&0xffffffff, maxMessages)
		if n == 0 {
			return nil, false
		}
		for i := uint64(0); i < n; i++ {
			m, ok := readMessage(tid, lay, a[1]+i*uint64(lay.MmsghdrSize()))
			if !ok {
				if i == 0 {
					return nil, false
				}
				break // the kernel sends those before the bad one
			}
			msgs = append(msgs, m)
		}
	default:
		return nil, false
	}
	for _, m := range msgs {
		if m.dst.IsValid() {
			return msgs, true
		}
	}
	return nil, false
}

// dest is a decoded sockaddr's destination, invalid unless IPv4 or IPv6.
func dest(sa syscalls.Sockaddr) netip.AddrPort {
	if !sa.IsInet() {
		return netip.AddrPort{}
	}
	return sa.Dest()
}

// readMessage reads the msghdr at addr, its address and its iovecs.
func readMessage(tid int, lay syscalls.Layout, addr uint64) (outMessage, bool) {
	buf := make([]byte, lay.MsghdrSize())
	if n, err := syscalls.ReadMem(tid, addr, buf); err != nil || n != len(buf) {
		return outMessage{}, false
	}
	h, _ := lay.DecodeMsghdr(buf)
	var m outMessage
	if h.Name == 0 || h.NameLen == 0 {
		// No address (a connected socket, the usual sendmsg of a
		// stream): nothing to decide, and its buffers are read only if
		// the tracer ends up sending it.
		m.hdr = &h
		return m, true
	}
	sa, err := readSockaddr(tid, h.Name, uint64(h.NameLen))
	if err != nil {
		return outMessage{}, false
	}
	m.dst, m.family = dest(sa), sa.Family
	if m.iov, err = readIovecs(tid, lay, h); err != nil {
		return outMessage{}, false
	}
	for _, v := range m.iov {
		m.size += int(min(v.Len, maxDatagram+1))
	}
	return m, true
}

// readIovecs reads a msghdr's iovec array.
func readIovecs(tid int, lay syscalls.Layout, h syscalls.Msghdr) ([]syscalls.Iovec, error) {
	if h.IovLen > maxIovecs {
		return nil, syscall.EMSGSIZE
	}
	if h.IovLen == 0 {
		return nil, nil
	}
	vb := make([]byte, int(h.IovLen)*lay.IovecSize())
	if n, err := syscalls.ReadMem(tid, h.Iov, vb); err != nil || n != len(vb) {
		return nil, syscall.EFAULT
	}
	return lay.DecodeIovecs(vb), nil
}

// sendMessages does a send the tracer took over, on sock (the program's
// socket): each message goes where its verdict says, in order, until one
// fails. It returns what the syscall returns (bytes for sendto and
// sendmsg, messages for sendmmsg, whose msg_len fields it fills) and
// whether a message was redirected.
func sendMessages(tid, sock, family int, trap syscalls.Trap, lay syscalls.Layout, a sysArgs, msgs []outMessage) (int64, bool) {
	redirected := false
	sent := 0
	var lastBytes int
	var failure syscall.Errno
	for i, m := range msgs {
		if m.verdict.kind == verdictRefuse {
			failure = m.verdict.errno
			break
		}
		if m.hdr != nil {
			iov, err := readIovecs(tid, lay, *m.hdr)
			if err != nil {
				failure = errnoOf(err, syscall.EFAULT)
				break
			}
			m.iov = iov
			for _, v := range iov {
				m.size += int(min(v.Len, maxDatagram+1))
			}
		}
		data, err := gather(tid, m)
		if err != nil {
			failure = errnoOf(err, syscall.EFAULT)
			break
		}
		to := m.dst
		if m.verdict.kind == verdictRedirect {
			to = m.verdict.to
			redirected = true
		}
		if err := sendOne(sock, family, data, to); err != nil {
			failure = errnoOf(err, syscall.EIO)
			break
		}
		lastBytes = len(data)
		if trap.Call() == syscalls.CallSendmmsg {
			var b [4]byte
			binary.NativeEndian.PutUint32(b[:], uint32(len(data)))
			syscalls.WriteMem(tid, a[1]+uint64(i*lay.MmsghdrSize()+lay.MsgLenOffset()), b[:])
		}
		sent++
	}
	switch {
	case sent == 0:
		return -int64(failure), redirected
	case trap.Call() == syscalls.CallSendmmsg:
		return int64(sent), redirected
	}
	return int64(lastBytes), redirected
}

// gather reads a message's payload from the program.
func gather(tid int, m outMessage) ([]byte, error) {
	if m.size > maxDatagram {
		return nil, syscall.EMSGSIZE
	}
	data := make([]byte, 0, m.size)
	for _, v := range m.iov {
		if v.Len == 0 {
			continue
		}
		part := make([]byte, v.Len)
		n, err := syscalls.ReadMem(tid, v.Base, part)
		if err != nil || n != len(part) {
			return nil, syscall.EFAULT
		}
		data = append(data, part...)
	}
	return data, nil
}

// sendOne sends one datagram on sock to to (or to the connected peer when
// to is invalid), never blocking the tracer thread.
func sendOne(sock, family int, data []byte, to netip.AddrPort) error {
	flags := unix.MSG_DONTWAIT | unix.MSG_NOSIGNAL
	if !to.IsValid() {
		return unix.Sendto(sock, data, flags, nil)
	}
	var sa unix.Sockaddr
	switch {
	case family == unix.AF_INET && to.Addr().Unmap().Is4():
		sa = &unix.SockaddrInet4{Port: int(to.Port()), Addr: to.Addr().Unmap().As4()}
	case family == unix.AF_INET6:
		sa = &unix.SockaddrInet6{Port: int(to.Port()), Addr: to.Addr().As16()}
	default:
		return syscall.EAFNOSUPPORT
	}
	return unix.Sendto(sock, data, flags, sa)
}

// errnoOf is err's errno, or def.
func errnoOf(err error, def syscall.Errno) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return def
}

// exitFixup is a receive on a watched socket, followed to its exit to
// rewrite the source addresses the kernel wrote.
type exitFixup struct {
	trap syscalls.Trap
	args sysArgs
	// names are the program's address buffers: where each is, where its
	// length is, and how large the program made it.
	names []nameBuf
}

type nameBuf struct {
	addr, lenAddr uint64
	capacity      uint32
}

// onReceive handles recvfrom, recvmsg and recvmmsg: on a watched socket
// the thread is followed to the syscall's exit; any other runs on at once.
func (l *loop) onReceive(tid int, th *thread, trap syscalls.Trap, a sysArgs) {
	if !l.tasks.anyWatched() {
		l.resume(tid, 0) // no redirected socket anywhere: the common case
		return
	}
	tgid, err := l.tgidOf(tid, th)
	if err != nil || !l.tasks.isWatched(tgid, a.fd()) {
		l.resume(tid, 0)
		return
	}
	fx := &exitFixup{trap: trap, args: a}
	lay := syscalls.LayoutFor(trap)
	switch trap.Call() {
	case syscalls.CallRecvfrom:
		var b [4]byte
		if n, err := syscalls.ReadMem(tid, a[5], b[:]); err == nil && n == 4 {
			fx.names = []nameBuf{{addr: a[4], lenAddr: a[5], capacity: binary.NativeEndian.Uint32(b[:])}}
		}
	case syscalls.CallRecvmsg:
		if nb, ok := readNameBuf(tid, lay, a[1]); ok {
			fx.names = []nameBuf{nb}
		}
	case syscalls.CallRecvmmsg:
		n := min(a[2]&0xffffffff, maxMessages)
		for i := uint64(0); i < n; i++ {
			nb, ok := readNameBuf(tid, lay, a[1]+i*uint64(lay.MmsghdrSize()))
			if !ok {
				break
			}
			fx.names = append(fx.names, nb)
		}
	}
	if len(fx.names) == 0 {
		l.resume(tid, 0)
		return
	}
	th.exit = fx
	if err := syscalls.ResumeToExit(tid); err != nil && err != unix.ESRCH {
		l.logf("ptrace(PTRACE_SYSCALL, %d): %v", tid, err)
	}
}

// readNameBuf reads where the msghdr at addr wants the source address.
func readNameBuf(tid int, lay syscalls.Layout, addr uint64) (nameBuf, bool) {
	buf := make([]byte, lay.MsghdrSize())
	if n, err := syscalls.ReadMem(tid, addr, buf); err != nil || n != len(buf) {
		return nameBuf{}, false
	}
	h, _ := lay.DecodeMsghdr(buf)
	if h.Name == 0 {
		return nameBuf{}, false
	}
	return nameBuf{addr: h.Name, lenAddr: addr + uint64(lay.NameLenOffset()), capacity: h.NameLen}, true
}

// onSyscallExit rewrites the source addresses a watched receive returned,
// then lets the thread go on.
func (l *loop) onSyscallExit(tid int, th *thread) {
	fx := th.exit
	th.exit = nil
	defer l.resume(tid, 0)
	dh, ok := l.t.Handler.(DatagramHandler)
	if fx == nil || !ok {
		return
	}
	regs, err := syscalls.GetRegs(tid)
	if err != nil {
		return
	}
	ret := regs.Ret(fx.trap.ABI())
	if ret < 0 {
		return
	}
	names := fx.names
	if fx.trap.Call() == syscalls.CallRecvmmsg {
		names = names[:min(int(ret), len(names))]
	}
	for _, nb := range names {
		rewriteSource(tid, dh, nb)
	}
}

// rewriteSource replaces the address the kernel wrote at nb when the
// handler maps it, keeping its family and size.
func rewriteSource(tid int, dh DatagramHandler, nb nameBuf) {
	var lb [4]byte
	if n, err := syscalls.ReadMem(tid, nb.lenAddr, lb[:]); err != nil || n != 4 {
		return
	}
	got := binary.NativeEndian.Uint32(lb[:])
	if got > nb.capacity || got > syscalls.MaxSockaddrLen {
		return // truncated by the program's buffer: leave it
	}
	sa, err := readSockaddr(tid, nb.addr, uint64(got))
	if err != nil || !sa.IsInet() {
		return
	}
	to, ok := dh.Source(sa.Dest())
	if !ok {
		return
	}
	enc, ok := syscalls.EncodeSockaddr(int(sa.Family), to)
	if !ok || uint32(len(enc)) > got {
		return
	}
	syscalls.WriteMem(tid, nb.addr, enc)
}
