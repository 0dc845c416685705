package fakedns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Server limits.
const (
	// MaxNameservers is the most distinct nameservers a Server stands for.
	MaxNameservers = 64
	// maxUDPInFlight bounds the UDP queries being answered at once; more
	// are dropped, so that a flood cannot grow memory.
	maxUDPInFlight = 128
	// maxTCPConns bounds the DNS-over-TCP connections open at once.
	maxTCPConns = 64
	// tcpIdleTimeout closes a TCP connection that sends no query.
	tcpIdleTimeout = 10 * time.Second
	// writeTimeout bounds one reply's write.
	writeTimeout = 2 * time.Second
)

// Server owns the loopback listeners the tracer points the program's DNS
// sockets at, and answers what arrives there with a [Resolver]. It is safe
// for concurrent use.
type Server struct {
	r      *Resolver
	logf   func(format string, args ...any)
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	sem    chan struct{} // UDP queries in flight
	drops  atomic.Uint64
	idle   time.Duration // TCP idle timeout; tests shorten it

	// nsOf maps each UDP listener address to the nameserver it stands
	// for. It is replaced, never changed, so that Nameserver reads it
	// without a lock.
	nsOf atomic.Pointer[map[netip.AddrPort]netip.AddrPort]

	mu      sync.Mutex
	closed  bool
	udp     map[netip.AddrPort]udpPair // by nameserver
	udpSock []*net.UDPConn
	tcp     [2]netip.AddrPort // by family: 0 IPv4, 1 IPv6
	tcpLn   []net.Listener
	conns   map[net.Conn]struct{}
}

// udpPair is the listener addresses standing for one nameserver.
type udpPair struct{ v4, v6 netip.AddrPort }

// NewServer returns a Server that answers with r and reports trouble with
// logf (nil discards). It opens no socket until an endpoint is asked for.
func NewServer(r *Resolver, logf func(format string, args ...any)) *Server {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		r:      r,
		logf:   logf,
		ctx:    ctx,
		cancel: cancel,
		idle:   tcpIdleTimeout,
		sem:    make(chan struct{}, maxUDPInFlight),
		udp:    make(map[netip.AddrPort]udpPair),
		conns:  make(map[net.Conn]struct{}),
	}
}

// errClosed is returned for endpoints asked of a closed Server.
var errClosed = errors.New("fakedns: server closed")

// UDPEndpoint returns the loopback address of the UDP listener that stands
// for nameserver ns, for a program socket of the given family
// (unix.AF_INET gives 127.0.0.1:P, unix.AF_INET6 [::1]:P, or
// [::ffff:127.0.0.1]:P when the host has no ::1). The listeners are opened
// on first use, one pair per distinct ns, at most [MaxNameservers]. ns is
// a key, kept as given for [Server.Nameserver]; nothing is sent to it.
func (s *Server) UDPEndpoint(ns netip.AddrPort, family int) (netip.AddrPort, error) {
	if family != unix.AF_INET && family != unix.AF_INET6 {
		return netip.AddrPort{}, fmt.Errorf("fakedns: DNS socket of address family %d", family)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return netip.AddrPort{}, errClosed
	}
	pair, ok := s.udp[ns]
	if !ok {
		if len(s.udp) >= MaxNameservers {
			return netip.AddrPort{}, fmt.Errorf("fakedns: DNS to %v: more than %d nameservers", ns, MaxNameservers)
		}
		var err error
		if pair, err = s.listenUDPLocked(); err != nil {
			return netip.AddrPort{}, fmt.Errorf("fakedns: DNS to %v: %w", ns, err)
		}
		s.udp[ns] = pair
		m := make(map[netip.AddrPort]netip.AddrPort, 2*len(s.udp))
		for ns, p := range s.udp {
			m[p.v4] = ns
			m[p.v6] = ns
		}
		s.nsOf.Store(&m)
	}
	if family == unix.AF_INET {
		return pair.v4, nil
	}
	return pair.v6, nil
}

// Nameserver returns the nameserver the UDP listener at listener stands
// for (IPv4-mapped addresses are unmapped). It takes no lock and does not
// allocate: the tracer calls it to give the replies a program receives
// the source address of the server it asked.
func (s *Server) Nameserver(listener netip.AddrPort) (netip.AddrPort, bool) {
	m := s.nsOf.Load()
	if m == nil {
		return netip.AddrPort{}, false
	}
	ns, ok := (*m)[netip.AddrPortFrom(listener.Addr().Unmap().WithZone(""), listener.Port())]
	return ns, ok
}

// TCPEndpoint returns the loopback address of the DNS-over-TCP listener
// for program sockets of the given family, one for every nameserver. It is
// opened on first use.
func (s *Server) TCPEndpoint(family int) (netip.AddrPort, error) {
	var i int
	switch family {
	case unix.AF_INET:
		i = 0
	case unix.AF_INET6:
		i = 1
	default:
		return netip.AddrPort{}, fmt.Errorf("fakedns: DNS socket of address family %d", family)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return netip.AddrPort{}, errClosed
	}
	if s.tcp[i].IsValid() {
		return s.tcp[i], nil
	}
	var err error
	if s.tcp[i], err = s.listenTCPLocked(i == 1); err != nil {
		return netip.AddrPort{}, fmt.Errorf("fakedns: DNS over TCP: %w", err)
	}
	return s.tcp[i], nil
}

// Drops is the number of UDP queries dropped because too many were being
// answered already.
func (s *Server) Drops() uint64 { return s.drops.Load() }

// Close closes the listeners and connections, and waits for every
// goroutine of the server to return.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.cancel()
	var errs []error
	for _, c := range s.udpSock {
		errs = append(errs, c.Close())
	}
	for _, ln := range s.tcpLn {
		errs = append(errs, ln.Close())
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("fakedns: closing server: %w", err)
	}
	return nil
}

// mappedLoopback is 127.0.0.1 as an IPv4-mapped IPv6 address, for IPv6
// sockets on a host without ::1.
var mappedLoopback = netip.AddrFrom16(netip.AddrFrom4([4]byte{127, 0, 0, 1}).As16())

var (
	loopback4 = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	loopback6 = netip.IPv6Loopback()
)
