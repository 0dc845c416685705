// Command dnsserver is the benchmark's DNS server: UDP only, answers from
// memory, no cache, no recursion, no network but its own socket. Every A
// question gets one fixed address, every AAAA question another, any other
// type NOERROR with no answer; a malformed query or one with a question
// count other than 1 gets FORMERR. It is the resolver of the "bare" DNS
// rows (the benchmark bind-mounts a resolv.conf naming it over
// /etc/resolv.conf in a private mount namespace), and the witness of the
// chainrun and proxychains4 rows: a query that reaches it there is a query
// the tool under test did not answer itself.
//
// Usage:
//
//	dnsserver [-listen 127.0.0.1:53] [-a 127.0.0.3] [-aaaa ::1] [-lifetime 10m]
//
// It prints "listening ADDR" once the socket is bound, then serves until
// killed or until -lifetime has passed. It counts the A and AAAA questions
// it answered: a TXT question for "count.bench-control." is answered with
// that number as its text and is not itself counted, so the benchmark
// driver can check how many queries a run sent to it.
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

const (
	typeA     = 1
	typeTXT   = 16
	typeAAAA  = 28
	classIN   = 1
	headerLen = 12
	// countName is the question that reads the counter.
	countName = "count.bench-control."
)

func main() {
	listen := flag.String("listen", "127.0.0.1:53", "UDP address to serve on")
	a := flag.String("a", "127.0.0.3", "the address of every A answer")
	aaaa := flag.String("aaaa", "::1", "the address of every AAAA answer")
	lifetime := flag.Duration("lifetime", 10*time.Minute, "exit after this long (a bound in case nobody kills it)")
	flag.Parse()
	ap, err := netip.ParseAddrPort(*listen)
	if err != nil || !ap.Addr().IsLoopback() {
		fail(fmt.Errorf("-listen %q: want a loopback IP:PORT", *listen))
	}
	v4, err := netip.ParseAddr(*a)
	if err != nil || !v4.Is4() {
		fail(fmt.Errorf("-a %q: want an IPv4 address", *a))
	}
	v6, err := netip.ParseAddr(*aaaa)
	if err != nil || !v6.Is6() || v6.Is4In6() {
		fail(fmt.Errorf("-aaaa %q: want an IPv6 address", *aaaa))
	}
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
	if err != nil {
		fail(err)
	}
	fmt.Printf("listening %s\n", c.LocalAddr())
	time.AfterFunc(*lifetime, func() {
		fmt.Fprintf(os.Stderr, "dnsserver: lifetime %v over: exiting\n", *lifetime)
		os.Exit(0)
	})
	s := &server{a: v4.As4(), aaaa: v6.As16()}
	buf := make([]byte, 4096)
	out := make([]byte, 0, 4096)
	for {
		n, src, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // not a busy loop on a persistent error
			continue
		}
		if reply := s.answer(buf[:n], out[:0]); reply != nil {
			c.WriteToUDPAddrPort(reply, src)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "dnsserver:", err)
	os.Exit(1)
}

type server struct {
	a       [4]byte
	aaaa    [16]byte
	counted int64 // A and AAAA questions answered
}

// answer builds the reply to query q in out; nil when q is not a query.
func (s *server) answer(q, out []byte) []byte {
	if len(q) < headerLen || q[2]&0x80 != 0 { // too short, or a response
		return nil
	}
	id := q[0:2]
	opcode := q[2] & 0x78
	rd := q[2] & 0x01
	qd := binary.BigEndian.Uint16(q[4:6])
	header := func(rcode byte, an uint16, question []byte) []byte {
		out = append(out, id...)
		out = append(out, 0x80|opcode|0x04|rd, 0x80|rcode) // QR AA RD; RA
		qdcount := uint16(0)
		if question != nil {
			qdcount = 1
		}
		out = binary.BigEndian.AppendUint16(out, qdcount)
		out = binary.BigEndian.AppendUint16(out, an)
		out = append(out, 0, 0, 0, 0) // NS, AR
		out = append(out, question...)
		return out
	}
	if opcode != 0 {
		return header(4, 0, nil) // NOTIMP
	}
	if qd != 1 {
		return header(1, 0, nil) // FORMERR
	}
	name, end, ok := readName(q, headerLen)
	if !ok || end+4 > len(q) {
		return header(1, 0, nil)
	}
	qtype := binary.BigEndian.Uint16(q[end : end+2])
	qclass := binary.BigEndian.Uint16(q[end+2 : end+4])
	question := q[headerLen : end+4]
	rr := func(typ uint16, rdata []byte) []byte {
		out = append(out, 0xc0, headerLen) // the name: a pointer to the question's
		out = binary.BigEndian.AppendUint16(out, typ)
		out = binary.BigEndian.AppendUint16(out, classIN)
		out = binary.BigEndian.AppendUint32(out, 60) // TTL
		out = binary.BigEndian.AppendUint16(out, uint16(len(rdata)))
		out = append(out, rdata...)
		return out
	}
	switch {
	case qclass != classIN:
		return header(0, 0, question)
	case qtype == typeTXT && strings.EqualFold(name, countName):
		text := strconv.FormatInt(s.counted, 10)
		header(0, 1, question)
		return rr(typeTXT, append([]byte{byte(len(text))}, text...))
	case qtype == typeA:
		s.counted++
		header(0, 1, question)
		return rr(typeA, s.a[:])
	case qtype == typeAAAA:
		s.counted++
		header(0, 1, question)
		return rr(typeAAAA, s.aaaa[:])
	}
	return header(0, 0, question) // NODATA
}

// readName reads the uncompressed name at off (a question's name is never
// compressed); it returns the name with a trailing dot and the offset just
// past it.
func readName(msg []byte, off int) (string, int, bool) {
	var sb strings.Builder
	for n := 0; off < len(msg) && n < 128; n++ {
		l := int(msg[off])
		off++
		if l == 0 {
			if sb.Len() == 0 {
				sb.WriteByte('.')
			}
			return sb.String(), off, sb.Len() <= 255
		}
		if l > 63 || off+l > len(msg) {
			return "", 0, false
		}
		sb.Write(msg[off : off+l])
		sb.WriteByte('.')
		off += l
	}
	return "", 0, false
}
