package socks

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
)

// serverHandshake4 is the server side of a SOCKS4 or SOCKS4a request after
// its version byte: CD DSTPORT DSTIP USERID NUL, and for SOCKS4a (DSTIP
// 0.0.0.x with x != 0) the domain name and a NUL. It reads exactly the
// request, never more; the user ID and the name may be at most MaxNameLen
// bytes long. On failure it first answers Status4Rejected, except when the
// client hung up.
func serverHandshake4(conn net.Conn, cfg *ServerConfig) (*Request, error) {
	var hdr [7]byte // CD DSTPORT DSTIP
	if _, err := readFull(conn, hdr[:], proto4, "client", "the request"); err != nil {
		return nil, err
	}
	user, err := readString4(conn, "user ID")
	if err != nil {
		return nil, err
	}
	r := &Request{Version: Version4, Command: Command(hdr[0]), Username: user}
	port := binary.BigEndian.Uint16(hdr[1:3])
	ip := [net4Len]byte(hdr[3:])
	if ip[0] == 0 && ip[1] == 0 && ip[2] == 0 && ip[3] != 0 {
		name, err := readString4(conn, "domain name")
		if err != nil {
			return nil, err
		}
		if name == "" {
			_ = writeReply4(conn, Status4Rejected, Addr{})
			return nil, &ProtocolError{proto: proto4, Msg: "empty domain name in a SOCKS4a request"}
		}
		r.Dst = Addr{Name: name, Port: port}
	} else {
		r.Dst = Addr{IP: netip.AddrFrom4(ip), Port: port}
	}
	if r.Command != CmdConnect && r.Command != CmdBind {
		_ = writeReply4(conn, Status4Rejected, Addr{})
		return nil, &ProtocolError{proto: proto4, Msg: r.Command.String() + " in the request"}
	}
	if cfg.passwordRequired() {
		_ = writeReply4(conn, Status4Rejected, Addr{})
		return nil, fmt.Errorf("socks4: refused a request for %v (user ID %q): this server requires a password, which SOCKS4 cannot carry (use SOCKS5): %w",
			r.Dst, user, ErrAuth)
	}
	return r, nil
}

// readString4 reads a NUL-terminated field of a SOCKS4 request, one byte
// at a time so as not to read past it. A field longer than MaxNameLen bytes
// is refused with Status4Rejected.
func readString4(conn net.Conn, what string) (string, error) {
	var buf [MaxNameLen + 1]byte
	for i := range buf {
		if _, err := readFull(conn, buf[i:i+1], proto4, "client", "the "+what+" in the request"); err != nil {
			return "", err
		}
		if buf[i] == 0 {
			return string(buf[:i]), nil
		}
	}
	_ = writeReply4(conn, Status4Rejected, Addr{})
	return "", &ProtocolError{proto: proto4, Msg: fmt.Sprintf("%s in the request is longer than %d bytes", what, MaxNameLen)}
}

// writeReply4 writes a SOCKS4 reply: VN 0, the code, and bound's port and
// IPv4 address (0.0.0.0 for a bound address that is not IPv4).
func writeReply4(conn net.Conn, r Reply4, bound Addr) error {
	var ip [net4Len]byte
	if bound.Name == "" && (bound.IP.Is4() || bound.IP.Is4In6()) {
		ip = bound.IP.Unmap().As4()
	}
	msg := []byte{version4Reply, byte(r)}
	msg = binary.BigEndian.AppendUint16(msg, bound.Port)
	msg = append(msg, ip[:]...)
	return writeMsg(conn, msg, proto4, "reply")
}
