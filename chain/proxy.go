package chain

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/chainrun/chainrun/socks"
)

// Scheme is a hop's protocol, named as in a proxy URL.
type Scheme string

// The hop protocols chainrun speaks.
const (
	// SOCKS5 resolves host names of proxies locally (curl's socks5://).
	// Destinations reach it as addresses, since connect() carries one.
	SOCKS5 Scheme = "socks5"
	// SOCKS5H hands names to the proxy to resolve (curl's socks5h://).
	SOCKS5H Scheme = "socks5h"
	// SOCKS4 reaches IPv4 addresses only.
	SOCKS4 Scheme = "socks4"
	// SOCKS4A also hands host names to the proxy (the 0.0.0.x convention).
	SOCKS4A Scheme = "socks4a"
	// HTTP is an HTTP proxy asked for a tunnel with CONNECT.
	HTTP Scheme = "http"
)

const defaultSOCKSPort = 1080

// Proxy is one hop of a chain.
type Proxy struct {
	Scheme Scheme
	// Host is the proxy's host as written: an IP literal or a name.
	Host string
	Port uint16
	// Auth holds credentials, or nil.
	Auth *socks.Auth

	// addrs are Host's addresses, filled by Resolve for the first hop.
	addrs []netip.Addr
}

// ParseProxy parses a proxy URL: scheme://[user[:password]@]host[:port],
// with IPv6 literals in brackets and percent-encoded credentials.
func ParseProxy(raw string) (*Proxy, error) {
	if !strings.Contains(raw, "://") {
		return nil, fmt.Errorf("proxy %q: want scheme://host:port, e.g. socks5://127.0.0.1:1080", redactRaw(raw))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("proxy %q: %w", redactRaw(raw), unwrapURLError(err))
	}
	if u.Scheme == "" || u.Opaque != "" || u.Host == "" {
		return nil, fmt.Errorf("proxy %q: want scheme://host:port, e.g. socks5://127.0.0.1:1080", redactRaw(raw))
	}
	p := &Proxy{Scheme: Scheme(strings.ToLower(u.Scheme))}
	switch p.Scheme {
	case SOCKS5, SOCKS5H, SOCKS4, SOCKS4A, HTTP:
	default:
		return nil, fmt.Errorf("proxy %q: unsupported scheme %q (supported: socks5, socks5h, socks4, socks4a, http)", redactRaw(raw), u.Scheme)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("proxy %q: a proxy URL has no path, query or fragment", redactRaw(raw))
	}
	p.Host = u.Hostname()
	if p.Host == "" {
		return nil, fmt.Errorf("proxy %q: no host", redactRaw(raw))
	}
	p.Port = defaultSOCKSPort
	if ps := u.Port(); ps != "" {
		n, err := strconv.ParseUint(ps, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("proxy %q: bad port %q", redactRaw(raw), ps)
		}
		p.Port = uint16(n)
	}
	if u.User != nil {
		pass, hasPass := u.User.Password()
		p.Auth = &socks.Auth{Username: u.User.Username(), Password: pass}
		switch {
		case len(p.Auth.Username) == 0 || len(p.Auth.Username) > 255 || len(pass) > 255:
			return nil, fmt.Errorf("proxy %q: the user name must be 1–255 bytes and the password at most 255", redactRaw(raw))
		case (p.Scheme == SOCKS4 || p.Scheme == SOCKS4A) && hasPass:
			return nil, fmt.Errorf("proxy %q: SOCKS4 carries a user id but no password", redactRaw(raw))
		case p.Scheme == HTTP && strings.Contains(p.Auth.Username, ":"):
			return nil, fmt.Errorf("proxy %q: an HTTP proxy user name cannot contain ':'", redactRaw(raw))
		}
	}
	if ip, err := netip.ParseAddr(p.Host); err == nil {
		p.addrs = []netip.Addr{ip.Unmap()}
	}
	return p, nil
}

// String is the URL with any password replaced by ***: safe for logs.
func (p *Proxy) String() string {
	var b strings.Builder
	b.WriteString(string(p.Scheme))
	b.WriteString("://")
	if p.Auth != nil {
		b.WriteString(url.User(p.Auth.Username).String())
		if p.Auth.Password != "" {
			b.WriteString(":***")
		}
		b.WriteString("@")
	}
	b.WriteString(net.JoinHostPort(p.Host, strconv.Itoa(int(p.Port))))
	return b.String()
}

// Resolve looks up the proxy's host name, if it is one, with chainrun's own
// resolver (chainrun is not traced). It is needed for the first hop only:
// later hops are reached through the hop before, which resolves them.
func (p *Proxy) Resolve(ctx context.Context, r *net.Resolver) error {
	if len(p.addrs) > 0 {
		return nil
	}
	ips, err := r.LookupNetIP(ctx, "ip", p.Host)
	if err != nil {
		return fmt.Errorf("resolving proxy %s: %w", p, err)
	}
	for _, ip := range ips {
		p.addrs = append(p.addrs, ip.Unmap())
	}
	if len(p.addrs) == 0 {
		return fmt.Errorf("resolving proxy %s: no addresses", p)
	}
	return nil
}

// Addrs are the proxy's resolved addresses with its port.
func (p *Proxy) Addrs() []netip.AddrPort {
	out := make([]netip.AddrPort, len(p.addrs))
	for i, a := range p.addrs {
		out[i] = netip.AddrPortFrom(a, p.Port)
	}
	return out
}

// target is how the hop before this one is asked to reach it.
func (p *Proxy) target() socks.Addr {
	if ip, err := netip.ParseAddr(p.Host); err == nil {
		return socks.Addr{IP: ip.Unmap(), Port: p.Port}
	}
	return socks.Addr{Name: p.Host, Port: p.Port}
}

// redactRaw hides the password of a URL that may not parse.
func redactRaw(raw string) string {
	at := strings.LastIndex(raw, "@")
	scheme := strings.Index(raw, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return raw
	}
	creds := raw[scheme+3 : at]
	if i := strings.Index(creds, ":"); i >= 0 {
		return raw[:scheme+3] + creds[:i] + ":***" + raw[at:]
	}
	return raw
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
