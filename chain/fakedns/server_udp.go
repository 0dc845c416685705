package fakedns

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// listenUDPLocked opens a listener on 127.0.0.1 and one on ::1, on the
// same port when it is free, and starts serving them. Without ::1 the IPv6
// endpoint is the IPv4 listener's mapped address.
func (s *Server) listenUDPLocked() (udpPair, error) {
	c4, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback4, 0)))
	if err != nil {
		return udpPair{}, err
	}
	pair := udpPair{v4: c4.LocalAddr().(*net.UDPAddr).AddrPort()}
	s.serveUDP(c4)
	c6, err := net.ListenUDP("udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback6, pair.v4.Port())))
	if err != nil {
		c6, err = net.ListenUDP("udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback6, 0)))
	}
	if err != nil {
		s.logf("fakedns: no UDP listener on ::1 (%v): IPv6 DNS sockets use %v", err, pair.v4)
		pair.v6 = netip.AddrPortFrom(mappedLoopback, pair.v4.Port())
		return pair, nil
	}
	pair.v6 = c6.LocalAddr().(*net.UDPAddr).AddrPort()
	s.serveUDP(c6)
	return pair, nil
}

// serveUDP starts the goroutine that reads queries from c.
func (s *Server) serveUDP(c *net.UDPConn) {
	s.udpSock = append(s.udpSock, c)
	s.wg.Add(1)
	go s.readUDP(c)
}

// readUDP reads queries from c until it is closed, answering each in a
// goroutine of its own, at most maxUDPInFlight at once.
func (s *Server) readUDP(c *net.UDPConn) {
	defer s.wg.Done()
	buf := make([]byte, maxMsgLen)
	for {
		n, src, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.ctx.Err() != nil {
				return
			}
			s.logf("fakedns: reading from %v: %v", c.LocalAddr(), err)
			time.Sleep(10 * time.Millisecond) // not a busy loop on a persistent error
			continue
		}
		if n < headerLen || buf[2]&0x80 != 0 { // not a query
			continue
		}
		select {
		case s.sem <- struct{}{}:
		default:
			s.drops.Add(1)
			continue
		}
		pkt := append([]byte(nil), buf[:n]...)
		s.wg.Add(1)
		go s.answerUDP(c, src, pkt)
	}
}

// answerUDP answers one query and sends the reply from c to src.
func (s *Server) answerUDP(c *net.UDPConn, src netip.AddrPort, query []byte) {
	defer s.wg.Done()
	defer func() { <-s.sem }()
	reply := s.r.Answer(s.ctx, query)
	if reply == nil {
		return
	}
	if reply = truncate(query, reply, udpLimit(query)); reply == nil {
		return
	}
	c.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := c.WriteToUDPAddrPort(reply, src); err != nil && s.ctx.Err() == nil {
		s.logf("fakedns: replying to %v: %v", src, err)
	}
}

// udpLimit is the size of a UDP reply the client of query accepts.
func udpLimit(query []byte) int {
	req, ok := parseRequest(query)
	if !ok {
		return 512
	}
	return req.maxUDPReply()
}

// truncate returns reply when it fits in limit bytes, else the same reply
// with the TC bit set and only its header, question and OPT record, which
// tells the client to ask again over TCP.
func truncate(query, reply []byte, limit int) []byte {
	if len(reply) <= limit {
		return reply
	}
	var p dnsmessage.Parser
	h, err := p.Start(reply)
	if err != nil {
		return nil
	}
	h.Truncated = true
	msg := dnsmessage.Message{Header: h}
	if qs, err := p.AllQuestions(); err == nil && len(qs) <= 1 {
		msg.Questions = qs
	}
	if req, ok := parseRequest(query); ok && req.edns {
		var oh dnsmessage.ResourceHeader
		oh.SetEDNS0(ednsUDPSize, h.RCode, false)
		msg.Additionals = []dnsmessage.Resource{{Header: oh, Body: &dnsmessage.OPTResource{}}}
	}
	b, err := msg.Pack()
	if err != nil || len(b) > limit {
		msg.Questions, msg.Additionals = nil, nil
		b, _ = msg.Pack()
	}
	return b
}
