// Package testnet builds the hosts that chainrun's integration tests run on:
// three network namespaces joined by veth pairs, the servers that live in
// them, and the fixture programs from testdata/ that run inside.
//
//	[client ns] 10.77.0.2/24, fd77::2/64 ── 10.77.0.1, fd77::1 [proxy ns] 10.78.0.1, fd78::1 ── 10.78.0.2/24, fd78::2/64 [target ns]
//
// The client namespace has no route to 10.78.0.0/16 or fd78::/64, and the
// proxy namespace does not forward, so the only way from the client to the
// target is a proxy running in the proxy namespace. Tests send traffic only
// to loopback and to these namespaces.
//
// Real proxies run in the proxy namespace, on ProxyClientSideIP: microsocks
// ([Topology.StartMicrosocks]), Dante ([Topology.StartDanted]), `ssh -D`
// ([Topology.StartSSHSocks]) and tinyproxy ([Topology.StartTinyproxy]); a
// second hop listens on the proxy namespace's own 127.0.0.1, also known
// there as [Hop2Name] ([Topology.StartMicrosocksLocal]).
//
// DNS: the client namespace's resolv.conf names [ClientNameserver]
// (10.77.0.53), where nothing answers; [Topology.StartDNSLogger] puts it and
// [ClientNameserver6] (fd77::53) on the proxy namespace's client side with a
// nameserver that records every query, answers SERVFAIL at once and fails
// the test for any query (a DNS leak) that the test did not expect
// ([DNSLogger.Take]). Names that only the proxy namespace resolves:
// [TargetName], [TargetName4], [TargetName6], [Target2Name] and
// [Target2Name4] (the target's second addresses [Target2IP],
// [Target2IP6]), [Hop2Name].
//
// Everything that needs root or a missing tool calls [Unavailable]: the test
// is skipped with a clear message, except when the environment variable
// CI=true is set, where it fails instead (CI must run every test).
//
// A typical test:
//
//	tp := testnet.New(t)
//	sum := tp.StartHTTPTarget(t, 8080, 1<<20)
//	tp.StartMicrosocks(t, 1080, "", "")
//	out, errOut, code := tp.Run(t, 30*time.Second, tp.Client, nil,
//		"curl", "-sS", "--socks5", "10.77.0.1:1080", "http://10.78.0.2:8080/index.html")
package testnet

import (
	"os"
	"os/exec"
	"testing"
)

// Unavailable reports that a test cannot run here (not root, a tool missing,
// …): it calls t.Skipf with the message, or t.Fatalf when the environment
// variable CI is "true", since CI must run every test.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("testnet: "+format+" (CI=true: this test must run)", args...)
	}
	t.Skipf("testnet: "+format, args...)
}

// NeedCommand returns the path of the executable name found in $PATH, or
// calls [Unavailable] when there is none.
func NeedCommand(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Unavailable(t, "%s not found in $PATH (install it: see the Makefile's deps target)", name)
	}
	return p
}

// NeedRoot calls [Unavailable] unless the test runs as root.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "needs root (network namespaces), running as uid %d", os.Geteuid())
	}
}
