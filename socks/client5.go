package socks

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/chainrun/chainrun/internal/handshake"
)

// Connect5 performs a SOCKS5 CONNECT (RFC 1928) for dst over conn, which is
// already connected to the proxy, and returns the bound address from the
// proxy's reply.
//
// With auth == nil it offers only AuthNone; otherwise it offers AuthNone and
// AuthUsernamePassword (RFC 1929) and authenticates if the proxy picks the
// latter. It sends each message only after the answer to the previous one
// (some proxies drop a CONNECT pipelined with the greeting), and it reads
// exactly the bytes of each answer, never more: whatever the destination
// sends after the reply stays in conn for the caller.
//
// A username, password or domain name longer than 255 bytes, or a dst with
// neither a name nor an IP, fails with an error that matches syscall.EINVAL
// before anything is sent.
//
// Errors caused by the proxy's answers match an errno with errors.Is: a
// failure reply is a *ReplyError (its Reply.Errno), a refused authentication
// an *AuthError (syscall.ECONNREFUSED and ErrAuth), a malformed answer a
// *ProtocolError (syscall.EPROTO), and a proxy that closes the connection
// mid-handshake matches syscall.ECONNRESET. Other I/O errors are returned
// wrapped, so errors.Is(err, os.ErrDeadlineExceeded) works for a deadline
// the caller set on conn.
//
// If ctx has a deadline, Connect5 sets it on conn; if ctx is cancelled
// during the handshake, Connect5 sets a deadline in the past so that the
// blocked I/O returns, and it returns an error that wraps ctx.Err(). In both
// cases it clears conn's deadline (sets the zero time) before returning; a
// caller who wants a deadline of its own on conn should use a ctx without
// one. Connect5 never closes conn.
func Connect5(ctx context.Context, conn net.Conn, dst Addr, auth *Auth) (Addr, error) {
	return run5(ctx, conn, CmdConnect, dst, auth)
}

// run5 runs a SOCKS5 handshake that ends with request cmd for dst under
// ctx, as Connect5 documents, and returns the reply's bound address.
func run5(ctx context.Context, conn net.Conn, cmd Command, dst Addr, auth *Auth) (Addr, error) {
	var bound Addr
	err := handshake.Run(ctx, conn, proto5, func() (err error) {
		bound, err = request5(conn, cmd, dst, auth)
		return err
	})
	if err != nil {
		return Addr{}, err
	}
	return bound, nil
}

// request5 is run5 without the context handling: the greeting, the
// authentication, then the request cmd for dst and its reply.
func request5(conn net.Conn, cmd Command, dst Addr, auth *Auth) (Addr, error) {
	// Build every message first: bad arguments fail before a byte is sent.
	req, err := appendAddr([]byte{Version5, byte(cmd), 0}, dst)
	if err != nil {
		return Addr{}, err
	}
	if _, err := greet5(conn, auth); err != nil {
		return Addr{}, err
	}
	if err := writeMsg(conn, req, proto5, cmd.String()+" request"); err != nil {
		return Addr{}, err
	}
	return readReply(conn, "the "+cmd.String()+" reply")
}

// userPassMsg returns the RFC 1929 username/password request for a.
func userPassMsg(a *Auth) ([]byte, error) {
	if len(a.Username) > MaxNameLen {
		return nil, &invalidArgError{msg: "username is " + strconv.Itoa(len(a.Username)) + " bytes long, the limit is 255"}
	}
	if len(a.Password) > MaxNameLen {
		return nil, &invalidArgError{msg: "password is " + strconv.Itoa(len(a.Password)) + " bytes long, the limit is 255"}
	}
	b := make([]byte, 0, 3+len(a.Username)+len(a.Password))
	b = append(b, authVersion, byte(len(a.Username)))
	b = append(b, a.Username...)
	b = append(b, byte(len(a.Password)))
	b = append(b, a.Password...)
	return b, nil
}

// readReply reads a SOCKS5 reply (VER REP RSV ATYP BND.ADDR BND.PORT) and
// returns its bound address, or a *ReplyError for a failure code. A failure
// code is reported as soon as it is read, even if the rest of the reply
// never comes.
func readReply(conn net.Conn, what string) (Addr, error) {
	var hdr [5]byte // VER REP RSV ATYP and the first address byte
	n, err := readFull(conn, hdr[:], proto5, "proxy", what)
	if n >= 1 && hdr[0] != Version5 {
		return Addr{}, clientVersionError(what, hdr[:n])
	}
	if n >= 2 && Reply(hdr[1]) != StatusSucceeded {
		return Addr{}, &ReplyError{Reply: Reply(hdr[1])}
	}
	if err != nil {
		return Addr{}, err
	}
	// RSV (hdr[2]) should be zero; tolerate anything.
	tailLen, ok := addrTail(hdr[3], hdr[4])
	if !ok {
		return Addr{}, &ProtocolError{Msg: fmt.Sprintf("unknown address type 0x%02x in %s", hdr[3], what)}
	}
	var tail [MaxNameLen + 2]byte
	if _, err := readFull(conn, tail[:tailLen], proto5, "proxy", what); err != nil {
		return Addr{}, err
	}
	return parseAddr(hdr[3], hdr[4], tail[:tailLen]), nil
}

// clientVersionError is versionError for an answer from the proxy, with a
// hint when the answer looks like HTTP.
func clientVersionError(what string, got []byte) error {
	e := versionError(proto5, what, Version5, got[0])
	if got[0] == 'H' && (len(got) < 2 || got[1] == 'T') {
		e.Msg += " (the proxy answered in HTTP: is it an HTTP proxy?)"
	}
	return e
}

// greet5 is the first half of a SOCKS5 handshake: the greeting (AuthNone,
// and AuthUsernamePassword when auth is non-nil), then the RFC 1929
// exchange when the proxy picks that method. It returns the method the
// proxy chose. Credentials too long to send fail before a byte is sent.
func greet5(conn net.Conn, auth *Auth) (AuthMethod, error) {
	offered := []AuthMethod{AuthNone}
	var authMsg []byte
	if auth != nil {
		var err error
		if authMsg, err = userPassMsg(auth); err != nil {
			return 0, err
		}
		offered = append(offered, AuthUsernamePassword)
	}
	greeting := []byte{Version5, byte(len(offered))}
	for _, m := range offered {
		greeting = append(greeting, byte(m))
	}

	if err := writeMsg(conn, greeting, proto5, "greeting"); err != nil {
		return 0, err
	}
	method, err := readMethod(conn)
	if err != nil {
		return 0, err
	}
	switch {
	case method == AuthNoAcceptableMethods:
		return 0, &AuthError{Method: method, Offered: offered}
	case method == AuthNone:
		return method, nil
	case method == AuthUsernamePassword && auth != nil:
		if err := writeMsg(conn, authMsg, proto5, "username/password"); err != nil {
			return 0, err
		}
		if err := readAuthStatus(conn, offered); err != nil {
			return 0, err
		}
		return method, nil
	default:
		return 0, &ProtocolError{Msg: "proxy chose authentication method " + method.String() + ", which was not offered"}
	}
}

// readMethod reads the proxy's method selection.
func readMethod(conn net.Conn) (AuthMethod, error) {
	var sel [2]byte // VER METHOD
	n, err := readFull(conn, sel[:], proto5, "proxy", "the method selection")
	if n >= 1 && sel[0] != Version5 {
		return 0, clientVersionError("the method selection", sel[:n])
	}
	if err != nil {
		return 0, err
	}
	return AuthMethod(sel[1]), nil
}

// readAuthStatus reads the RFC 1929 status; a refusal is an *AuthError.
func readAuthStatus(conn net.Conn, offered []AuthMethod) error {
	var st [2]byte // VER STATUS
	n, err := readFull(conn, st[:], proto5, "proxy", "the username/password status")
	// RFC 1929 says version 1; some servers echo 5. Accept both.
	if n >= 1 && st[0] != authVersion && st[0] != Version5 {
		return versionError(proto5, "the username/password status", authVersion, st[0])
	}
	if err != nil {
		return err
	}
	if st[1] != 0 {
		return &AuthError{Method: AuthUsernamePassword, Status: st[1], Offered: offered}
	}
	return nil
}

// Connect5Pipelined is Connect5 in one round trip instead of two (three
// with a password): the greeting, offering only the method it will use
// (no authentication, or username/password when auth is set), the
// credentials and the CONNECT request go out in one write, and the
// replies are read in turn. Only for proxies that read a pipelined
// request (Dante, OpenSSH, Tor and chainrun serve do; microsocks 1.0.3
// drops a CONNECT that arrives with the greeting). Errors are Connect5's.
func Connect5Pipelined(ctx context.Context, conn net.Conn, dst Addr, auth *Auth) (Addr, error) {
	var bound Addr
	err := handshake.Run(ctx, conn, proto5, func() (err error) {
		bound, err = pipelined5(conn, dst, auth)
		return err
	})
	if err != nil {
		return Addr{}, err
	}
	return bound, nil
}

// pipelined5 is Connect5Pipelined without the context handling.
func pipelined5(conn net.Conn, dst Addr, auth *Auth) (Addr, error) {
	req, err := appendAddr([]byte{Version5, byte(CmdConnect), 0}, dst)
	if err != nil {
		return Addr{}, err
	}
	method := AuthNone
	var authMsg []byte
	if auth != nil {
		if authMsg, err = userPassMsg(auth); err != nil {
			return Addr{}, err
		}
		method = AuthUsernamePassword
	}
	offered := []AuthMethod{method}
	msg := append([]byte{Version5, 1, byte(method)}, authMsg...)
	if err := writeMsg(conn, append(msg, req...), proto5, "pipelined greeting and CONNECT request"); err != nil {
		return Addr{}, err
	}
	switch got, err := readMethod(conn); {
	case err != nil:
		return Addr{}, err
	case got == AuthNoAcceptableMethods:
		return Addr{}, &AuthError{Method: got, Offered: offered}
	case got != method:
		return Addr{}, &ProtocolError{Msg: "proxy chose authentication method " + got.String() + ", which was not offered"}
	}
	if auth != nil {
		if err := readAuthStatus(conn, offered); err != nil {
			return Addr{}, err
		}
	}
	return readReply(conn, "the CONNECT reply")
}
