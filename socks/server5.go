package socks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"

	"github.com/chainrun/chainrun/internal/handshake"
)

// ServerConfig says which authentication methods a server accepts.
type ServerConfig struct {
	// Credentials, when non-nil, is called to check RFC 1929
	// username/password credentials. When nil, only AuthNone is accepted.
	Credentials func(user, pass string) bool
	// RequireAuth, when true and Credentials is non-nil, refuses AuthNone
	// and, in ServerHandshake, every SOCKS4 and SOCKS4a request (SOCKS4
	// cannot carry a password).
	RequireAuth bool
}

// choose picks the method to use from those the client offered: username
// and password when the server can check them and the client offers them,
// else no authentication when allowed, else AuthNoAcceptableMethods.
func (cfg *ServerConfig) choose(offered []byte) AuthMethod {
	canCheck := cfg != nil && cfg.Credentials != nil
	mustAuth := cfg.passwordRequired()
	var none, userPass bool
	for _, m := range offered {
		switch AuthMethod(m) {
		case AuthNone:
			none = true
		case AuthUsernamePassword:
			userPass = true
		}
	}
	switch {
	case canCheck && userPass:
		return AuthUsernamePassword
	case none && !mustAuth:
		return AuthNone
	}
	return AuthNoAcceptableMethods
}

// A Request is a client's parsed SOCKS4, SOCKS4a or SOCKS5 request.
type Request struct {
	// Version is the protocol the client speaks: Version4 (SOCKS4 and
	// SOCKS4a) or Version5. WriteReply answers in it.
	Version byte
	// Command is CmdConnect or CmdBind, or for SOCKS5 CmdUDPAssociate or
	// one of Tor's CmdResolve (Dst is the name to resolve, or an address)
	// and CmdResolvePTR (Dst is the address to look up, or a name).
	Command Command
	// Dst is the destination: an IP address, or a name for SOCKS4a and
	// the SOCKS5 domain address type.
	Dst Addr
	// Username is, for SOCKS5, the user who authenticated with a
	// username and password (empty without authentication). For SOCKS4
	// it is the USERID field, which the client asserts and nothing
	// checks.
	Username string
}

// ServerHandshake5 runs the server side of a SOCKS5 handshake on conn; a
// server that also takes SOCKS4 clients calls ServerHandshake instead. It
// reads the greeting (version byte included), picks an authentication
// method according to cfg (a nil cfg accepts only AuthNone), checks the
// username and password if that method was picked, and reads the request.
// It reads exactly the client's messages, never more.
//
// It returns the request for any command RFC 1928 defines and for Tor's
// RESOLVE and RESOLVE_PTR; the caller answers it with WriteReply5 (for
// RESOLVE_PTR with the name as the bound address). On failure it first
// sends the client the proper refusal when there is one (method 0xff, RFC
// 1929 status 1, or a reply with StatusCommandNotSupported,
// StatusAddressTypeNotSupported or StatusGeneralFailure), then returns the
// error; authentication failures match ErrAuth. ServerHandshake5 never closes conn and sets no deadline:
// the caller should bound the handshake with conn.SetDeadline.
func ServerHandshake5(conn net.Conn, cfg *ServerConfig) (*Request, error) {
	var ver [1]byte
	n, err := readFull(conn, ver[:], proto5, "client", "the greeting")
	if n >= 1 && ver[0] != Version5 {
		return nil, versionError(proto5, "the greeting", Version5, ver[0])
	}
	if err != nil {
		return nil, err
	}
	return serverHandshake5(conn, cfg)
}

// serverHandshake5 is ServerHandshake5 after the version byte.
func serverHandshake5(conn net.Conn, cfg *ServerConfig) (*Request, error) {
	var nmethods [1]byte
	if _, err := readFull(conn, nmethods[:], proto5, "client", "the greeting"); err != nil {
		return nil, err
	}
	var methods [255]byte
	offered := methods[:nmethods[0]]
	if _, err := readFull(conn, offered, proto5, "client", "the greeting"); err != nil {
		return nil, err
	}
	method := cfg.choose(offered)
	if err := writeMsg(conn, []byte{Version5, byte(method)}, proto5, "method selection"); err != nil {
		return nil, err
	}
	if method == AuthNoAcceptableMethods {
		names := make([]string, len(offered))
		for i, m := range offered {
			names[i] = AuthMethod(m).String()
		}
		return nil, fmt.Errorf("socks5: client offers no acceptable authentication method (offered: %s): %w",
			strings.Join(names, ", "), ErrAuth)
	}

	var user string
	if method == AuthUsernamePassword {
		var err error
		if user, err = serverUserPass(conn, cfg.Credentials); err != nil {
			return nil, err
		}
	}

	var req [5]byte // VER CMD RSV ATYP and the first address byte
	n, err := readFull(conn, req[:], proto5, "client", "the request")
	if n >= 1 && req[0] != Version5 {
		_ = WriteReply5(conn, StatusGeneralFailure, Addr{})
		return nil, versionError(proto5, "the request", Version5, req[0])
	}
	if err != nil {
		return nil, err
	}
	tailLen, ok := addrTail(req[3], req[4])
	if !ok {
		_ = WriteReply5(conn, StatusAddressTypeNotSupported, Addr{})
		return nil, &ProtocolError{Msg: fmt.Sprintf("unknown address type 0x%02x in the request", req[3])}
	}
	var tail [MaxNameLen + 2]byte
	if _, err := readFull(conn, tail[:tailLen], proto5, "client", "the request"); err != nil {
		return nil, err
	}
	r := &Request{Version: Version5, Command: Command(req[1]), Dst: parseAddr(req[3], req[4], tail[:tailLen]), Username: user}
	switch {
	case !r.Command.server5():
		_ = WriteReply5(conn, StatusCommandNotSupported, Addr{})
		return nil, &ProtocolError{Msg: r.Command.String() + " in the request"}
	case req[3] == atypDomain && r.Dst.Name == "":
		_ = WriteReply5(conn, StatusGeneralFailure, Addr{})
		return nil, &ProtocolError{Msg: "empty domain name in the request"}
	}
	return r, nil
}

// server5 reports whether ServerHandshake5 returns requests with command c.
func (c Command) server5() bool {
	switch c {
	case CmdConnect, CmdBind, CmdUDPAssociate, CmdResolve, CmdResolvePTR:
		return true
	}
	return false
}

// serverUserPass runs the server side of the RFC 1929 subnegotiation and
// returns the username if check accepts the credentials.
func serverUserPass(conn net.Conn, check func(user, pass string) bool) (string, error) {
	const what = "the username/password request"
	var hdr [2]byte // VER ULEN
	n, err := readFull(conn, hdr[:], proto5, "client", what)
	if n >= 1 && hdr[0] != authVersion {
		_ = writeMsg(conn, []byte{authVersion, 0x01}, proto5, "username/password status")
		return "", versionError(proto5, what, authVersion, hdr[0])
	}
	if err != nil {
		return "", err
	}
	var buf [MaxNameLen + 1]byte
	ulen := int(hdr[1])
	if _, err := readFull(conn, buf[:ulen+1], proto5, "client", what); err != nil { // UNAME PLEN
		return "", err
	}
	user := string(buf[:ulen])
	plen := int(buf[ulen])
	if _, err := readFull(conn, buf[:plen], proto5, "client", what); err != nil {
		return "", err
	}
	pass := string(buf[:plen])

	ok := check(user, pass)
	status := byte(0x00)
	if !ok {
		status = 0x01
	}
	if err := writeMsg(conn, []byte{authVersion, status}, proto5, "username/password status"); err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("socks5: wrong username or password for user %q: %w", user, ErrAuth)
	}
	return user, nil
}

// WriteReply5 writes a SOCKS5 reply with code r and bound address bound. An
// Addr with neither a name nor a valid IP is sent as 0.0.0.0 (with its
// port), so the zero Addr is 0.0.0.0:0. An Addr with a Name goes as the
// domain address type, as the answer to RESOLVE_PTR does; a name longer
// than MaxNameLen fails with an error that matches syscall.EINVAL, with
// nothing sent.
func WriteReply5(conn net.Conn, r Reply, bound Addr) error {
	if bound.Name == "" && !bound.IP.IsValid() {
		bound.IP = netip.IPv4Unspecified()
	}
	msg, err := appendAddr([]byte{Version5, byte(r), 0}, bound)
	if err != nil {
		return err
	}
	return writeMsg(conn, msg, proto5, "reply")
}

// ReplyForError returns the reply a server should send when dialing the
// destination failed with err: StatusConnectionRefused for ECONNREFUSED,
// StatusNetworkUnreachable for ENETUNREACH and ENETDOWN,
// StatusHostUnreachable for EHOSTUNREACH, EHOSTDOWN and a name that does not
// resolve, StatusTTLExpired for a timeout, StatusNotAllowed for EACCES and
// EPERM, StatusAddressTypeNotSupported for EAFNOSUPPORT, and
// StatusGeneralFailure for anything else. It returns StatusSucceeded for a
// nil err.
func ReplyForError(err error) Reply {
	var dnsErr *net.DNSError
	switch {
	case err == nil:
		return StatusSucceeded
	case errors.Is(err, syscall.ECONNREFUSED):
		return StatusConnectionRefused
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.ENETDOWN):
		return StatusNetworkUnreachable
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.EHOSTDOWN):
		return StatusHostUnreachable
	case errors.Is(err, syscall.ETIMEDOUT), errors.Is(err, context.DeadlineExceeded), handshake.IsTimeout(err):
		return StatusTTLExpired
	case errors.As(err, &dnsErr):
		return StatusHostUnreachable
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return StatusNotAllowed
	case errors.Is(err, syscall.EAFNOSUPPORT):
		return StatusAddressTypeNotSupported
	}
	return StatusGeneralFailure
}
