package fakedns

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// addrRange is the usable part of a fake prefix: every address but the
// first and the last, numbered from 0. For prefixes wider than 2^64
// addresses only the low 64 bits vary.
type addrRange struct {
	prefix netip.Prefix
	hi, lo uint64 // the prefix's first address
	is4    bool
	size   uint64 // number of usable addresses
}

// newAddrRange checks that p is a usable fake range of the given family.
func newAddrRange(p netip.Prefix, v6 bool) (addrRange, error) {
	family, maxBits := "IPv4", 28
	if v6 {
		family, maxBits = "IPv6", 124
	}
	a := p.Addr()
	switch {
	case v6 != a.Is6() || a.Is4In6():
		return addrRange{}, fmt.Errorf("fakedns: %s pool %s is not an %s prefix", family, p, family)
	case a.Zone() != "":
		return addrRange{}, fmt.Errorf("fakedns: %s pool %s has a zone", family, p)
	case a.IsMulticast():
		return addrRange{}, fmt.Errorf("fakedns: %s pool %s is multicast", family, p)
	case p.Bits() > maxBits:
		return addrRange{}, fmt.Errorf("fakedns: %s pool %s is too small (needs at least 16 addresses, /%d)", family, p, maxBits)
	}
	p = p.Masked()
	r := addrRange{prefix: p, is4: !v6}
	b := p.Addr().As16()
	r.hi = binary.BigEndian.Uint64(b[:8])
	r.lo = binary.BigEndian.Uint64(b[8:])
	hostBits := a.BitLen() - p.Bits()
	if hostBits >= 64 {
		r.size = ^uint64(0) - 1 // 2^64 - 2
	} else {
		r.size = uint64(1)<<hostBits - 2
	}
	return r, nil
}

// addr is usable address number idx (idx < size): the prefix's first
// address plus idx+1. The host part of the base is zero and idx+1 fits in
// it, so the addition never carries into the high word.
func (r *addrRange) addr(idx uint64) netip.Addr {
	lo := r.lo + idx + 1
	if r.is4 {
		v := uint32(lo)
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], r.hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	return netip.AddrFrom16(b)
}
