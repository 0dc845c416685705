package chain

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/chainrun/chainrun/internal/socksserver"
	"github.com/chainrun/chainrun/socks"
)

// TestIsolationCredentials checks that isolation credentials reach the
// last hop only (for connects and RESOLVE), that a last hop with
// credentials of its own keeps them, and that without isolation no
// credentials are offered.
func TestIsolationCredentials(t *testing.T) {
	var mu sync.Mutex
	var users []string
	record := func(u, p string) bool {
		mu.Lock()
		users = append(users, u+":"+p)
		mu.Unlock()
		return true
	}
	last := func(require bool) string {
		addr, _ := startSOCKS(t, &socksserver.Server{
			Auth:     &socks.ServerConfig{Credentials: record, RequireAuth: require},
			Resolver: &mapResolver{ips: map[string][]netip.Addr{"host.test": {netip.MustParseAddr("192.0.2.7")}}},
		})
		return addr
	}
	// The first hop records any credentials offered to it too.
	first, _ := startSOCKS(t, &socksserver.Server{Auth: &socks.ServerConfig{Credentials: record}})
	optional, required := last(false), last(true)
	iso := &socks.Auth{Username: "chainrun-run1-p42", Password: "chainrun"}
	target := socks.Addr{Name: "localhost", Port: 9} // refused by the last hop, after the handshake

	for _, c := range []struct {
		name  string
		chain []string
		ctx   context.Context
		want  []string // credentials the servers saw, in order
	}{
		{"isolated, last hop only", []string{"socks5://" + first, "socks5h://" + optional}, WithIsolation(context.Background(), iso), []string{"chainrun-run1-p42:chainrun"}},
		{"no isolation, no credentials", []string{"socks5://" + first, "socks5h://" + optional}, context.Background(), nil},
		{"the hop's own credentials win", []string{"socks5h://alice:pw@" + required}, WithIsolation(context.Background(), iso), []string{"alice:pw"}},
		{"nil credentials are no isolation", []string{"socks5://" + first}, WithIsolation(context.Background(), nil), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			mu.Lock()
			users = nil
			mu.Unlock()
			var hops []*Proxy
			for _, raw := range c.chain {
				hops = append(hops, mustProxy(t, raw))
			}
			d := &Dialer{Chain: hops}
			if conn, err := d.Dial(c.ctx, target); err == nil {
				conn.Close()
			}
			mu.Lock()
			got := strings.Join(users, ",")
			mu.Unlock()
			if got != strings.Join(c.want, ",") {
				t.Errorf("credentials seen %q, want %q", got, strings.Join(c.want, ","))
			}
		})
	}

	// RESOLVE carries them too.
	users = nil
	d := &Dialer{Chain: []*Proxy{mustProxy(t, "socks5h://"+optional)}}
	if ip, err := d.Resolve(WithIsolation(context.Background(), iso), "host.test"); err != nil || !ip.IsValid() {
		t.Fatalf("Resolve: %v, %v", ip, err)
	}
	if len(users) != 1 || users[0] != "chainrun-run1-p42:chainrun" {
		t.Errorf("RESOLVE credentials %q", users)
	}
}

// TestPipelinedChain dials through two in-process SOCKS5 servers (the
// engine of chainrun serve) with every handshake pipelined, credentials
// on the last hop included, and gets the destination's bytes.
func TestPipelinedChain(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("hello through a pipelined chain"))
			c.Close()
		}
	}()
	hop1, _ := startSOCKS(t, &socksserver.Server{})
	hop2, log2 := startSOCKS(t, &socksserver.Server{Auth: &socks.ServerConfig{
		Credentials: func(u, p string) bool { return u == "bob" && p == "pw" }, RequireAuth: true}})
	d := &Dialer{Pipeline: true, Chain: []*Proxy{mustProxy(t, "socks5://"+hop1), mustProxy(t, "socks5h://bob:pw@"+hop2)}}
	conn, err := d.Dial(context.Background(), socks.AddrFromAddrPort(netip.MustParseAddrPort(ln.Addr().String())))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	b, _ := io.ReadAll(conn)
	conn.Close() // the server logs a connection when it ends
	if string(b) != "hello through a pipelined chain" {
		t.Errorf("got %q", b)
	}
	log2.waitFor(t, "user=bob", `result="ok"`)
}
