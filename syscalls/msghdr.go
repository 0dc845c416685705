package syscalls

import "encoding/binary"

// Msghdr is the part of a program's struct msghdr the tracer uses, decoded
// from either layout: 64-bit pointers (native) or 32-bit (compat, x32).
type Msghdr struct {
	Name    uint64 // msg_name
	NameLen uint32 // msg_namelen
	Iov     uint64 // msg_iov
	IovLen  uint64 // msg_iovlen
}

// Layout gives the sizes and offsets of the socket structures for one
// pointer size.
type Layout struct {
	ptr int
}

// LayoutFor returns the layout of trap's ABI.
func LayoutFor(t Trap) Layout { return Layout{ptr: t.PointerSize()} }

// MsghdrSize is sizeof(struct msghdr).
func (l Layout) MsghdrSize() int {
	if l.ptr == 8 {
		return 56
	}
	return 28
}

// MmsghdrSize is sizeof(struct mmsghdr): a msghdr and the unsigned
// msg_len (padded to 8 bytes on 64-bit).
func (l Layout) MmsghdrSize() int {
	if l.ptr == 8 {
		return 64
	}
	return 32
}

// MsgLenOffset is the offset of msg_len in struct mmsghdr.
func (l Layout) MsgLenOffset() int { return l.MsghdrSize() }

// NameLenOffset is the offset of msg_namelen in struct msghdr.
func (l Layout) NameLenOffset() int { return l.ptr }

// IovecSize is sizeof(struct iovec).
func (l Layout) IovecSize() int { return 2 * l.ptr }

// word reads a pointer-sized value at off; b must be long enough.
func (l Layout) word(b []byte, off int) uint64 {
	if l.ptr == 8 {
		return binary.NativeEndian.Uint64(b[off:])
	}
	return uint64(binary.NativeEndian.Uint32(b[off:]))
}

// DecodeMsghdr reads a msghdr from b, which holds at least MsghdrSize
// bytes (ok false otherwise).
func (l Layout) DecodeMsghdr(b []byte) (Msghdr, bool) {
	if len(b) < l.MsghdrSize() {
		return Msghdr{}, false
	}
	p := l.ptr
	m := Msghdr{
		Name:    l.word(b, 0),
		NameLen: binary.NativeEndian.Uint32(b[p:]),
		Iov:     l.word(b, 2*p),
		IovLen:  l.word(b, 3*p),
	}
	return m, true
}

// Iovec is one struct iovec of a program.
type Iovec struct {
	Base, Len uint64
}

// DecodeIovecs reads the iovecs in b (as many as fit).
func (l Layout) DecodeIovecs(b []byte) []Iovec {
	n := len(b) / l.IovecSize()
	out := make([]Iovec, n)
	for i := range out {
		off := i * l.IovecSize()
		out[i] = Iovec{Base: l.word(b, off), Len: l.word(b, off+l.ptr)}
	}
	return out
}
