// Command target is the HTTP server that testnet.StartHTTPTarget runs in the
// target namespace: a static file server for one directory.
//
// Usage:
//
//	target -dir DIR -listen ADDR [-listen ADDR ...]
//
// For each -listen address (host:port, IPv4 or [IPv6]; port 0 picks a free
// one) it prints "listening ADDR" with the actual address once the socket
// listens, then serves the files of DIR over HTTP/1.x ("/" is /index.html). Every request is logged on stdout
// as "request METHOD PATH from REMOTEADDR", so a test can see which address
// a connection really came from (the proxy's, never the client's). It runs
// until killed.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// serveFile serves the regular file DIR/PATH as it is: unlike
// http.FileServer it does not redirect /index.html to ./, and "/" is
// index.html. No directory listings.
func serveFile(w http.ResponseWriter, r *http.Request, dir string) {
	name := path.Clean("/" + r.URL.Path)
	if name == "/" {
		name = "/index.html"
	}
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		http.NotFound(w, r)
		return
	}
	http.ServeContent(w, r, name, fi.ModTime(), f)
}

type listenFlags []string

func (l *listenFlags) String() string     { return strings.Join(*l, ",") }
func (l *listenFlags) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var listens listenFlags
	flag.Var(&listens, "listen", "address to listen on (repeatable)")
	dir := flag.String("dir", ".", "directory to serve")
	flag.Parse()
	if len(listens) == 0 || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: target -dir DIR -listen ADDR [-listen ADDR ...]")
		os.Exit(2)
	}

	var mu sync.Mutex
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fmt.Printf("request %s %s from %s\n", r.Method, r.URL.Path, r.RemoteAddr)
		mu.Unlock()
		serveFile(w, r, *dir)
	})

	errc := make(chan error, len(listens))
	for _, a := range listens {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			fmt.Fprintf(os.Stderr, "target: %v\n", err)
			os.Exit(1)
		}
		mu.Lock()
		fmt.Printf("listening %s\n", ln.Addr())
		mu.Unlock()
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
		go func() { errc <- srv.Serve(ln) }()
	}
	err := <-errc
	fmt.Fprintf(os.Stderr, "target: %v\n", err)
	os.Exit(1)
}
