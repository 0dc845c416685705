package socks

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
)

// Lengths of the IP addresses on the wire.
const (
	net4Len = 4
	net6Len = 16
)

// appendAddr appends the wire form of a (ATYP, address, port) to b. It fails
// with an EINVAL error for a name longer than MaxNameLen or an Addr with
// neither a name nor a valid IP.
func appendAddr(b []byte, a Addr) ([]byte, error) {
	switch {
	case a.Name != "":
		if len(a.Name) > MaxNameLen {
			return nil, &invalidArgError{msg: "domain name is " + strconv.Itoa(len(a.Name)) + " bytes long, the limit is 255"}
		}
		b = append(b, atypDomain, byte(len(a.Name)))
		b = append(b, a.Name...)
	case a.IP.Is4() || a.IP.Is4In6():
		ip := a.IP.Unmap().As4()
		b = append(b, atypIPv4)
		b = append(b, ip[:]...)
	case a.IP.Is6():
		ip := a.IP.As16()
		b = append(b, atypIPv6)
		b = append(b, ip[:]...)
	default:
		return nil, &invalidArgError{msg: "address has neither a domain name nor an IP address"}
	}
	return binary.BigEndian.AppendUint16(b, a.Port), nil
}

// addrTail returns how many bytes of an address of type atyp follow its
// first byte b0, the port included. A message is read as a fixed header that
// ends with the first address byte, then this tail: two reads, never a byte
// past the message. ok is false for an unknown address type.
func addrTail(atyp, b0 byte) (n int, ok bool) {
	switch atyp {
	case atypIPv4:
		return net4Len - 1 + 2, true
	case atypIPv6:
		return net6Len - 1 + 2, true
	case atypDomain:
		return int(b0) + 2, true
	}
	return 0, false
}

// parseAddr decodes an address of type atyp from its first byte b0 and the
// tail that addrTail sized. atyp must be one addrTail accepts.
func parseAddr(atyp, b0 byte, tail []byte) Addr {
	port := binary.BigEndian.Uint16(tail[len(tail)-2:])
	switch atyp {
	case atypIPv4:
		var ip [net4Len]byte
		ip[0] = b0
		copy(ip[1:], tail)
		return Addr{IP: netip.AddrFrom4(ip), Port: port}
	case atypIPv6:
		var ip [net6Len]byte
		ip[0] = b0
		copy(ip[1:], tail)
		return Addr{IP: netip.AddrFrom16(ip), Port: port}
	}
	return Addr{Name: string(tail[:len(tail)-2]), Port: port}
}

// The protocol names that prefix error messages.
const (
	proto4   = "socks4" // SOCKS4 and SOCKS4a
	proto5   = "socks5"
	protoAny = "socks" // before the version byte says which
)

// readFull reads exactly len(buf) bytes from r and returns how many it got.
// A connection closed by the peer (io.EOF, io.ErrUnexpectedEOF) becomes a
// *closedError; any other error is wrapped with the stage, as is. proto
// ("socks4", "socks5") prefixes the error.
func readFull(r io.Reader, buf []byte, proto, peer, stage string) (int, error) {
	n, err := io.ReadFull(r, buf)
	switch {
	case err == nil:
		return n, nil
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return n, &closedError{proto: proto, peer: peer, stage: stage, err: err}
	}
	return n, fmt.Errorf("%s: reading %s: %w", proto, stage, err)
}

// writeMsg writes b in one call to w.
func writeMsg(w io.Writer, b []byte, proto, what string) error {
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("%s: sending %s: %w", proto, what, err)
	}
	return nil
}

// versionError reports a message that starts with the wrong version byte
// got.
func versionError(proto, what string, want, got byte) *ProtocolError {
	return &ProtocolError{proto: proto, Msg: fmt.Sprintf("version 0x%02x in %s, want 0x%02x", got, what, want)}
}
