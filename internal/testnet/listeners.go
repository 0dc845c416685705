package testnet

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"
)

// What the recording servers here ([DNSLogger], [DNSServer], [Sinks]) have
// in common: UDP and TCP listeners opened in a namespace and served until
// cleanup ([listeners]), and the list of what arrived ([arrivalLog]).

// maxServedConns bounds how many TCP connections one [listeners] serves at
// once; the next ones wait in the listen backlog for a slot.
const maxServedConns = 128

// datagramReplyTimeout bounds the writing of a reply to a datagram.
const datagramReplyTimeout = 5 * time.Second

// endpoint is an address a [listeners] listens on, with UDP, TCP or both.
type endpoint struct {
	addr     netip.AddrPort
	udp, tcp bool
}

// listeners is a set of UDP sockets and TCP listeners made in one network
// namespace, each served by one goroutine, and the TCP connections they
// accepted (each served by a goroutine of its own), so that close can end
// them all.
type listeners struct {
	udp   []net.PacketConn
	tcp   []net.Listener
	slots chan struct{} // one per connection being served: at most maxServedConns
	done  chan struct{} // closed by close

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// listen opens the endpoints in namespace ns ("" for the test's own). An
// endpoint with both UDP and TCP and port 0 gets the same port, the one the
// system chose for UDP, for TCP. On error it closes what it opened.
func listen(ns string, eps []endpoint) (*listeners, error) {
	l := &listeners{
		slots: make(chan struct{}, maxServedConns),
		done:  make(chan struct{}),
		conns: map[net.Conn]struct{}{},
	}
	open := func() error {
		for _, ep := range eps {
			addr := ep.addr
			if ep.udp {
				pc, err := net.ListenPacket("udp", addr.String())
				if err != nil {
					return err
				}
				l.udp = append(l.udp, pc)
				addr = netip.AddrPortFrom(addr.Addr(), addrPortOf(pc.LocalAddr()).Port())
			}
			if ep.tcp {
				ln, err := net.Listen("tcp", addr.String())
				if err != nil {
					return err
				}
				l.tcp = append(l.tcp, ln)
			}
		}
		return nil
	}
	var err error
	if ns == "" {
		err = open()
	} else {
		err = InNS(ns, open)
	}
	if err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

// serve starts the goroutines: datagram is called for every datagram, with
// the address it arrived at and the sender's, on the socket's goroutine (msg
// is reused afterwards); a non-nil reply goes back to the sender. conn
// serves each accepted connection on a goroutine of its own; the connection
// is closed when conn returns (or at close).
func (l *listeners) serve(datagram func(server, from netip.AddrPort, msg []byte) (reply []byte), conn func(net.Conn)) {
	for _, pc := range l.udp {
		l.wg.Add(1)
		go l.readLoop(pc, datagram)
	}
	for _, ln := range l.tcp {
		l.wg.Add(1)
		go l.acceptLoop(ln, conn)
	}
}

func (l *listeners) readLoop(pc net.PacketConn, datagram func(server, from netip.AddrPort, msg []byte) []byte) {
	defer l.wg.Done()
	server := addrPortOf(pc.LocalAddr())
	buf := make([]byte, 65536)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // e.g. an ICMP error reported on the socket
			continue
		}
		if reply := datagram(server, addrPortOf(from), buf[:n]); reply != nil {
			pc.SetWriteDeadline(time.Now().Add(datagramReplyTimeout))
			pc.WriteTo(reply, from)
		}
	}
}

func (l *listeners) acceptLoop(ln net.Listener, conn func(net.Conn)) {
	defer l.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			c.Close()
			return
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			c.Close()
			<-l.slots
			return
		}
		l.conns[c] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go func() {
			defer l.wg.Done()
			defer func() {
				c.Close()
				l.mu.Lock()
				delete(l.conns, c)
				l.mu.Unlock()
				<-l.slots
			}()
			conn(c)
		}()
	}
}

// active returns how many accepted connections are still being served.
func (l *listeners) active() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// close closes the sockets and open connections and waits for the serving
// goroutines (bounded: they end once their sockets are closed).
func (l *listeners) close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	close(l.done)
	for _, pc := range l.udp {
		pc.Close()
	}
	for _, ln := range l.tcp {
		ln.Close()
	}
	for c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

// arrivalLog is what arrived at a server, in order of arrival, and how much
// of it was taken.
type arrivalLog[T any] struct {
	mu   sync.Mutex
	list []T
	seen int // how many of list take has returned
}

// add appends x and returns its index.
func (a *arrivalLog[T]) add(x T) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.list = append(a.list, x)
	return len(a.list) - 1
}

// update changes the entry at index i with f.
func (a *arrivalLog[T]) update(i int, f func(*T)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f(&a.list[i])
}

// all returns everything so far, also what take has returned.
func (a *arrivalLog[T]) all() []T {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]T(nil), a.list...)
}

// take returns what arrived since the last take and marks it taken.
func (a *arrivalLog[T]) take() []T {
	a.mu.Lock()
	defer a.mu.Unlock()
	x := append([]T(nil), a.list[a.seen:]...)
	a.seen = len(a.list)
	return x
}

// wait waits at most limit until at least n entries arrived since the last
// take, and reports whether they did.
func (a *arrivalLog[T]) wait(n int, limit time.Duration) bool {
	return waitUntil(limit, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.list)-a.seen >= n
	})
}

// waitUntil polls cond every 5 ms for at most limit and reports whether it
// came true.
func waitUntil(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for i := 0; i < 100000; i++ {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// addrPortOf returns a's address and port, an IPv4-mapped address unmapped
// (the zero AddrPort when a is not an IP address and port).
func addrPortOf(a net.Addr) netip.AddrPort {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
