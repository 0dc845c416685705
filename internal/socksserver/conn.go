package socksserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chainrun/chainrun/socks"
)

// A session owns the connections of one client: the client's own and, once
// dialed, the destination's. It closes each exactly once, when the client is
// done or when the server shuts down, whichever comes first.
type session struct {
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

// add hands c to the session. If the session is already closed it closes c
// and returns false.
func (s *session) add(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.Close()
		return false
	}
	s.conns = append(s.conns, c)
	return true
}

// close closes every connection of the session; later calls do nothing.
func (s *session) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for _, c := range s.conns {
		c.Close()
	}
}

// outcome is what the log line of one connection says.
type outcome struct {
	proto    string // socks4, socks4a or socks5, once known
	user     string
	dst      string
	result   string
	up, down int64
}

// serveConn serves one client until it is done or ctx is cancelled.
func (s *Server) serveConn(ctx context.Context, client net.Conn) {
	start := time.Now()
	sess := &session{}
	sess.add(client)
	stop := context.AfterFunc(ctx, sess.close)
	defer func() {
		stop()
		sess.close()
	}()

	o := s.handle(ctx, sess, client)
	s.logf("client=%s proto=%s user=%s dst=%s result=%q up=%d down=%d ms=%.1f",
		client.RemoteAddr(), logValue(o.proto), logValue(o.user), logValue(o.dst), o.result, o.up, o.down,
		float64(time.Since(start).Microseconds())/1000)
}

// handle runs the handshake, the dial and the relay for one client.
func (s *Server) handle(ctx context.Context, sess *session, client net.Conn) (o outcome) {
	timeout := s.handshakeTimeout()
	_ = client.SetDeadline(time.Now().Add(timeout))
	req, err := socks.ServerHandshake(client, s.Auth)
	if err != nil {
		o.result = handshakeResult(ctx, err)
		return o
	}
	o.proto, o.user, o.dst = protoName(req), req.Username, req.Dst.String()
	switch req.Command {
	case socks.CmdConnect:
	case socks.CmdResolve, socks.CmdResolvePTR:
		o.dst = addrHost(req.Dst) // the port means nothing here
		o.result = s.answerResolve(ctx, client, req, timeout)
		return o
	default:
		_ = socks.WriteReply(client, req, socks.StatusCommandNotSupported, socks.Addr{})
		o.result = req.Command.String() + " not supported"
		return o
	}
	_ = client.SetDeadline(time.Time{}) // the dial has its own timeout

	upstream, err := s.dial(ctx, req.Dst)
	if err != nil {
		reply := socks.ReplyForError(err)
		_ = client.SetDeadline(time.Now().Add(timeout))
		_ = socks.WriteReply(client, req, reply, socks.Addr{})
		if ctx.Err() != nil {
			o.result = "server shutting down"
		} else {
			o.result = fmt.Sprintf("%v (%v)", reply, err)
		}
		return o
	}
	if !sess.add(upstream) {
		o.result = "server shutting down"
		return o
	}
	var bound socks.Addr
	if a, ok := upstream.LocalAddr().(*net.TCPAddr); ok {
		bound = socks.AddrFromAddrPort(a.AddrPort())
	}
	_ = client.SetDeadline(time.Now().Add(timeout))
	if err := socks.WriteReply(client, req, socks.StatusSucceeded, bound); err != nil {
		o.result = err.Error()
		return o
	}
	_ = client.SetDeadline(time.Time{})

	o.up, o.down, err = relay(client, upstream)
	switch {
	case ctx.Err() != nil:
		o.result = "closed: server shutting down"
	case err != nil:
		o.result = "relay: " + err.Error()
	default:
		o.result = "ok"
	}
	return o
}

// answerResolve answers Tor's RESOLVE or RESOLVE_PTR with a lookup
// bounded by timeout and returns the log's result.
func (s *Server) answerResolve(ctx context.Context, client net.Conn, req *socks.Request, timeout time.Duration) string {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var answer socks.Addr
	var err error
	if req.Command == socks.CmdResolve {
		answer.IP, err = s.lookupIP(ctx, req.Dst)
	} else {
		answer.Name, err = s.lookupName(ctx, req.Dst)
	}
	_ = client.SetDeadline(time.Now().Add(timeout)) // for the reply
	if err != nil {
		_ = socks.WriteReply5(client, socks.StatusHostUnreachable, socks.Addr{})
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return "server shutting down"
		}
		return fmt.Sprintf("%v: %v (%v)", req.Command, socks.StatusHostUnreachable, err)
	}
	if err := socks.WriteReply5(client, socks.StatusSucceeded, answer); err != nil {
		return fmt.Sprintf("%v: %v", req.Command, err)
	}
	return fmt.Sprintf("%v ok: %s", req.Command, addrHost(answer))
}

// lookupIP resolves dst for RESOLVE: the first IPv4 address of the name,
// else its first IPv6 address. An address, also one written as a name, is
// its own answer.
func (s *Server) lookupIP(ctx context.Context, dst socks.Addr) (netip.Addr, error) {
	if dst.Name == "" {
		return dst.IP.Unmap().WithZone(""), nil
	}
	if ip, err := netip.ParseAddr(dst.Name); err == nil {
		return ip.Unmap().WithZone(""), nil
	}
	ips, err := s.resolver().LookupNetIP(ctx, "ip", dst.Name)
	if err != nil {
		return netip.Addr{}, err
	}
	var v6 netip.Addr
	for _, ip := range ips {
		ip = ip.Unmap()
		switch {
		case ip.Is4():
			return ip, nil
		case ip.Is6() && !v6.IsValid():
			v6 = ip.WithZone("")
		}
	}
	if !v6.IsValid() {
		return netip.Addr{}, fmt.Errorf("lookup %s: no addresses", dst.Name)
	}
	return v6, nil
}

// lookupName resolves dst for RESOLVE_PTR: the first name of the address,
// without its final dot. A name that is an IP address in text is taken as
// that address (Tor does the same); any other name is refused.
func (s *Server) lookupName(ctx context.Context, dst socks.Addr) (string, error) {
	ip := dst.IP
	if dst.Name != "" {
		var err error
		if ip, err = netip.ParseAddr(dst.Name); err != nil {
			return "", fmt.Errorf("%q is not an IP address", dst.Name)
		}
	}
	names, err := s.resolver().LookupAddr(ctx, ip.Unmap().String())
	if err != nil {
		return "", err
	}
	for _, name := range names {
		name = strings.TrimSuffix(name, ".")
		if name != "" && len(name) <= socks.MaxNameLen {
			return name, nil
		}
	}
	return "", fmt.Errorf("lookup %s: no name that fits a SOCKS5 reply", ip)
}

// addrHost is a's name or IP address, without the port.
func addrHost(a socks.Addr) string {
	if a.Name != "" {
		return a.Name
	}
	return a.IP.String()
}

// protoName names the protocol of req for the log.
func protoName(req *socks.Request) string {
	switch {
	case req.Version == socks.Version4 && req.Dst.Name != "":
		return "socks4a"
	case req.Version == socks.Version4:
		return "socks4"
	}
	return "socks5"
}

// logValue makes a value that came from the client safe for a key=value
// log line: "-" when empty, quoted when it has spaces, quotes, control
// or non-ASCII bytes, as is otherwise.
func logValue(v string) string {
	if v == "" {
		return "-"
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c == '"' || c == '=' || c >= 0x7f {
			return strconv.Quote(v)
		}
	}
	return v
}

// handshakeResult words a failed handshake for the log.
func handshakeResult(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return "server shutting down"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "handshake timed out"
	}
	return "handshake: " + err.Error()
}

// relay copies bytes both ways until both directions are done and returns
// the byte counts (client to destination, destination to client). When one
// side ends its stream cleanly, relay half-closes the other side's write
// end, so each peer sees EOF exactly when the other stopped sending, and the
// opposite direction goes on. When a direction fails, relay closes both
// connections, which ends the other direction too. The error is the first
// failure, if any.
func relay(client, upstream net.Conn) (up, down int64, err error) {
	upErr := make(chan error, 1)
	go func() {
		var err error
		up, err = io.Copy(upstream, client)
		upErr <- finish(upstream, client, err)
	}()
	down, err = io.Copy(client, upstream)
	err = finish(client, upstream, err)
	if err2 := <-upErr; err == nil || errors.Is(err, net.ErrClosed) {
		err = err2
	}
	if errors.Is(err, net.ErrClosed) {
		// Closed by the other direction's failure or by shutdown: the
		// failure itself was reported, or the caller knows.
		err = nil
	}
	return up, down, err
}

// finish ends the direction that copied from src to dst and stopped with err
// (nil for EOF). It returns err.
func finish(dst, src net.Conn, err error) error {
	if err == nil {
		if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			return nil
		}
		// No half-close here: a full close is the only way to pass the
		// EOF on.
		dst.Close()
		return nil
	}
	dst.Close()
	src.Close()
	return err
}
