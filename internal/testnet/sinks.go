package testnet

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
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
	mu       sync.Mutex
	arrivals []Arrival
	seen     int // how many of arrivals Take has returned
	closed   bool
	closers  []io.Closer
	conns    map[net.Conn]struct{}
	wg       sync.WaitGroup
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
	s := &Sinks{conns: map[net.Conn]struct{}{}}
	var tcps []net.Listener
	var udps []net.PacketConn
	err := InNS(tp.Proxy, func() error {
		for _, a := range []netip.Addr{ProxyClientSideIP, ProxyClientSideIP6} {
			for _, p := range tcpPorts {
				ln, err := net.Listen("tcp", netip.AddrPortFrom(a, uint16(p)).String())
				if err != nil {
					return err
				}
				tcps = append(tcps, ln)
				s.closers = append(s.closers, ln)
			}
			for _, p := range udpPorts {
				pc, err := net.ListenPacket("udp", netip.AddrPortFrom(a, uint16(p)).String())
				if err != nil {
					return err
				}
				udps = append(udps, pc)
				s.closers = append(s.closers, pc)
			}
		}
		return nil
	})
	if err != nil {
		s.close()
		t.Fatalf("testnet: leak sinks in %s: %v", tp.Proxy, err)
	}
	for _, ln := range tcps {
		s.wg.Add(1)
		go s.serveTCP(ln)
	}
	for _, pc := range udps {
		s.wg.Add(1)
		go s.serveUDP(pc)
	}
	t.Cleanup(s.close)
	return s
}

// Arrivals returns everything recorded so far, in order of arrival (also
// what Take already returned).
func (s *Sinks) Arrivals() []Arrival {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Arrival(nil), s.arrivals...)
}

// Take returns what arrived since the last Take, in order of arrival.
func (s *Sinks) Take() []Arrival {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := append([]Arrival(nil), s.arrivals[s.seen:]...)
	s.seen = len(s.arrivals)
	return a
}

// Wait waits at most limit until at least n arrivals were recorded since
// the last Take, and reports whether they were.
func (s *Sinks) Wait(n int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for i := 0; i < 100000; i++ {
		s.mu.Lock()
		got := len(s.arrivals) - s.seen
		s.mu.Unlock()
		if got >= n {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// Settle waits until no connection that arrived is still being read (so
// every Arrival's Data is final), at most limit.
func (s *Sinks) Settle(limit time.Duration) {
	deadline := time.Now().Add(limit)
	for i := 0; i < 100000 && time.Now().Before(deadline); i++ {
		s.mu.Lock()
		n := len(s.conns)
		s.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// record appends a and returns its index.
func (s *Sinks) record(a Arrival) int {
	a.Time = time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.arrivals = append(s.arrivals, a)
	return len(s.arrivals) - 1
}

func (s *Sinks) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for _, c := range s.closers {
		c.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

func (s *Sinks) serveUDP(pc net.PacketConn) {
	defer s.wg.Done()
	sink := addrPortOf(pc.LocalAddr())
	buf := make([]byte, 65536)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		s.record(Arrival{Transport: "udp", Sink: sink, Source: addrPortOf(from), Data: string(buf[:min(n, sinkDataMax)])})
	}
}

func (s *Sinks) serveTCP(ln net.Listener) {
	defer s.wg.Done()
	sink := addrPortOf(ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		i := s.record(Arrival{Transport: "tcp", Sink: sink, Source: addrPortOf(c.RemoteAddr())})
		go s.serveTCPConn(c, i)
	}
}

// serveTCPConn reads the first line of connection i (bounded), keeps it,
// answers SinkReply and closes.
func (s *Sinks) serveTCPConn(c net.Conn, i int) {
	defer s.wg.Done()
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
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
	s.mu.Lock()
	s.arrivals[i].Data = string(data)
	s.mu.Unlock()
	c.SetDeadline(time.Now().Add(SinkReadTimeout))
	c.Write([]byte(SinkReply))
}
