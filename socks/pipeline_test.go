package socks

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// TestConnect5Pipelined runs the one-write handshake against this
// package's own server over loopback TCP (net.Pipe cannot hold a write
// the peer has not read yet), and checks what goes wrong when a server
// does not play along.
func TestConnect5Pipelined(t *testing.T) {
	dst := Addr{Name: "target.example", Port: 443}
	creds := &ServerConfig{Credentials: func(u, p string) bool { return u == "alice" && p == "pw" }, RequireAuth: true}
	for _, c := range []struct {
		name  string
		cfg   *ServerConfig
		auth  *Auth
		reply Reply
		errno syscall.Errno // 0: success
		auth0 bool          // an *AuthError
	}{
		{"no authentication", &ServerConfig{}, nil, StatusSucceeded, 0, false},
		{"username and password", creds, &Auth{Username: "alice", Password: "pw"}, StatusSucceeded, 0, false},
		{"wrong password", creds, &Auth{Username: "alice", Password: "no"}, 0, syscall.ECONNREFUSED, true},
		{"no acceptable method", creds, nil, 0, syscall.ECONNREFUSED, true},
		{"destination refused", &ServerConfig{}, nil, StatusConnectionRefused, syscall.ECONNREFUSED, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			got := make(chan *Request, 1)
			go func() {
				sc, err := ln.Accept()
				if err != nil {
					return
				}
				defer sc.Close()
				req, err := ServerHandshake5(sc, c.cfg)
				got <- req
				if err == nil {
					WriteReply5(sc, c.reply, AddrFromAddrPort(netip.MustParseAddrPort("10.0.0.1:9")))
				}
			}()
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err = Connect5Pipelined(ctx, conn, dst, c.auth)
			if c.errno == 0 {
				if err != nil {
					t.Fatalf("Connect5Pipelined: %v", err)
				}
				if req := <-got; req == nil || req.Dst != dst {
					t.Errorf("the server read %+v, want a CONNECT to %v", req, dst)
				}
				return
			}
			var ae *AuthError
			if !errors.Is(err, c.errno) || errors.As(err, &ae) != c.auth0 {
				t.Errorf("err %v, want errno %v (auth error %v)", err, c.errno, c.auth0)
			}
		})
	}
}

// TestConnect5PipelinedDropped: a server like microsocks, which answers the
// greeting and discards what came with it, leaves the client waiting for a
// reply that never comes: the context's deadline ends it.
func TestConnect5PipelinedDropped(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		sc, err := ln.Accept()
		if err != nil {
			return
		}
		defer sc.Close()
		buf := make([]byte, 512)
		sc.Read(buf)                  // greeting and CONNECT, read in one go
		sc.Write([]byte{Version5, 0}) // answers the greeting only
		time.Sleep(2 * time.Second)   // and waits for a CONNECT that was dropped
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = Connect5Pipelined(ctx, conn, Addr{Name: "x.example", Port: 80}, nil)
	if err == nil || time.Since(start) > time.Second {
		t.Fatalf("err %v after %v: want the deadline's error", err, time.Since(start))
	}
}
