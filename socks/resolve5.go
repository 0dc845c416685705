package socks

import (
	"context"
	"net"
	"net/netip"
	"strconv"
)

// Resolve5 asks the SOCKS5 proxy at the other end of conn to resolve name,
// with Tor's RESOLVE command (CmdResolve, Tor's socks-extensions.txt): a
// request like CONNECT for name with port 0, whose reply carries the
// address, IPv4 or IPv6, in BND.ADDR. Tor answers with an IPv4 address
// when the name has one. No connection is made through the proxy; conn is
// of no further use once Resolve5 returns.
//
// Authentication, context handling and errors are those of Connect5: a
// failure reply (a name that does not resolve is StatusHostUnreachable for
// Tor) is a *ReplyError that matches its Reply.Errno, and so on. An empty
// name or one longer than 255 bytes fails with an error that matches
// syscall.EINVAL before anything is sent. A success reply whose BND.ADDR
// is a domain name rather than an address is a *ProtocolError
// (syscall.EPROTO).
func Resolve5(ctx context.Context, conn net.Conn, name string, auth *Auth) (netip.Addr, error) {
	if name == "" {
		return netip.Addr{}, &invalidArgError{msg: "empty name to resolve"}
	}
	bound, err := run5(ctx, conn, CmdResolve, Addr{Name: name}, auth)
	if err != nil {
		return netip.Addr{}, err
	}
	if bound.Name != "" || !bound.IP.IsValid() {
		return netip.Addr{}, &ProtocolError{Msg: "the RESOLVE reply carries the name " + quoteName(bound.Name) + ", not an address"}
	}
	return bound.IP, nil
}

// ResolvePTR5 asks the SOCKS5 proxy at the other end of conn for the name
// of addr, with Tor's RESOLVE_PTR command (CmdResolvePTR): the request
// carries addr (an IPv4-mapped IPv6 address goes as IPv4) with port 0, and
// the reply carries the name in BND.ADDR, as a domain name. No connection
// is made through the proxy.
//
// Authentication, context handling and errors are those of Connect5. An
// invalid addr fails with an error that matches syscall.EINVAL before
// anything is sent. A success reply that carries an address instead of a
// name, or an empty name, is a *ProtocolError (syscall.EPROTO).
func ResolvePTR5(ctx context.Context, conn net.Conn, addr netip.Addr, auth *Auth) (string, error) {
	if !addr.IsValid() {
		return "", &invalidArgError{msg: "no address to resolve"}
	}
	bound, err := run5(ctx, conn, CmdResolvePTR, Addr{IP: addr.WithZone("")}, auth)
	if err != nil {
		return "", err
	}
	if bound.Name == "" {
		what := "an empty name"
		if bound.IP.IsValid() {
			what = "the address " + bound.IP.String() + ", not a name"
		}
		return "", &ProtocolError{Msg: "the RESOLVE_PTR reply carries " + what}
	}
	return bound.Name, nil
}

// quoteName quotes a name from the proxy for an error message, cut to a
// readable length.
func quoteName(name string) string {
	const maxShown = 64
	if len(name) > maxShown {
		return strconv.Quote(name[:maxShown]) + "…"
	}
	return strconv.Quote(name)
}
