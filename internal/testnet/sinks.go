package testnet

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Leak sinks: listeners on the proxy namespace's client side (ProxyClientSideIP
// and ProxyClientSideIP6, which the client reaches directly) that record
// everything arriving, with its source. The source tells how it came:
//
//   - from the client's own address (ClientIP, ClientIP6): straight from the
//     client namespace, past any proxy: a leak;
//   - from the proxy namespace's own address: a proxy there connected onward,
//     i.e. it came through the chain.
//
// Any datagram from the client is a leak (no proxy here relays UDP).

// SinkReply is what a TCP sink writes back once it has read the sender's
// first line (or waited [SinkReadTimeout] for it), before closing.
const SinkReply = "sink-ack\n"

// SinkReadTimeout bounds how long a TCP sink waits for the sender's first
// line.
const SinkReadTimeout = time.Second

// sinkDataMax is how many bytes of a connection or datagram are kept.
const sinkDataMax = 256

// Arrival is one TCP connection or UDP datagram that reached a [Sinks].
type Arrival struct {
	Transport string         // "tcp" or "udp"
	Sink      netip.AddrPort // where it arrived: 10.77.0.1:9999, [fd77::1]:5353, …
	Source    netip.AddrPort // who sent it (IPv4-mapped addresses unmapped)
	// Data is the start of what was sent: the datagram, or what arrived on
	// the connection until a newline was seen or SinkReadTimeout passed (at
	// most 256 bytes). For a connection it may still be empty when read
	// right after the arrival.
	Data string
	Time time.Time
}

// FromClient reports whether a came straight from the client namespace's
// address, past every proxy: a leak.
func (a Arrival) FromClient() bool {
	s := a.Source.Addr()
	return s == ClientIP || s == ClientIP6
}

// FromProxy reports whether a came from an address of the proxy namespace
// (its client side, its target side or its loopback): a proxy there made
// the connection, so it came through the chain.
func (a Arrival) FromProxy() bool {
	s := a.Source.Addr()
	return s == ProxyClientSideIP || s == ProxyClientSideIP6 || s == ProxyTargetSideIP ||
		s == ProxyTargetSideIP6 || s.IsLoopback()
}

func (a Arrival) String() string {
	return fmt.Sprintf("%s from %s to %s: %q", a.Transport, a.Source, a.Sink, a.Data)
}

// Sinks is a set of leak sinks made by [Topology.StartSinks].
type Sinks struct {
	ls       *listeners
	arrivals arrivalLog[Arrival]
}

// StartSinks listens in the proxy namespace on ProxyClientSideIP and
// ProxyClientSideIP6 at each of tcpPorts (TCP) and udpPorts (UDP), and
// records every connection and datagram that arrives ([Sinks.Take]). A TCP
// sink records the connection as soon as it is accepted, then reads the
// first line (bounded), answers [SinkReply] and closes; a UDP sink answers
// nothing. Choose ports that no proxy of the test uses. The listeners are
// closed when the test ends. The test fails if a port cannot be had.
func (tp *Topology) StartSinks(t testing.TB, tcpPorts, udpPorts []int) *Sinks {
	t.Helper()
	var eps []endpoint
	for _, a := range []netip.Addr{ProxyClientSideIP, ProxyClientSideIP6} {
		for _, p := range tcpPorts {
			eps = append(eps, endpoint{addr: netip.AddrPortFrom(a, uint16(p)), tcp: true})
		}
		for _, p := range udpPorts {
			eps = append(eps, endpoint{addr: netip.AddrPortFrom(a, uint16(p)), udp: true})
		}
	}
	ls, err := listen(tp.Proxy, eps)
	if err != nil {
		t.Fatalf("testnet: leak sinks in %s: %v", tp.Proxy, err)
	}
	s := &Sinks{ls: ls}
	ls.serve(s.datagram, s.serveConn)
	t.Cleanup(ls.close)
	return s
}

// Arrivals returns everything recorded so far, in order of arrival (also
// what Take already returned).
func (s *Sinks) Arrivals() []Arrival { return s.arrivals.all() }

// Take returns what arrived since the last Take, in order of arrival.
func (s *Sinks) Take() []Arrival { return s.arrivals.take() }

// Wait waits at most limit until at least n arrivals were recorded since
// the last Take, and reports whether they were.
func (s *Sinks) Wait(n int, limit time.Duration) bool { return s.arrivals.wait(n, limit) }

// Settle waits until no connection that arrived is still being read (so
// every Arrival's Data is final), at most limit.
func (s *Sinks) Settle(limit time.Duration) {
	waitUntil(limit, func() bool { return s.ls.active() == 0 })
}

func (s *Sinks) datagram(sink, from netip.AddrPort, msg []byte) []byte {
	s.arrivals.add(Arrival{Transport: "udp", Sink: sink, Source: from, Data: string(msg[:min(len(msg), sinkDataMax)]), Time: time.Now()})
	return nil
}

// serveConn records connection c, reads its first line (bounded), keeps
// it, and answers SinkReply.
func (s *Sinks) serveConn(c net.Conn) {
	i := s.arrivals.add(Arrival{Transport: "tcp", Sink: addrPortOf(c.LocalAddr()), Source: addrPortOf(c.RemoteAddr()), Time: time.Now()})
	c.SetDeadline(time.Now().Add(SinkReadTimeout))
	var data []byte
	buf := make([]byte, sinkDataMax)
	for len(data) < sinkDataMax {
		n, err := c.Read(buf[:sinkDataMax-len(data)])
		data = append(data, buf[:n]...)
		if err != nil || strings.Contains(string(data), "\n") {
			break
		}
	}
	s.arrivals.update(i, func(a *Arrival) { a.Data = string(data) })
	c.SetDeadline(time.Now().Add(SinkReadTimeout))
	c.Write([]byte(SinkReply))
}
