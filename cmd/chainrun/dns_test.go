package main

import (
	"bytes"
	"log"
	"net/netip"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/chainrun/chainrun/chain"
	"github.com/chainrun/chainrun/syscalls"
	"github.com/chainrun/chainrun/tracer"
)

// dnsHandler is a connectHandler with remote DNS (or dns = "local") and a
// log in a buffer.
func dnsHandler(t *testing.T, mode string) (*connectHandler, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	logger := &connLog{out: log.New(&buf, "chainrun: ", 0), verbose: true}
	hop, err := chain.ParseProxy("socks5h://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	plan := &runPlan{router: &chain.Router{Default: &chain.Dialer{Chain: []*chain.Proxy{hop}}}, dns: mode}
	dns, err := startDNS(plan, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dns.close)
	return &connectHandler{plan: plan, log: logger, dns: dns}, &buf
}

func TestConnectUnixResolverDaemons(t *testing.T) {
	for _, c := range []struct {
		mode, path string
		want       tracer.Result
	}{
		{"remote", "/run/nscd/socket", tracer.Fail(syscall.ECONNREFUSED)},
		{"remote", "/var/run/nscd/socket", tracer.Fail(syscall.ECONNREFUSED)},
		{"remote", "/run/systemd/resolve/io.systemd.Resolve", tracer.Fail(syscall.ECONNREFUSED)},
		{"tunnel", "/run/nscd/socket", tracer.Fail(syscall.ECONNREFUSED)},
		{"remote", "/run/dbus/system_bus_socket", tracer.Allow()},
		{"remote", "@/tmp/.X11-unix/X0", tracer.Allow()},
		{"local", "/run/nscd/socket", tracer.Allow()},
	} {
		mode := c.mode
		if mode == "tunnel" {
			mode = "remote" // same handling; tunnel needs a dns_server to start
		}
		h, _ := dnsHandler(t, mode)
		got := h.ConnectUnix(&tracer.UnixCall{Pid: 1, Path: c.path})
		if got != c.want {
			t.Errorf("dns %s, %s: %v, want %v", c.mode, c.path, got, c.want)
		}
	}
}

func TestRouteFakeAddresses(t *testing.T) {
	h, logBuf := dnsHandler(t, "remote")
	v4, _, err := h.dns.resolver.Pool().Assign("intranet.corp")
	if err != nil {
		t.Fatal(err)
	}
	tcp := syscalls.SocketInfo{Domain: unix.AF_INET, Type: unix.SOCK_STREAM, Protocol: unix.IPPROTO_TCP, Fresh: true}
	udp := syscalls.SocketInfo{Domain: unix.AF_INET, Type: unix.SOCK_DGRAM, Protocol: unix.IPPROTO_UDP, Fresh: true}
	for _, c := range []struct {
		name    string
		dst     string
		info    syscalls.SocketInfo
		want    string // Result.String(), or "connect" for the goroutine
		logWant string
	}{
		{"mapped fake address goes to the chain", netip.AddrPortFrom(v4, 80).String(), tcp, "connect", ""},
		{"unmapped fake address is refused", "198.18.200.200:80", tcp, "errno connection refused", "no name has"},
		{"TCP to port 53 goes to the resolver", "10.77.0.53:53", tcp, "connect", ""},
		{"ordinary address goes to the chain", "10.78.0.2:80", tcp, "connect", ""},
		{"UDP elsewhere passes", "10.78.0.2:123", udp, "allow", "udp 10.78.0.2:123 direct"},
	} {
		t.Run(c.name, func(t *testing.T) {
			logBuf.Reset()
			call := &tracer.Call{Pid: 1, Dst: netip.MustParseAddrPort(c.dst), Info: c.info, Socket: -1}
			res, ok := h.Route(call)
			got := "connect"
			if ok {
				got = res.String()
			}
			if got != c.want {
				t.Errorf("Route: %s, want %s", got, c.want)
			}
			if !strings.Contains(logBuf.String(), c.logWant) {
				t.Errorf("log %q lacks %q", logBuf.String(), c.logWant)
			}
		})
	}
}

func TestDatagramVerdicts(t *testing.T) {
	h, _ := dnsHandler(t, "remote")
	local, _ := dnsHandler(t, "local")
	udp := syscalls.SocketInfo{Domain: unix.AF_INET, Type: unix.SOCK_DGRAM, Protocol: unix.IPPROTO_UDP}
	tcp := syscalls.SocketInfo{Domain: unix.AF_INET, Type: unix.SOCK_STREAM, Protocol: unix.IPPROTO_TCP}
	ns := netip.MustParseAddrPort("10.77.0.53:53")
	d := &tracer.Datagram{Pid: 1, Dst: ns, Info: udp}
	v := h.Datagram(d)
	if !strings.HasPrefix(v.String(), "redirect to 127.0.0.1:") {
		t.Fatalf("DNS datagram: %v, want a redirect to the loopback resolver", v)
	}
	ep := netip.MustParseAddrPort(strings.TrimPrefix(v.String(), "redirect to "))
	if got, ok := h.Source(ep); !ok || got != ns {
		t.Errorf("Source(%s) = %v, %v; want %s", ep, got, ok, ns)
	}
	if _, ok := h.Source(netip.MustParseAddrPort("127.0.0.1:9")); ok {
		t.Errorf("Source rewrote an address that is not a resolver's")
	}
	for _, c := range []struct {
		h *connectHandler
		d tracer.Datagram
	}{
		{h, tracer.Datagram{Pid: 1, Dst: netip.MustParseAddrPort("10.78.0.2:123"), Info: udp}},
		{h, tracer.Datagram{Pid: 1, Dst: ns, Info: tcp}},
		{local, tracer.Datagram{Pid: 1, Dst: ns, Info: udp}},
	} {
		if v := c.h.Datagram(&c.d); v != tracer.Pass() {
			t.Errorf("%+v: %v, want pass", c.d, v)
		}
	}
}
