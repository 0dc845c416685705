// Command cgoget is a fixture: a Go program built with cgo
// (CGO_ENABLED=1) and the build tag netcgo, so that package net resolves
// names with the C library's getaddrinfo (glibc: NSS, /etc/resolv.conf,
// its own DNS queries from a cgo thread) instead of Go's own resolver.
// It is dynamically linked against libc.
//
// Usage:
//
//	cgoget -lookup NAME
//	cgoget URL
//
// With -lookup it prints "resolver: R" (R is "cgo" when built with the
// netcgo tag, "go" otherwise), then net.LookupHost(NAME), one line
// "address: ADDR" per address, and exits 0. Otherwise it prints "resolver:
// R" and fetches URL with net/http (no proxy from the environment, no
// keep-alive), prints the body, newline-terminated, and exits 0. On failure
// it prints "error: ..." and exits 1 (a non-2xx status: "status: CODE").
// Usage errors exit 2. Each operation is bounded to 30 s.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	lookup := flag.Bool("lookup", false, "resolve NAME and print its addresses")
	flag.Usage = func() { fmt.Fprintln(os.Stderr, "usage: cgoget -lookup NAME | cgoget URL") }
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	fmt.Printf("resolver: %s\n", resolver)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if *lookup {
		addrs, err := net.DefaultResolver.LookupHost(ctx, flag.Arg(0))
		if err != nil {
			fmt.Printf("error: %v\n", err)
			os.Exit(1)
		}
		for _, a := range addrs {
			fmt.Printf("address: %s\n", a)
		}
		return
	}
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	resp, err := c.Get(flag.Arg(0))
	if err != nil {
		fmt.Printf("error: %v\n", err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		fmt.Printf("error: %v\n", err)
		os.Exit(1)
	}
	if resp.StatusCode/100 != 2 {
		fmt.Printf("status: %d\n", resp.StatusCode)
		os.Exit(1)
	}
	os.Stdout.Write(b)
	if len(b) == 0 || b[len(b)-1] != '\n' {
		fmt.Println()
	}
}
