package syscalls

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// MaxSockaddrLen bounds how much of a tracee's sockaddr is read: the size of
// struct sockaddr_storage. A larger addrlen is clamped, never trusted.
const MaxSockaddrLen = 128

// The shortest sockaddrs the kernel accepts for a connect (tcp_v4_connect,
// tcp_v6_connect: SIN6_LEN_RFC2133 has no scope id).
const (
	sockaddrInLen     = 16
	sockaddrIn6MinLen = 24
	sockaddrIn6Len    = 28
)

// Sockaddr is a decoded socket address from tracee memory.
type Sockaddr struct {
	// Family is the sa_family field (unix.AF_INET, unix.AF_INET6, unix.AF_UNIX, …).
	Family uint16
	// Addr is the IP destination for AF_INET and AF_INET6; invalid otherwise.
	// An IPv4-mapped IPv6 address is kept as it is (see Dest).
	Addr netip.AddrPort
	// Path is an AF_UNIX socket's path, up to its first NUL; an abstract
	// address starts with "@" (its leading NUL), as ss(8) writes it.
	Path string
}

// IsInet reports whether the address is an IPv4 or IPv6 destination.
func (s Sockaddr) IsInet() bool { return s.Addr.IsValid() }

// Dest is the destination with an IPv4-mapped IPv6 address unmapped to IPv4:
// where the bytes will really go.
func (s Sockaddr) Dest() netip.AddrPort {
	return netip.AddrPortFrom(s.Addr.Addr().Unmap(), s.Addr.Port())
}

// DecodeSockaddr decodes raw sockaddr bytes as the tracee passed them (b is
// already cut to the tracee's addrlen). It never panics: an address too
// short to hold its family's fields comes back with Family set and Addr
// invalid, and the caller leaves it to the kernel to refuse.
func DecodeSockaddr(b []byte) (Sockaddr, error) {
	if len(b) < 2 {
		return Sockaddr{}, fmt.Errorf("sockaddr of %d bytes has no family", len(b))
	}
	sa := Sockaddr{Family: binary.NativeEndian.Uint16(b[0:2])}
	switch sa.Family {
	case unix.AF_INET:
		if len(b) < sockaddrInLen {
			return sa, fmt.Errorf("AF_INET sockaddr of %d bytes (want %d)", len(b), sockaddrInLen)
		}
		port := binary.BigEndian.Uint16(b[2:4])
		sa.Addr = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port)
	case unix.AF_INET6:
		if len(b) < sockaddrIn6MinLen {
			return sa, fmt.Errorf("AF_INET6 sockaddr of %d bytes (want %d)", len(b), sockaddrIn6MinLen)
		}
		port := binary.BigEndian.Uint16(b[2:4])
		ip := netip.AddrFrom16([16]byte(b[8:24]))
		if len(b) >= sockaddrIn6Len {
			if scope := binary.NativeEndian.Uint32(b[24:28]); scope != 0 && ip.Is6() && !ip.Is4In6() {
				ip = ip.WithZone(fmt.Sprint(scope))
			}
		}
		sa.Addr = netip.AddrPortFrom(ip, port)
	case unix.AF_UNIX:
		p := b[2:]
		switch {
		case len(p) > 0 && p[0] == 0:
			sa.Path = "@" + string(p[1:])
		default:
			if i := bytes.IndexByte(p, 0); i >= 0 {
				p = p[:i]
			}
			sa.Path = string(p)
		}
	}
	return sa, nil
}

// EncodeSockaddr is the raw sockaddr of addr for a socket of family: a
// sockaddr_in, or a sockaddr_in6 (an IPv4 address in its mapped form). ok
// is false when addr cannot be expressed in the family.
func EncodeSockaddr(family int, addr netip.AddrPort) ([]byte, bool) {
	ip := addr.Addr()
	switch family {
	case unix.AF_INET:
		ip = ip.Unmap()
		if !ip.Is4() {
			return nil, false
		}
		b := make([]byte, sockaddrInLen)
		binary.NativeEndian.PutUint16(b[0:], unix.AF_INET)
		binary.BigEndian.PutUint16(b[2:], addr.Port())
		a := ip.As4()
		copy(b[4:], a[:])
		return b, true
	case unix.AF_INET6:
		b := make([]byte, sockaddrIn6Len)
		binary.NativeEndian.PutUint16(b[0:], unix.AF_INET6)
		binary.BigEndian.PutUint16(b[2:], addr.Port())
		a := ip.As16()
		copy(b[8:], a[:])
		return b, true
	}
	return nil, false
}
