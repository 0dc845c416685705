package fakedns

import (
	"net/netip"
	"strconv"
	"strings"
)

// parseReverse returns the address a reverse name (lower case, no trailing
// dot) stands for: d.c.b.a.in-addr.arpa or the 32 nibbles of ip6.arpa.
func parseReverse(name string) (netip.Addr, bool) {
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa"); ok {
		return parseReverse4(rest)
	}
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa"); ok {
		return parseReverse6(rest)
	}
	return netip.Addr{}, false
}

func parseReverse4(s string) (netip.Addr, bool) {
	var b [4]byte
	for i := 3; i >= 0; i-- {
		label := s
		if i > 0 {
			var ok bool
			if label, s, ok = strings.Cut(s, "."); !ok {
				return netip.Addr{}, false
			}
		}
		if len(label) == 0 || len(label) > 3 {
			return netip.Addr{}, false
		}
		v := 0
		for j := 0; j < len(label); j++ {
			c := label[j]
			if c < '0' || c > '9' {
				return netip.Addr{}, false
			}
			v = v*10 + int(c-'0')
		}
		if v > 255 {
			return netip.Addr{}, false
		}
		b[i] = byte(v)
	}
	return netip.AddrFrom4(b), true
}

func parseReverse6(s string) (netip.Addr, bool) {
	if len(s) != 63 {
		return netip.Addr{}, false
	}
	var b [16]byte
	for i := 0; i < 32; i++ {
		c := s[2*i]
		if i < 31 && s[2*i+1] != '.' {
			return netip.Addr{}, false
		}
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		default:
			return netip.Addr{}, false
		}
		// Nibble i counts from the least significant end.
		pos := 31 - i
		if pos%2 == 0 {
			b[pos/2] |= v << 4
		} else {
			b[pos/2] |= v
		}
	}
	return netip.AddrFrom16(b), true
}

// ReverseName is the name a PTR question about a asks for: the
// in-addr.arpa name of an IPv4 (or IPv4-mapped) address, the nibble
// ip6.arpa name of an IPv6 one, without the trailing dot.
func ReverseName(a netip.Addr) string {
	a = a.Unmap()
	var sb strings.Builder
	if a.Is4() {
		b := a.As4()
		for i := 3; i >= 0; i-- {
			sb.WriteString(strconv.Itoa(int(b[i])))
			sb.WriteByte('.')
		}
		sb.WriteString("in-addr.arpa")
		return sb.String()
	}
	const hex = "0123456789abcdef"
	b := a.As16()
	for i := 15; i >= 0; i-- {
		sb.WriteByte(hex[b[i]&0xf])
		sb.WriteByte('.')
		sb.WriteByte(hex[b[i]>>4])
		sb.WriteByte('.')
	}
	sb.WriteString("ip6.arpa")
	return sb.String()
}
