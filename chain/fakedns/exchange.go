package fakedns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// Exchanger sends one DNS query (wire format) and returns the reply.
type Exchanger interface {
	Exchange(ctx context.Context, query []byte) ([]byte, error)
}

// TCPExchanger sends each query as DNS over TCP (RFC 1035 4.2.2: a 2-byte
// length before each message) over a connection that Dial returns, which
// for the tunnel goes through the proxy chain. It uses one connection per
// query, bounded by the context (10 s when it has no deadline).
type TCPExchanger struct {
	// Dial opens a connection to the DNS server.
	Dial func(ctx context.Context) (net.Conn, error)
}

// defaultExchangeTimeout bounds an exchange whose context has no deadline.
const defaultExchangeTimeout = 10 * time.Second

// Exchange implements [Exchanger].
func (t *TCPExchanger) Exchange(ctx context.Context, query []byte) ([]byte, error) {
	if t == nil || t.Dial == nil {
		return nil, errors.New("fakedns: TCPExchanger has no Dial")
	}
	c, err := t.Dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("fakedns: dialing DNS server: %w", err)
	}
	defer c.Close()
	return exchangeTCP(ctx, c, query)
}

// exchangeTCP sends query on c and reads one reply, bounded by ctx.
func exchangeTCP(ctx context.Context, c net.Conn, query []byte) ([]byte, error) {
	if len(query) < headerLen || len(query) > maxMsgLen {
		return nil, fmt.Errorf("fakedns: query of %d bytes", len(query))
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultExchangeTimeout)
	}
	c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(aLongTimeAgo) })
	defer stop()

	msg := make([]byte, 2+len(query))
	binary.BigEndian.PutUint16(msg, uint16(len(query)))
	copy(msg[2:], query)
	if _, err := c.Write(msg); err != nil {
		return nil, fmt.Errorf("fakedns: sending query over TCP to %v: %w", c.RemoteAddr(), ctxErr(ctx, err))
	}
	reply, err := readTCPMsg(c, nil)
	if err != nil {
		return nil, fmt.Errorf("fakedns: reading reply over TCP from %v: %w", c.RemoteAddr(), ctxErr(ctx, err))
	}
	if err := checkReply(query, reply); err != nil {
		return nil, fmt.Errorf("fakedns: reply over TCP from %v: %w", c.RemoteAddr(), err)
	}
	return reply, nil
}

// aLongTimeAgo is a deadline in the past, to unblock I/O at once.
var aLongTimeAgo = time.Unix(1, 0)

// ctxErr prefers the context's error to the I/O error it caused. A
// deadline taken from the context may pass a moment before the context
// says so.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			return context.DeadlineExceeded
		}
	}
	return err
}

// DNS message sizes.
const (
	headerLen = 12
	maxMsgLen = 65535
)

// readTCPMsg reads one length-prefixed message, into buf when it is big
// enough. An empty message is an error.
func readTCPMsg(r io.Reader, buf []byte) ([]byte, error) {
	var l [2]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(l[:]))
	if n == 0 {
		return nil, errors.New("empty DNS message")
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// checkReply checks that reply is a response to query: a full header, the
// same ID, QR set.
func checkReply(query, reply []byte) error {
	switch {
	case len(reply) < headerLen:
		return fmt.Errorf("short reply (%d bytes)", len(reply))
	case reply[0] != query[0] || reply[1] != query[1]:
		return fmt.Errorf("reply ID %#04x for query ID %#04x", binary.BigEndian.Uint16(reply), binary.BigEndian.Uint16(query))
	case reply[2]&0x80 == 0:
		return errors.New("reply without the QR bit")
	}
	return nil
}
