// Command goprobe is the static Go leak probe: Go's net package makes its
// own system calls (no libc, so no LD_PRELOAD hook sees them) with
// non-blocking sockets.
//
//	goprobe tcp HOST:PORT   dials TCP, sends "leak-probe go_tcp", waits ≤ 2 s for a reply line
//	goprobe udp HOST:PORT   dials UDP (connect) and writes one datagram "leak-probe go_udp"
//
// It prints one line "result: …" with errno names, and exits 0 when it ran
// (also when the escape was refused), 2 on a usage error. HOST must be an IP
// literal: no name is looked up.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// errnoName is the symbolic name of the errno inside err ("EPERM"), or
// err's text when it holds none.
func errnoName(err error) string {
	var e syscall.Errno
	if errors.As(err, &e) {
		for _, n := range []struct {
			e    syscall.Errno
			name string
		}{
			{syscall.EPERM, "EPERM"}, {syscall.EACCES, "EACCES"}, {syscall.ENOSYS, "ENOSYS"},
			{syscall.ECONNREFUSED, "ECONNREFUSED"}, {syscall.ENETUNREACH, "ENETUNREACH"},
			{syscall.EHOSTUNREACH, "EHOSTUNREACH"}, {syscall.ETIMEDOUT, "ETIMEDOUT"},
			{syscall.EINVAL, "EINVAL"}, {syscall.EAFNOSUPPORT, "EAFNOSUPPORT"},
			{syscall.ECONNRESET, "ECONNRESET"}, {syscall.EPIPE, "EPIPE"},
		} {
			if e == n.e {
				return n.name
			}
		}
		return fmt.Sprintf("E%d", int(e))
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return err.Error()
}

func main() {
	if len(os.Args) != 3 || (os.Args[1] != "tcp" && os.Args[1] != "udp") {
		fmt.Fprintln(os.Stderr, "usage: goprobe tcp|udp HOST:PORT")
		os.Exit(2)
	}
	network, addr := os.Args[1], os.Args[2]
	if host, _, err := net.SplitHostPort(addr); err != nil || net.ParseIP(host) == nil {
		fmt.Fprintln(os.Stderr, "goprobe: HOST:PORT with an IP literal")
		os.Exit(2)
	}
	payload := "leak-probe go_" + network + "\n"
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		fmt.Printf("result: dial %s %s\n", network, errnoName(err))
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(payload)); err != nil {
		fmt.Printf("result: dial %s 0, write %s\n", network, errnoName(err))
		return
	}
	if network == "udp" {
		fmt.Printf("result: dial udp 0, write %d bytes\n", len(payload))
		return
	}
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		fmt.Printf("result: dial tcp 0, no reply (%s)\n", errnoName(err))
		return
	}
	fmt.Println("result: dial tcp 0, sink replied")
}
