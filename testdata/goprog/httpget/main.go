// Command httpget is a fixture: a static Go program (CGO_ENABLED=0, so it
// makes its own raw syscalls and never goes through libc) that fetches a URL
// with net/http.
//
// It checks that Go's runtime, which connects non-blocking from any of its
// threads and polls with epoll, is proxied transparently, and (with N > 1)
// that repeated fresh connections keep working.
//
// Usage:
//
//	httpget [-q] URL [N]
//
// It fetches URL N times (default 1), each time with a fresh http.Client and
// DisableKeepAlives, so every fetch is a new TCP connection. On success it
// prints the body of the last fetch (unless -q), a newline if the body did not
// end with one, then a last line
//
//	sha256 HEX
//
// and exits 0. On failure it prints one line "error: ..." and, when the
// failure carries an errno, a line "errno: NAME" (e.g. "errno: ECONNREFUSED"),
// and exits 1; a non-2xx status prints "status: CODE" and exits 1. Usage
// errors exit 2. Each fetch is bounded to 30 s.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	quiet := flag.Bool("q", false, "do not print the body")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: httpget [-q] URL [N]")
	}
	flag.Parse()
	if flag.NArg() < 1 || flag.NArg() > 2 {
		flag.Usage()
		os.Exit(2)
	}
	url := flag.Arg(0)
	n := 1
	if flag.NArg() == 2 {
		v, err := strconv.Atoi(flag.Arg(1))
		if err != nil || v < 1 || v > 100000 {
			flag.Usage()
			os.Exit(2)
		}
		n = v
	}
	var body []byte
	for i := 0; i < n; i++ {
		b, err := fetch(url)
		if err != nil {
			fail(err)
		}
		body = b
	}
	if !*quiet {
		os.Stdout.Write(body)
		if len(body) == 0 || body[len(body)-1] != '\n' {
			os.Stdout.WriteString("\n")
		}
	}
	sum := sha256.Sum256(body)
	fmt.Printf("sha256 %s\n", hex.EncodeToString(sum[:]))
}

type statusError int

func (e statusError) Error() string { return "status " + strconv.Itoa(int(e)) }

func fetch(url string) ([]byte, error) {
	c := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, statusError(resp.StatusCode)
	}
	return b, nil
}

func fail(err error) {
	var st statusError
	if errors.As(err, &st) {
		fmt.Printf("status: %d\n", int(st))
		os.Exit(1)
	}
	fmt.Printf("error: %v\n", err)
	var errno syscall.Errno
	if errors.As(err, &errno) {
		fmt.Printf("errno: %s\n", unix.ErrnoName(errno))
	}
	os.Exit(1)
}
