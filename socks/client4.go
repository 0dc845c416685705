package socks

import (
	"context"
	"encoding/binary"
	"net"
	"strconv"
	"strings"
	"syscall"

	"github.com/chainrun/chainrun/internal/handshake"
)

// Connect4 performs a SOCKS4 CONNECT for dst over conn, which is already
// connected to the proxy. For an IPv4 dst (or an IPv4-mapped IPv6 one) it
// sends a SOCKS4 request; for a dst with a Name it sends a SOCKS4a request
// (DSTIP 0.0.0.1 followed by the NUL-terminated name), so the proxy
// resolves the name. userID is the USERID field; it may be empty.
//
// SOCKS4 has no IPv6: an IPv6 dst fails with an error that matches
// syscall.EAFNOSUPPORT before anything is sent. A userID or name longer
// than 255 bytes or containing a NUL byte, or a dst with neither a name nor
// an IP, fails with an error that matches syscall.EINVAL, also before
// anything is sent.
//
// Connect4 reads exactly the 8-byte reply, never more. A reply other than
// Status4Granted is a *Reply4Error (errors.Is holds for its Reply.Errno), a
// reply whose version byte is not 0 a *ProtocolError (syscall.EPROTO), and
// a proxy that closes the connection before the whole reply matches
// syscall.ECONNRESET. ctx is honoured as Connect5 does: its deadline goes
// on conn, a cancellation interrupts the handshake and the error wraps
// ctx.Err(), and conn's deadline is cleared before Connect4 returns.
// Connect4 never closes conn.
func Connect4(ctx context.Context, conn net.Conn, dst Addr, userID string) error {
	req, err := request4(dst, userID)
	if err != nil {
		return err
	}
	return handshake.Run(ctx, conn, proto4, func() error {
		if err := writeMsg(conn, req, proto4, "CONNECT request"); err != nil {
			return err
		}
		return readReply4(conn)
	})
}

// request4 builds the SOCKS4 or SOCKS4a CONNECT request for dst.
func request4(dst Addr, userID string) ([]byte, error) {
	if err := checkString4("user ID", userID); err != nil {
		return nil, err
	}
	var ip [net4Len]byte
	switch {
	case dst.Name != "":
		if err := checkString4("domain name", dst.Name); err != nil {
			return nil, err
		}
		ip = [net4Len]byte{0, 0, 0, 1} // SOCKS4a: the name follows
	case dst.IP.Is4() || dst.IP.Is4In6():
		ip = dst.IP.Unmap().As4()
	case dst.IP.Is6():
		return nil, &afError{dst: dst}
	default:
		return nil, &invalidArgError{proto: proto4, msg: "address has neither a domain name nor an IP address"}
	}
	b := make([]byte, 0, 8+len(userID)+1+len(dst.Name)+1)
	b = append(b, Version4, byte(CmdConnect))
	b = binary.BigEndian.AppendUint16(b, dst.Port)
	b = append(b, ip[:]...)
	b = append(b, userID...)
	b = append(b, 0)
	if dst.Name != "" {
		b = append(b, dst.Name...)
		b = append(b, 0)
	}
	return b, nil
}

// checkString4 checks a NUL-terminated field of a SOCKS4 request.
func checkString4(what, s string) error {
	if len(s) > MaxNameLen {
		return &invalidArgError{proto: proto4, msg: what + " is " + strconv.Itoa(len(s)) + " bytes long, the limit is 255"}
	}
	if strings.IndexByte(s, 0) >= 0 {
		return &invalidArgError{proto: proto4, msg: what + " contains a NUL byte"}
	}
	return nil
}

// readReply4 reads a SOCKS4 reply (VN CD DSTPORT DSTIP) and returns nil for
// Status4Granted. A failure code is reported as soon as it is read, even if
// the rest of the reply never comes.
func readReply4(conn net.Conn) error {
	const what = "the CONNECT reply"
	var rep [8]byte
	n, err := readFull(conn, rep[:], proto4, "proxy", what)
	if n >= 1 && rep[0] != version4Reply {
		e := versionError(proto4, what, version4Reply, rep[0])
		switch {
		case rep[0] == Version5:
			e.Msg += " (the proxy answered in SOCKS5: does it speak SOCKS4?)"
		case rep[0] == 'H' && (n < 2 || rep[1] == 'T'):
			e.Msg += " (the proxy answered in HTTP: is it an HTTP proxy?)"
		}
		return e
	}
	if n >= 2 && Reply4(rep[1]) != Status4Granted {
		return &Reply4Error{Reply: Reply4(rep[1])}
	}
	// DSTPORT and DSTIP of a CONNECT reply carry nothing useful.
	return err
}

// afError is a destination SOCKS4 cannot carry: an IPv6 address.
// errors.Is(err, syscall.EAFNOSUPPORT) holds.
type afError struct {
	dst Addr
}

func (e *afError) Error() string {
	return "socks4: " + e.dst.String() + " is an IPv6 address, which SOCKS4 cannot carry (use SOCKS5)"
}

func (e *afError) Unwrap() error { return syscall.EAFNOSUPPORT }
