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
	return policyHandler(t, mode, "block")
}

// policyHandler is dnsHandler with a udp setting.
func policyHandler(t *testing.T, mode, udp string) (*connectHandler, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	logger := &connLog{out: log.New(&buf, "chainrun: ", 0), verbose: true}
	hop, err := chain.ParseProxy("socks5h://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	plan := &runPlan{router: &chain.Router{Default: &chain.Dialer{Chain: []*chain.Proxy{hop}}}, dns: mode, udp: udp, leaks: "block"}
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
		{"UDP elsewhere is refused", "10.78.0.2:123", udp, "errno operation not permitted", "udp 10.78.0.2:123 connect refused (udp = block)"},
		{"UDP to loopback passes", "127.0.0.1:123", udp, "allow", "udp 127.0.0.1:123 direct (loopback)"},
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
	direct, _ := policyHandler(t, "remote", "direct")
	ntp := netip.MustParseAddrPort("10.78.0.2:123")
	for _, c := range []struct {
		h    *connectHandler
		d    tracer.Datagram
		want tracer.Verdict
	}{
		{h, tracer.Datagram{Pid: 1, Dst: ntp, Info: udp}, tracer.Refuse(syscall.EPERM)},
		{h, tracer.Datagram{Pid: 1, Dst: netip.MustParseAddrPort("[::ffff:127.0.0.1]:123"), Info: udp}, tracer.Pass()},
		{h, tracer.Datagram{Pid: 1, Dst: ns, Info: tcp}, tracer.Pass()},
		{direct, tracer.Datagram{Pid: 1, Dst: ntp, Info: udp}, tracer.Pass()},
		{local, tracer.Datagram{Pid: 1, Dst: ns, Info: udp}, tracer.Pass()},                 // dns = local: the program's own DNS
		{local, tracer.Datagram{Pid: 1, Dst: ntp, Info: udp}, tracer.Refuse(syscall.EPERM)}, // but nothing else
	} {
		if v := c.h.Datagram(&c.d); v != c.want {
			t.Errorf("udp %s dns %s, %+v: %v, want %v", c.h.plan.udp, c.h.plan.dns, c.d, v, c.want)
		}
	}
}

func TestPolicyLeaks(t *testing.T) {
	sock := func(domain, typ int) *tracer.PolicyCall {
		return &tracer.PolicyCall{Pid: 1, Trap: syscalls.MakeTrap(syscalls.CallSocket, syscalls.VariantNative), Domain: domain, Type: typ}
	}
	uring := &tracer.PolicyCall{Pid: 1, Trap: syscalls.MakeTrap(syscalls.CallIoUringSetup, syscalls.VariantNative)}
	for _, c := range []struct {
		leaks string
		call  *tracer.PolicyCall
		want  tracer.Result
	}{
		{"block", sock(unix.AF_INET, unix.SOCK_RAW), tracer.Fail(syscall.EPERM)},
		{"block", sock(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC), tracer.Fail(syscall.EPERM)},
		{"block", sock(unix.AF_PACKET, unix.SOCK_DGRAM), tracer.Fail(syscall.EPERM)},
		{"block", sock(unix.AF_INET, unix.SOCK_STREAM), tracer.Allow()}, // i386 socketcall shows every socket()
		{"block", sock(unix.AF_NETLINK, unix.SOCK_RAW), tracer.Allow()},
		{"block", uring, tracer.Fail(syscall.ENOSYS)},
		{"allow", sock(unix.AF_PACKET, unix.SOCK_RAW), tracer.Allow()},
		{"allow", uring, tracer.Allow()},
	} {
		h, logBuf := dnsHandler(t, "remote")
		h.plan.leaks = c.leaks
		if got := h.Policy(c.call); got != c.want {
			t.Errorf("leaks %s, %+v: %v, want %v", c.leaks, c.call, got, c.want)
		}
		if c.want != tracer.Allow() && !strings.Contains(logBuf.String(), "refused (leaks = block)") {
			t.Errorf("leaks %s, %+v: no log line: %q", c.leaks, c.call, logBuf.String())
		}
	}
}
