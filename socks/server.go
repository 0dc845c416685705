package socks

import (
	"fmt"
	"net"
)

// ServerHandshake runs the server side of a SOCKS4, SOCKS4a or SOCKS5
// handshake on conn: it reads the version byte and goes on as the client's
// version says, so that one port serves all three. The returned Request's
// Version says which the client spoke; answer it with WriteReply.
//
// A SOCKS5 client is served as ServerHandshake5 does. A SOCKS4 or SOCKS4a
// request (CONNECT or BIND) is read to its end and no further; its USERID
// becomes Request.Username, unchecked. SOCKS4 cannot carry a password, so
// when cfg requires one (RequireAuth with Credentials) every SOCKS4 request
// is refused with Status4Rejected and an error that matches ErrAuth. A
// SOCKS4 user ID or SOCKS4a name longer than MaxNameLen bytes, an empty
// SOCKS4a name or an unknown SOCKS4 command is refused with
// Status4Rejected and a *ProtocolError. Any other first byte is a
// *ProtocolError, with nothing sent. A client that hangs up mid-handshake
// gives an error that matches syscall.ECONNRESET.
//
// Like ServerHandshake5, it never closes conn and sets no deadline: the
// caller should bound the handshake with conn.SetDeadline.
func ServerHandshake(conn net.Conn, cfg *ServerConfig) (*Request, error) {
	var ver [1]byte
	if _, err := readFull(conn, ver[:], protoAny, "client", "the version byte"); err != nil {
		return nil, err
	}
	switch ver[0] {
	case Version5:
		return serverHandshake5(conn, cfg)
	case Version4:
		return serverHandshake4(conn, cfg)
	}
	e := &ProtocolError{proto: protoAny, Msg: fmt.Sprintf("version 0x%02x in the greeting, want 0x04 or 0x05", ver[0])}
	if 'A' <= ver[0] && ver[0] <= 'Z' {
		e.Msg += " (is the client speaking HTTP to a SOCKS server?)"
	}
	return nil, e
}

// WriteReply answers req in the client's own version. For SOCKS5 it is
// WriteReply5. For SOCKS4 and SOCKS4a, StatusSucceeded becomes
// Status4Granted and any other r Status4Rejected, with bound's port and
// IPv4 address (0.0.0.0 when bound is not IPv4: SOCKS4 has no other
// kind). A Request whose Version is 0 (made by hand) is answered in SOCKS5.
func WriteReply(conn net.Conn, req *Request, r Reply, bound Addr) error {
	switch req.Version {
	case Version4:
		code := Status4Rejected
		if r == StatusSucceeded {
			code = Status4Granted
		}
		return writeReply4(conn, code, bound)
	case Version5, 0:
		return WriteReply5(conn, r, bound)
	}
	return &invalidArgError{proto: protoAny, msg: fmt.Sprintf("cannot answer a request of unknown version 0x%02x", req.Version)}
}

// passwordRequired reports whether cfg refuses clients without a password.
func (cfg *ServerConfig) passwordRequired() bool {
	return cfg != nil && cfg.Credentials != nil && cfg.RequireAuth
}
