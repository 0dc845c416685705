package socks

import (
	"net"
	"net/netip"
	"strconv"
	"syscall"
)

// The protocol version bytes: a client's first message starts with one.
const (
	Version4 = 0x04 // SOCKS4 and SOCKS4a
	Version5 = 0x05 // SOCKS5 (RFC 1928)
)

// version4Reply is the VN byte of a SOCKS4 reply: 0, not 4.
const version4Reply = 0x00

// authVersion is the version byte of the RFC 1929 username/password
// subnegotiation.
const authVersion = 0x01

// Address types of RFC 1928, section 5.
const (
	atypIPv4   = 0x01
	atypDomain = 0x03
	atypIPv6   = 0x04
)

// MaxNameLen is the longest domain name, username or password that fits in
// a SOCKS5 length byte.
const MaxNameLen = 255

// A Command is a SOCKS5 request command (RFC 1928, section 4, and Tor's
// extensions).
type Command byte

// The SOCKS5 commands.
const (
	CmdConnect      Command = 0x01 // establish a TCP connection
	CmdBind         Command = 0x02 // accept one inbound TCP connection
	CmdUDPAssociate Command = 0x03 // relay UDP datagrams

	// Tor's extensions (Tor's socks-extensions.txt): the proxy resolves a
	// name, or an address back to a name, and answers in the reply's
	// BND.ADDR; no connection is made.
	CmdResolve    Command = 0xf0 // resolve a domain name to an IPv4 or IPv6 address
	CmdResolvePTR Command = 0xf1 // resolve an IP address to a name (reverse lookup)
)

// String returns the command's name as RFC 1928 (or, for Tor's
// extensions, socks-extensions.txt) spells it.
func (c Command) String() string {
	switch c {
	case CmdConnect:
		return "CONNECT"
	case CmdBind:
		return "BIND"
	case CmdUDPAssociate:
		return "UDP ASSOCIATE"
	case CmdResolve:
		return "RESOLVE"
	case CmdResolvePTR:
		return "RESOLVE_PTR"
	}
	return "unknown command 0x" + hex2(byte(c))
}

// An AuthMethod is a SOCKS5 authentication method (RFC 1928, section 3).
type AuthMethod byte

// The SOCKS5 authentication methods.
const (
	AuthNone                AuthMethod = 0x00 // no authentication required
	AuthGSSAPI              AuthMethod = 0x01 // GSS-API (RFC 1961), not implemented here
	AuthUsernamePassword    AuthMethod = 0x02 // username/password (RFC 1929)
	AuthNoAcceptableMethods AuthMethod = 0xff // the server accepts none of the offered methods
)

// String returns a short description of the method.
func (m AuthMethod) String() string {
	switch m {
	case AuthNone:
		return "no authentication"
	case AuthGSSAPI:
		return "GSS-API"
	case AuthUsernamePassword:
		return "username/password"
	case AuthNoAcceptableMethods:
		return "no acceptable methods"
	}
	return "unknown method 0x" + hex2(byte(m))
}

// A Reply is the status code of a SOCKS5 reply (RFC 1928, section 6).
type Reply byte

// The SOCKS5 reply codes.
const (
	StatusSucceeded               Reply = 0x00 // succeeded
	StatusGeneralFailure          Reply = 0x01 // general SOCKS server failure
	StatusNotAllowed              Reply = 0x02 // connection not allowed by ruleset
	StatusNetworkUnreachable      Reply = 0x03 // network unreachable
	StatusHostUnreachable         Reply = 0x04 // host unreachable
	StatusConnectionRefused       Reply = 0x05 // connection refused
	StatusTTLExpired              Reply = 0x06 // TTL expired
	StatusCommandNotSupported     Reply = 0x07 // command not supported
	StatusAddressTypeNotSupported Reply = 0x08 // address type not supported
)

// Tor's extended reply codes for onion services (Tor proposal 304), sent
// only by a SocksPort with the ExtendedErrors flag.
const (
	StatusOnionDescNotFound      Reply = 0xf0 // the service's descriptor cannot be found on the hash ring
	StatusOnionDescInvalid       Reply = 0xf1 // the descriptor cannot be parsed or its signature is bad
	StatusOnionIntroFailed       Reply = 0xf2 // no introduction point reaches the service
	StatusOnionRendezvousFailed  Reply = 0xf3 // the rendezvous with the service could not be finished
	StatusOnionMissingClientAuth Reply = 0xf4 // the service needs client authorization, none is configured
	StatusOnionWrongClientAuth   Reply = 0xf5 // the configured client authorization is refused
	StatusOnionBadAddress        Reply = 0xf6 // the .onion address is malformed
	StatusOnionIntroTimedOut     Reply = 0xf7 // the introduction timed out
)

// String returns the reply's meaning as RFC 1928 words it (or, for Tor's
// extended codes, a short form of proposal 304's wording), or
// "unknown reply 0x2a" for a code neither defines.
func (r Reply) String() string {
	switch r {
	case StatusSucceeded:
		return "succeeded"
	case StatusGeneralFailure:
		return "general SOCKS server failure"
	case StatusNotAllowed:
		return "connection not allowed by ruleset"
	case StatusNetworkUnreachable:
		return "network unreachable"
	case StatusHostUnreachable:
		return "host unreachable"
	case StatusConnectionRefused:
		return "connection refused"
	case StatusTTLExpired:
		return "TTL expired"
	case StatusCommandNotSupported:
		return "command not supported"
	case StatusAddressTypeNotSupported:
		return "address type not supported"
	case StatusOnionDescNotFound:
		return "onion service descriptor not found"
	case StatusOnionDescInvalid:
		return "onion service descriptor invalid"
	case StatusOnionIntroFailed:
		return "onion service introduction failed"
	case StatusOnionRendezvousFailed:
		return "onion service rendezvous failed"
	case StatusOnionMissingClientAuth:
		return "onion service missing client authorization"
	case StatusOnionWrongClientAuth:
		return "onion service wrong client authorization"
	case StatusOnionBadAddress:
		return "onion service invalid address"
	case StatusOnionIntroTimedOut:
		return "onion service introduction timed out"
	}
	return "unknown reply 0x" + hex2(byte(r))
}

// Errno returns the error number a connect(2) through the proxy should fail
// with when the proxy answers r: ECONNREFUSED for a general failure, a
// ruleset refusal, a refused connection and any unknown code; ENETUNREACH,
// EHOSTUNREACH, ETIMEDOUT (TTL expired), EOPNOTSUPP (command not supported)
// and EAFNOSUPPORT (address type not supported) for the others. It returns 0
// for StatusSucceeded.
//
// Tor's onion service codes map to what the program could do about them: a
// service that cannot be reached (descriptor not found or invalid,
// introduction or rendezvous failed) is EHOSTUNREACH, as an unreachable
// host, since the program may try another address; an introduction that
// timed out is ETIMEDOUT; a missing or wrong client authorization is
// EACCES, as a permission refused; a malformed .onion address is EINVAL,
// as connect(2) says for an address it cannot use: retrying cannot help.
func (r Reply) Errno() syscall.Errno {
	switch r {
	case StatusSucceeded:
		return 0
	case StatusNetworkUnreachable:
		return syscall.ENETUNREACH
	case StatusHostUnreachable,
		StatusOnionDescNotFound, StatusOnionDescInvalid,
		StatusOnionIntroFailed, StatusOnionRendezvousFailed:
		return syscall.EHOSTUNREACH
	case StatusTTLExpired, StatusOnionIntroTimedOut:
		return syscall.ETIMEDOUT
	case StatusCommandNotSupported:
		return syscall.EOPNOTSUPP
	case StatusAddressTypeNotSupported:
		return syscall.EAFNOSUPPORT
	case StatusOnionMissingClientAuth, StatusOnionWrongClientAuth:
		return syscall.EACCES
	case StatusOnionBadAddress:
		return syscall.EINVAL
	}
	// StatusGeneralFailure, StatusNotAllowed, StatusConnectionRefused and
	// codes the RFC does not define.
	return syscall.ECONNREFUSED
}

// A Reply4 is the status code (the CD field) of a SOCKS4 or SOCKS4a reply.
type Reply4 byte

// The SOCKS4 reply codes.
const (
	Status4Granted       Reply4 = 0x5a // request granted
	Status4Rejected      Reply4 = 0x5b // request rejected or failed
	Status4NoIdentd      Reply4 = 0x5c // rejected: the server cannot reach identd on the client
	Status4IdentMismatch Reply4 = 0x5d // rejected: identd and the client report different user IDs
)

// String returns the reply's meaning as the SOCKS4 protocol words it, or
// "unknown reply 0x2a" for a code it does not define.
func (r Reply4) String() string {
	switch r {
	case Status4Granted:
		return "request granted"
	case Status4Rejected:
		return "request rejected or failed"
	case Status4NoIdentd:
		return "request rejected because SOCKS server cannot connect to identd on the client"
	case Status4IdentMismatch:
		return "request rejected because the client program and identd report different user-ids"
	}
	return "unknown reply 0x" + hex2(byte(r))
}

// Errno returns the error number a connect(2) through the proxy should fail
// with when the proxy answers r: ECONNREFUSED for Status4Rejected and any
// unknown code, EACCES for the two identd refusals. It returns 0 for
// Status4Granted.
func (r Reply4) Errno() syscall.Errno {
	switch r {
	case Status4Granted:
		return 0
	case Status4NoIdentd, Status4IdentMismatch:
		return syscall.EACCES
	}
	return syscall.ECONNREFUSED
}

// An Addr is a SOCKS destination or bound address: either an IP address
// (when Name is empty) or a domain name, plus a port.
type Addr struct {
	IP   netip.Addr // valid when Name == ""
	Name string     // domain name, at most MaxNameLen bytes
	Port uint16
}

// AddrFromAddrPort returns the Addr for ap. An IPv4-mapped IPv6 address is
// unmapped to plain IPv4, so that it goes over the wire as an IPv4 address.
func AddrFromAddrPort(ap netip.AddrPort) Addr {
	return Addr{IP: ap.Addr().Unmap(), Port: ap.Port()}
}

// String returns "1.2.3.4:80", "[::1]:80" or "example.com:443". An Addr with
// neither a name nor a valid IP prints as ":port".
func (a Addr) String() string {
	port := strconv.Itoa(int(a.Port))
	switch {
	case a.Name != "":
		return net.JoinHostPort(a.Name, port)
	case a.IP.IsValid():
		return netip.AddrPortFrom(a.IP, a.Port).String()
	}
	return ":" + port
}

// Network returns "socks", so that an Addr is a net.Addr.
func (a Addr) Network() string { return "socks" }

// Auth holds RFC 1929 username/password credentials. A nil *Auth offers only
// AuthNone.
type Auth struct {
	Username, Password string
}

// hex2 formats b as two lower-case hex digits.
func hex2(b byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[b>>4], digits[b&0x0f]})
}
