package chain

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/chainrun/chainrun/socks"
)

// Resolve looks name up through the chain with Tor's SOCKS5 RESOLVE
// extension (remote DNS with dns = "tor-resolve"): it opens a socket of
// its own, as Dial does, negotiates the chain up to its last hop exactly as
// a connection would (same mode, hop health, retries, timeouts and
// budget), then asks the last hop to RESOLVE name instead of connecting
// anywhere. The answer is an IPv4 address when the name has one (Tor's
// choice), else an IPv6 address. The socket is closed before Resolve
// returns.
//
// The last hop of the route must speak SOCKS5 (socks5 or socks5h: Tor's
// SocksPort); otherwise Resolve fails, before it opens a socket, with an
// error that matches syscall.EPROTONOSUPPORT. An empty name or one longer
// than 255 bytes matches syscall.EINVAL. Other errors are those of Dial,
// naming the hop; a name the last hop cannot resolve is its failure reply
// (for Tor, StatusHostUnreachable: EHOSTUNREACH), which does not count
// against the hop's health.
func (d *Dialer) Resolve(ctx context.Context, name string) (netip.Addr, error) {
	if name == "" || len(name) > socks.MaxNameLen {
		return netip.Addr{}, fmt.Errorf("resolve %q: a name must be 1 to 255 bytes long: %w", name, syscall.EINVAL)
	}
	var ip netip.Addr
	err := d.resolve(ctx, func(ctx context.Context, conn net.Conn, hop *Proxy) (err error) {
		ip, err = socks.Resolve5(ctx, conn, name, hop.Auth)
		return err
	})
	if err != nil {
		return netip.Addr{}, err
	}
	return ip, nil
}

// ResolvePTR looks the name of addr up through the chain with Tor's SOCKS5
// RESOLVE_PTR extension, as Resolve does for RESOLVE. An invalid addr
// matches syscall.EINVAL.
func (d *Dialer) ResolvePTR(ctx context.Context, addr netip.Addr) (string, error) {
	if !addr.IsValid() {
		return "", fmt.Errorf("reverse lookup of an invalid address: %w", syscall.EINVAL)
	}
	var name string
	err := d.resolve(ctx, func(ctx context.Context, conn net.Conn, hop *Proxy) (err error) {
		name, err = socks.ResolvePTR5(ctx, conn, addr, hop.Auth)
		return err
	})
	if err != nil {
		return "", err
	}
	return name, nil
}

// resolve negotiates the chain on a socket of its own and asks the last
// hop last, which must be one of Tor's SOCKS5 requests.
func (d *Dialer) resolve(ctx context.Context, last hopRequest) error {
	var own ownSocket
	open := func(route Route) (int, int, error) {
		if err := socks5Last(route); err != nil {
			return -1, 0, err
		}
		return own.open(route)
	}
	if _, err := d.attempts(ctx, last, open, own.failed); err != nil {
		return err
	}
	unix.Close(own.fd)
	return nil
}

// socks5Last checks that the route's last hop can answer Tor's RESOLVE and
// RESOLVE_PTR.
func socks5Last(route Route) error {
	hop := route[len(route)-1]
	switch hop.Scheme {
	case SOCKS5, SOCKS5H:
		return nil
	}
	return fmt.Errorf("dns = tor-resolve needs a SOCKS5 last hop (Tor's SocksPort), hop %d is %s (%s): %w",
		len(route), hop.Scheme, hop, syscall.EPROTONOSUPPORT)
}
