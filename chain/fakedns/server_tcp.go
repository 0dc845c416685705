package fakedns

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"time"
)

// listenTCPLocked opens the TCP listener for one family and starts
// accepting. Without ::1 the IPv6 endpoint is the IPv4 listener's mapped
// address.
func (s *Server) listenTCPLocked(v6 bool) (netip.AddrPort, error) {
	if v6 {
		ln, err := net.ListenTCP("tcp6", net.TCPAddrFromAddrPort(netip.AddrPortFrom(loopback6, 0)))
		if err == nil {
			return s.serveTCP(ln), nil
		}
		if !s.tcp[0].IsValid() {
			if s.tcp[0], err = s.listenTCPLocked(false); err != nil {
				return netip.AddrPort{}, err
			}
		}
		s.logf("fakedns: no TCP listener on ::1 (%v): IPv6 DNS sockets use %v", err, s.tcp[0])
		return netip.AddrPortFrom(mappedLoopback, s.tcp[0].Port()), nil
	}
	ln, err := net.ListenTCP("tcp4", net.TCPAddrFromAddrPort(netip.AddrPortFrom(loopback4, 0)))
	if err != nil {
		return netip.AddrPort{}, err
	}
	return s.serveTCP(ln), nil
}

// serveTCP starts the goroutine that accepts connections on ln.
func (s *Server) serveTCP(ln *net.TCPListener) netip.AddrPort {
	s.tcpLn = append(s.tcpLn, ln)
	s.wg.Add(1)
	go s.acceptTCP(ln)
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// acceptTCP accepts connections until ln is closed, at most maxTCPConns
// open at once: more are closed at once.
func (s *Server) acceptTCP(ln *net.TCPListener) {
	defer s.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.ctx.Err() != nil {
				return
			}
			s.logf("fakedns: accepting on %v: %v", ln.Addr(), err)
			select { // EMFILE and the like: wait a little
			case <-s.ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		s.mu.Lock()
		if s.closed || len(s.conns) >= maxTCPConns {
			s.mu.Unlock()
			c.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

// serveConn answers the queries of one connection in order until it is
// closed, idle for tcpIdleTimeout, or sends something that is not DNS.
func (s *Server) serveConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	var buf []byte
	for {
		c.SetReadDeadline(time.Now().Add(s.idle))
		query, err := readTCPMsg(c, buf)
		if err != nil {
			return
		}
		buf = query
		reply := s.r.Answer(s.ctx, query)
		if reply == nil {
			continue // not a query: nothing to say
		}
		if reply = truncate(query, reply, maxMsgLen); reply == nil {
			continue
		}
		msg := make([]byte, 2+len(reply))
		binary.BigEndian.PutUint16(msg, uint16(len(reply)))
		copy(msg[2:], reply)
		c.SetWriteDeadline(time.Now().Add(s.idle))
		if _, err := c.Write(msg); err != nil {
			return
		}
	}
}
