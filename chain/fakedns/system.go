package fakedns

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"
)

// systemExchanger queries this machine's nameservers, as listed in a
// resolv.conf.
type systemExchanger struct {
	resolvConf string
	port       uint16        // 53; tests point it elsewhere
	timeout    time.Duration // per server and transport
}

// Limits of the system exchanger, after glibc's resolver.
const (
	systemTimeout  = 2 * time.Second
	maxNameservers = 3
)

// NewSystemExchanger returns an [Exchanger] that queries the nameservers of
// the resolv.conf file at path, read at each query: over UDP with a 2 s
// timeout per server, moving on to the next server on a timeout, an error,
// SERVFAIL or REFUSED, and over TCP when a reply is truncated. Replies whose
// ID does not match are ignored. With no nameserver listed it asks
// 127.0.0.1 and ::1, as glibc does.
func NewSystemExchanger(resolvConf string) Exchanger {
	return &systemExchanger{resolvConf: resolvConf, port: 53, timeout: systemTimeout}
}

// Exchange implements [Exchanger].
func (s *systemExchanger) Exchange(ctx context.Context, query []byte) ([]byte, error) {
	if len(query) < headerLen || len(query) > maxMsgLen {
		return nil, fmt.Errorf("fakedns: query of %d bytes", len(query))
	}
	servers, err := readNameservers(s.resolvConf)
	if err != nil {
		return nil, err
	}
	var errs []error
	var fallback []byte // a SERVFAIL or REFUSED reply, if no server does better
	for _, ns := range servers {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		reply, err := s.exchangeOne(ctx, netip.AddrPortFrom(ns, s.port), query)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if rc := reply[3] & 0x0f; rc == 2 || rc == 5 { // SERVFAIL, REFUSED
			fallback = reply
			continue
		}
		return reply, nil
	}
	if fallback != nil {
		return fallback, nil
	}
	return nil, fmt.Errorf("fakedns: no nameserver of %s answered: %w", s.resolvConf, errors.Join(errs...))
}

// exchangeOne asks one server over UDP, then over TCP if the reply is
// truncated.
func (s *systemExchanger) exchangeOne(ctx context.Context, ns netip.AddrPort, query []byte) ([]byte, error) {
	reply, err := s.exchangeUDP(ctx, ns, query)
	if err != nil {
		return nil, err
	}
	if reply[2]&0x02 == 0 { // TC
		return reply, nil
	}
	tctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(tctx, "tcp", ns.String())
	if err != nil {
		return nil, fmt.Errorf("fakedns: truncated reply from %v, then: %w", ns, err)
	}
	defer c.Close()
	return exchangeTCP(tctx, c, query)
}

// exchangeUDP sends query to ns from a connected UDP socket, so that only
// ns can answer, and returns the first reply with the query's ID.
func (s *systemExchanger) exchangeUDP(ctx context.Context, ns netip.AddrPort, query []byte) ([]byte, error) {
	uctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(uctx, "udp", ns.String())
	if err != nil {
		return nil, fmt.Errorf("fakedns: querying %v: %w", ns, err)
	}
	defer c.Close()
	deadline, _ := uctx.Deadline()
	c.SetDeadline(deadline)
	stop := context.AfterFunc(uctx, func() { c.SetDeadline(aLongTimeAgo) })
	defer stop()
	if _, err := c.Write(query); err != nil {
		return nil, fmt.Errorf("fakedns: querying %v: %w", ns, ctxErr(uctx, err))
	}
	buf := make([]byte, maxMsgLen)
	for range 64 { // replies that are not ours are skipped, a bounded number
		n, err := c.Read(buf)
		if err != nil {
			return nil, fmt.Errorf("fakedns: waiting for %v: %w", ns, ctxErr(uctx, err))
		}
		if checkReply(query, buf[:n]) == nil {
			return append([]byte(nil), buf[:n]...), nil
		}
	}
	return nil, fmt.Errorf("fakedns: no reply from %v matched the query", ns)
}

// readNameservers returns the nameserver addresses of a resolv.conf (at
// most three, as glibc uses), or the loopback addresses when it has none.
func readNameservers(path string) ([]netip.Addr, error) {
	f, err := os.Open(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("fakedns: reading nameservers: %w", err)
	}
	var servers []netip.Addr
	if err == nil {
		defer f.Close()
		servers = parseNameservers(io.LimitReader(f, 1<<20))
	}
	if len(servers) == 0 {
		servers = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()}
	}
	return servers, nil
}

// parseNameservers reads "nameserver ADDR" lines; others are ignored.
func parseNameservers(r io.Reader) []netip.Addr {
	var servers []netip.Addr
	sc := bufio.NewScanner(r)
	for sc.Scan() && len(servers) < maxNameservers {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(f[1])
		if err != nil {
			continue
		}
		servers = append(servers, a.Unmap())
	}
	return servers
}
