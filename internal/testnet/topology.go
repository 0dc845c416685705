package testnet

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The addresses of the topology. They are the same in every Topology: each
// test has namespaces of its own, so the addresses never clash.
var (
	ClientIP           = netip.MustParseAddr("10.77.0.2")
	ProxyClientSideIP  = netip.MustParseAddr("10.77.0.1")
	ProxyTargetSideIP  = netip.MustParseAddr("10.78.0.1")
	TargetIP           = netip.MustParseAddr("10.78.0.2")
	ClientIP6          = netip.MustParseAddr("fd77::2")
	ProxyClientSideIP6 = netip.MustParseAddr("fd77::1")
	ProxyTargetSideIP6 = netip.MustParseAddr("fd78::1")
	TargetIP6          = netip.MustParseAddr("fd78::2")
	// A second address of the target namespace, for a second server on the
	// same port (a second sshd, say), known to the proxy as Target2Name.
	Target2IP  = netip.MustParseAddr("10.78.0.3")
	Target2IP6 = netip.MustParseAddr("fd78::3")
)

// ClientNameserver is the nameserver the client namespace's resolv.conf
// names. Nothing answers there unless a test puts a server on it: a query
// that reaches it is a DNS leak.
var ClientNameserver = netip.MustParseAddr("10.77.0.53")

// Host names that only the proxy namespace can resolve (through its own
// /etc/hosts, bind-mounted by `ip netns exec`): TargetName has both the IPv4
// and the IPv6 address of the target, TargetName4 and TargetName6 one each.
const (
	TargetName  = "target.chainrun.test"
	TargetName4 = "target4.chainrun.test"
	TargetName6 = "target6.chainrun.test"
	// Target2Name is the target's second pair of addresses, Target2IP and
	// Target2IP6: a second host, for tests that need two names (two
	// sshds with different host keys, each on one address: use
	// TargetName4 and Target2Name4).
	Target2Name = "target2.chainrun.test"
	// Target2Name4 is Target2IP alone.
	Target2Name4 = "target2-4.chainrun.test"
)

// Interface names inside the namespaces.
const (
	clientIf      = "eth0" // in the client namespace
	proxyClientIf = "toclient"
	proxyTargetIf = "totarget"
	targetIf      = "eth0" // in the target namespace
)

const (
	netnsDir  = "/var/run/netns"
	etcNetns  = "/etc/netns"
	ipTimeout = 10 * time.Second
)

var nsCounter atomic.Int64

// Topology is a set of three network namespaces built for one test:
//
//	[Client] ClientIP, ClientIP6 ── ProxyClientSideIP(6) [Proxy] ProxyTargetSideIP(6) ── TargetIP, TargetIP6 [Target]
//
// The client namespace has only the routes of its own link (10.77.0.0/24,
// fd77::/64): it cannot reach the target except through a proxy in the proxy
// namespace, which does not forward. Each namespace has its loopback up.
// Processes run inside with `ip netns exec`, which also bind-mounts
// /etc/netns/NS/{resolv.conf,hosts}: the client's resolv.conf names
// ClientNameserver, the proxy's and the target's name 127.0.0.1 (no DNS
// server), and the proxy's hosts file resolves TargetName, TargetName4,
// TargetName6, Target2Name, Target2Name4 and Hop2Name (127.0.0.1). The target namespace
// also has a second pair of addresses, Target2IP and Target2IP6 (10.78.0.3,
// fd78::3), which the proxy knows as Target2Name.
type Topology struct {
	// Namespace names, unique per test: "cr<pid>x<n>" followed by c, p or t.
	Client, Proxy, Target string

	// IPv4 addresses: 10.77.0.2, 10.77.0.1, 10.78.0.1, 10.78.0.2.
	ClientIP, ProxyClientSideIP, ProxyTargetSideIP, TargetIP netip.Addr
	// IPv6 addresses: fd77::2, fd77::1, fd78::1, fd78::2.
	ClientIP6, ProxyClientSideIP6, ProxyTargetSideIP6, TargetIP6 netip.Addr
	// The target's second addresses: 10.78.0.3, fd78::3.
	Target2IP, Target2IP6 netip.Addr

	mu    sync.Mutex
	procs []*Proc // every process started through this topology
}

// New builds the topology for the test and registers a t.Cleanup that kills
// every process started through it (and any other process left inside its
// namespaces), deletes the namespaces and removes /etc/netns/NS. It calls
// [Unavailable] (skip, or fail when CI=true) when not root or when `ip` is
// missing, and t.Fatal when building fails.
func New(t testing.TB) *Topology {
	t.Helper()
	NeedRoot(t)
	NeedCommand(t, "ip")

	base := fmt.Sprintf("cr%dx%d", os.Getpid(), nsCounter.Add(1))
	tp := &Topology{
		Client: base + "c", Proxy: base + "p", Target: base + "t",

		ClientIP: ClientIP, ProxyClientSideIP: ProxyClientSideIP,
		ProxyTargetSideIP: ProxyTargetSideIP, TargetIP: TargetIP,
		ClientIP6: ClientIP6, ProxyClientSideIP6: ProxyClientSideIP6,
		ProxyTargetSideIP6: ProxyTargetSideIP6, TargetIP6: TargetIP6,
		Target2IP: Target2IP, Target2IP6: Target2IP6,
	}
	// Registered first, so it runs last: after the cleanups of processes
	// started later through Start.
	t.Cleanup(func() { tp.cleanup(t) })

	for _, ns := range tp.namespaces() {
		if _, err := os.Stat(filepath.Join(netnsDir, ns)); err == nil {
			// Left over by a crashed run whose pid we now have.
			tp.deleteNS(t, ns)
		}
		tp.ip(t, "netns", "add", ns)
	}

	c, p, tg := tp.Client, tp.Proxy, tp.Target
	tp.ip(t, "-n", c, "link", "add", clientIf, "type", "veth", "peer", "name", proxyClientIf, "netns", p)
	tp.ip(t, "-n", tg, "link", "add", targetIf, "type", "veth", "peer", "name", proxyTargetIf, "netns", p)

	// Forwarding off in the proxy namespace (the default in a new
	// namespace, but say it), IPv6 on everywhere.
	tp.sysctl(t, p, "net/ipv4/ip_forward", "0")
	tp.sysctl(t, p, "net/ipv6/conf/all/forwarding", "0")
	for _, ns := range tp.namespaces() {
		tp.sysctl(t, ns, "net/ipv6/conf/all/disable_ipv6", "0")
		tp.sysctl(t, ns, "net/ipv6/conf/default/disable_ipv6", "0")
	}

	addr := func(ns, dev string, a netip.Addr, bits int) {
		args := []string{"-n", ns, "addr", "add", netip.PrefixFrom(a, bits).String(), "dev", dev}
		if a.Is6() {
			args = append(args, "nodad")
		}
		tp.ip(t, args...)
	}
	addr(c, clientIf, ClientIP, 24)
	addr(c, clientIf, ClientIP6, 64)
	addr(p, proxyClientIf, ProxyClientSideIP, 24)
	addr(p, proxyClientIf, ProxyClientSideIP6, 64)
	addr(p, proxyTargetIf, ProxyTargetSideIP, 24)
	addr(p, proxyTargetIf, ProxyTargetSideIP6, 64)
	addr(tg, targetIf, TargetIP, 24)
	addr(tg, targetIf, TargetIP6, 64)
	addr(tg, targetIf, Target2IP, 24)
	addr(tg, targetIf, Target2IP6, 64)

	for _, l := range [][2]string{{c, "lo"}, {c, clientIf}, {p, "lo"}, {p, proxyClientIf}, {p, proxyTargetIf}, {tg, "lo"}, {tg, targetIf}} {
		tp.ip(t, "-n", l[0], "link", "set", l[1], "up")
	}

	tp.writeEtc(t, c, "resolv.conf", "nameserver "+ClientNameserver.String()+"\n")
	tp.writeEtc(t, p, "resolv.conf", "nameserver 127.0.0.1\n")
	tp.writeEtc(t, tg, "resolv.conf", "nameserver 127.0.0.1\n")
	tp.writeEtc(t, p, "hosts", fmt.Sprintf("127.0.0.1\tlocalhost %s\n::1\tlocalhost\n%s\t%s %s\n%s\t%s %s\n%s\t%s %s\n%s\t%s\n",
		Hop2Name, TargetIP, TargetName, TargetName4, TargetIP6, TargetName, TargetName6,
		Target2IP, Target2Name, Target2Name4, Target2IP6, Target2Name))
	return tp
}

func (tp *Topology) namespaces() []string { return []string{tp.Client, tp.Proxy, tp.Target} }

// ip runs the ip command with args, bounded, and fails the test on error.
func (tp *Topology) ip(t testing.TB, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ipTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("testnet: ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// sysctl writes value to /proc/sys/KEY inside namespace ns.
func (tp *Topology) sysctl(t testing.TB, ns, key, value string) {
	t.Helper()
	err := InNS(ns, func() error {
		return os.WriteFile(filepath.Join("/proc/sys", key), []byte(value+"\n"), 0)
	})
	if err != nil {
		t.Fatalf("testnet: sysctl %s=%s in %s: %v", key, value, ns, err)
	}
}

// writeEtc writes /etc/netns/NS/NAME, which `ip netns exec NS` bind-mounts
// over /etc/NAME.
func (tp *Topology) writeEtc(t testing.TB, ns, name, content string) {
	t.Helper()
	dir := filepath.Join(etcNetns, ns)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("testnet: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatalf("testnet: %v", err)
	}
}

// cleanup kills what runs in the topology and deletes it. Errors are
// reported but never stop the rest of the cleanup.
func (tp *Topology) cleanup(t testing.TB) {
	tp.mu.Lock()
	procs := tp.procs
	tp.mu.Unlock()
	for _, p := range procs {
		p.kill()
	}
	for _, ns := range tp.namespaces() {
		tp.killAllIn(t, ns)
	}
	for _, ns := range tp.namespaces() {
		tp.deleteNS(t, ns)
	}
}

// killAllIn SIGKILLs every process left in namespace ns (daemons that forked
// away from the process group, say), never this test process itself.
func (tp *Topology) killAllIn(t testing.TB, ns string) {
	for round := 0; round < 50; round++ {
		ctx, cancel := context.WithTimeout(context.Background(), ipTimeout)
		out, err := exec.CommandContext(ctx, "ip", "netns", "pids", ns).Output()
		cancel()
		if err != nil {
			return // namespace gone or never made
		}
		n := 0
		for _, f := range strings.Fields(string(out)) {
			pid, err := strconv.Atoi(f)
			if err != nil || pid <= 1 || pid == os.Getpid() {
				continue
			}
			syscall.Kill(pid, syscall.SIGKILL)
			n++
		}
		if n == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("testnet: processes still alive in namespace %s after cleanup", ns)
}

// deleteNS deletes namespace ns and its /etc/netns directory.
func (tp *Topology) deleteNS(t testing.TB, ns string) {
	if _, err := os.Stat(filepath.Join(netnsDir, ns)); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), ipTimeout)
		out, err := exec.CommandContext(ctx, "ip", "netns", "del", ns).CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("testnet: ip netns del %s: %v\n%s", ns, err, out)
		}
	}
	if err := os.RemoveAll(filepath.Join(etcNetns, ns)); err != nil {
		t.Errorf("testnet: %v", err)
	}
	// Leave /etc/netns itself alone: other tests may be using it.
}
