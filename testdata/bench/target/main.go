// Command target is the benchmark's HTTP target: it answers every request
// with one tiny fixed HTTP/1.0 200 reply and closes the connection. It is
// deliberately minimal (no net/http) so that it costs the same, and little,
// in every configuration the benchmark compares.
//
// Usage:
//
//	target [-listen 127.0.0.2:0]
//
// It prints "listening ADDR" with the actual address once the socket
// listens, then serves until killed. It counts the requests it answered:
// a request for "/count" is answered with that number as the body and is
// not itself counted, so the benchmark driver can check that every
// connection of a run really arrived. Each connection has a 5 s deadline.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

const reply = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n"

var served atomic.Int64

func main() {
	listen := flag.String("listen", "127.0.0.2:0", "address to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "target:", err)
		os.Exit(1)
	}
	fmt.Printf("listening %s\n", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			fmt.Fprintln(os.Stderr, "target:", err)
			time.Sleep(10 * time.Millisecond) // e.g. EMFILE: do not spin
			continue
		}
		go serve(c)
	}
}

func serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var buf [2048]byte
	n := 0
	for !bytes.Contains(buf[:n], []byte("\r\n\r\n")) {
		if n == len(buf) {
			return
		}
		m, err := c.Read(buf[n:])
		n += m
		if err != nil {
			if !bytes.Contains(buf[:n], []byte("\r\n\r\n")) {
				return
			}
			break
		}
	}
	if bytes.HasPrefix(buf[:n], []byte("GET /count ")) {
		body := strconv.FormatInt(served.Load(), 10)
		fmt.Fprintf(c, "HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		return
	}
	served.Add(1) // before the reply, so a client that got it is counted
	c.Write([]byte(reply))
}
