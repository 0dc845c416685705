package socks

import (
	"errors"
	"strings"
	"syscall"
)

// ErrAuth is matched (with errors.Is) by every authentication failure: a
// proxy that accepts none of the offered methods, a proxy that rejects the
// username and password, and, on the server side, a client that offers no
// acceptable method or wrong credentials.
var ErrAuth = errors.New("socks: authentication failed")

// A ReplyError is a SOCKS5 reply with a code other than StatusSucceeded.
// errors.Is(err, errno) holds for the errno of Reply.Errno.
type ReplyError struct {
	Reply Reply
}

// Error describes the proxy's answer, e.g.
// "socks5: connection refused by destination".
func (e *ReplyError) Error() string {
	var s string
	switch e.Reply {
	case StatusSucceeded:
		s = "proxy reported success"
	case StatusGeneralFailure:
		s = "general SOCKS server failure"
	case StatusNotAllowed:
		s = "connection not allowed by ruleset"
	case StatusNetworkUnreachable:
		s = "network unreachable from proxy"
	case StatusHostUnreachable:
		s = "host unreachable from proxy"
	case StatusConnectionRefused:
		s = "connection refused by destination"
	case StatusTTLExpired:
		s = "TTL expired (connection to destination timed out)"
	case StatusCommandNotSupported:
		s = "command not supported by proxy"
	case StatusAddressTypeNotSupported:
		s = "address type not supported by proxy"
	case StatusOnionDescNotFound, StatusOnionDescInvalid, StatusOnionIntroFailed, StatusOnionRendezvousFailed,
		StatusOnionMissingClientAuth, StatusOnionWrongClientAuth, StatusOnionBadAddress, StatusOnionIntroTimedOut:
		s = e.Reply.String() + " (Tor extended error 0x" + hex2(byte(e.Reply)) + ")"
	default:
		s = "proxy sent " + e.Reply.String()
	}
	return "socks5: " + s
}

// Unwrap returns the errno of the reply, so that errors.Is(err,
// syscall.ECONNREFUSED) and the like work.
func (e *ReplyError) Unwrap() error {
	if errno := e.Reply.Errno(); errno != 0 {
		return errno
	}
	return nil
}

// A Reply4Error is a SOCKS4 reply with a code other than Status4Granted.
// errors.Is(err, errno) holds for the errno of Reply.Errno.
type Reply4Error struct {
	Reply Reply4
}

// Error describes the proxy's answer, e.g.
// "socks4: request rejected or failed by proxy".
func (e *Reply4Error) Error() string {
	var s string
	switch e.Reply {
	case Status4Granted:
		s = "proxy reported success"
	case Status4Rejected:
		s = "request rejected or failed by proxy"
	case Status4NoIdentd:
		s = "request rejected by proxy: it cannot reach identd on the client"
	case Status4IdentMismatch:
		s = "request rejected by proxy: identd on the client reports another user ID"
	default:
		s = "proxy sent " + e.Reply.String()
	}
	return "socks4: " + s
}

// Unwrap returns the errno of the reply, so that errors.Is(err,
// syscall.ECONNREFUSED) and the like work.
func (e *Reply4Error) Unwrap() error {
	if errno := e.Reply.Errno(); errno != 0 {
		return errno
	}
	return nil
}

// An AuthError is a failed SOCKS5 authentication. Method is the method the
// proxy chose: AuthNoAcceptableMethods when it accepts none of the offered
// methods, AuthUsernamePassword when it rejected the credentials, in which
// case Status is the non-zero RFC 1929 status it sent. Offered lists the
// methods the client offered.
//
// errors.Is(err, ErrAuth) and errors.Is(err, syscall.ECONNREFUSED) hold.
type AuthError struct {
	Method  AuthMethod
	Status  byte
	Offered []AuthMethod
}

// Error describes the failure, e.g.
// "socks5: proxy requires username/password authentication".
func (e *AuthError) Error() string {
	if e.Method == AuthUsernamePassword {
		return "socks5: username/password rejected by proxy (status 0x" + hex2(e.Status) + ")"
	}
	if len(e.Offered) == 1 && e.Offered[0] == AuthNone {
		return "socks5: proxy requires username/password authentication (no credentials configured)"
	}
	var names []string
	for _, m := range e.Offered {
		names = append(names, m.String())
	}
	return "socks5: proxy accepts none of the offered authentication methods (" + strings.Join(names, ", ") + ")"
}

// Unwrap returns ErrAuth and syscall.ECONNREFUSED.
func (e *AuthError) Unwrap() []error {
	return []error{ErrAuth, syscall.ECONNREFUSED}
}

// A ProtocolError is a message that breaks the protocol: a wrong version
// byte, an unknown address type, a method the client did not offer, and the
// like. errors.Is(err, syscall.EPROTO) holds.
type ProtocolError struct {
	Msg string

	proto string // "socks4", "socks5" or "socks"; empty means "socks5"
}

// Error returns "socks5: protocol error: " followed by Msg ("socks4: " for
// a SOCKS4 or SOCKS4a message, "socks: " for an unknown version byte).
func (e *ProtocolError) Error() string {
	proto := e.proto
	if proto == "" {
		proto = proto5
	}
	return proto + ": protocol error: " + e.Msg
}

// Unwrap returns syscall.EPROTO.
func (e *ProtocolError) Unwrap() error {
	return syscall.EPROTO
}

// closedError reports that the peer closed the connection in the middle of
// the handshake. errors.Is(err, syscall.ECONNRESET) holds, and so does
// errors.Is(err, io.EOF) or io.ErrUnexpectedEOF, whichever the read returned.
type closedError struct {
	proto string // "socks4", "socks5" or "socks"
	peer  string // "proxy" or "client"
	stage string // what was being read, e.g. "the CONNECT reply"
	err   error  // io.EOF or io.ErrUnexpectedEOF
}

func (e *closedError) Error() string {
	return e.proto + ": " + e.peer + " closed the connection during the handshake (reading " + e.stage + ")"
}

func (e *closedError) Unwrap() []error {
	return []error{syscall.ECONNRESET, e.err}
}

// invalidArgError is a request the client refuses to send, such as an empty
// domain name. errors.Is(err, syscall.EINVAL) holds.
type invalidArgError struct {
	proto string // empty means "socks5"
	msg   string
}

func (e *invalidArgError) Error() string {
	if e.proto == "" {
		return proto5 + ": " + e.msg
	}
	return e.proto + ": " + e.msg
}

func (e *invalidArgError) Unwrap() error { return syscall.EINVAL }
