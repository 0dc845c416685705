// Command parallel ("goparallel") is a fixture: many threads of one process
// connecting at the same moment.
//
// It checks that the tracer handles concurrent connects from many threads of
// one process (each trapped connect stops only its own thread; the others
// must not wait for it, nor get its result). Every goroutine locks itself to
// an OS thread before dialing, so there really are N threads in connect()
// at once. Static Go (CGO_ENABLED=0).
//
// Usage:
//
//	parallel ADDR N
//
// ADDR is host:port with a literal IP. N goroutines (1..1000) are released
// together; each does net.Dial("tcp", ADDR), sends "GET /index.html
// HTTP/1.0", reads the reply and checks that it contains
// "chainrun-target-ok". Each failure prints a line "fail I: ERROR" on
// stderr. The last stdout line is
//
//	ok K/N
//
// and the exit code is 0 iff K == N, 1 otherwise, 2 on usage errors, 3 when
// the 60 s overall bound ran out (then the line is "timeout ok K/N").
package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: parallel ADDR N")
		os.Exit(2)
	}
	addr := os.Args[1]
	n, err := strconv.Atoi(os.Args[2])
	if err != nil || n < 1 || n > 1000 {
		fmt.Fprintln(os.Stderr, "usage: parallel ADDR N (1 <= N <= 1000)")
		os.Exit(2)
	}
	deadline := time.Now().Add(60 * time.Second)

	var ok atomic.Int64
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := 0; i < n; i++ {
		go func(i int) {
			defer done.Done()
			runtime.LockOSThread()
			ready.Done()
			<-start
			if err := get(addr, deadline); err != nil {
				fmt.Fprintf(os.Stderr, "fail %d: %v\n", i, err)
				return
			}
			ok.Add(1)
		}(i)
	}
	ready.Wait()
	close(start)

	finished := make(chan struct{})
	go func() { done.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(time.Until(deadline) + time.Second):
		fmt.Printf("timeout ok %d/%d\n", ok.Load(), n)
		os.Exit(3)
	}
	k := ok.Load()
	fmt.Printf("ok %d/%d\n", k, n)
	if k != int64(n) {
		os.Exit(1)
	}
}

func get(addr string, deadline time.Time) error {
	d := net.Dialer{Deadline: deadline}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(deadline)
	if _, err := io.WriteString(c, "GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n"); err != nil {
		return err
	}
	b, err := io.ReadAll(io.LimitReader(c, 1<<20))
	if err != nil {
		return err
	}
	if !bytes.Contains(b, []byte("chainrun-target-ok")) {
		return fmt.Errorf("reply without chainrun-target-ok: %q", b)
	}
	return nil
}
