package testnet

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/sha3"
	"encoding/base32"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TorSOCKS is where the tor of [StartTor] listens inside its namespace: the
// address of chainrun's built-in profile tor (socks5h://127.0.0.1:9050), so
// `chainrun -p tor` run in that namespace reaches it as is.
var TorSOCKS = netip.MustParseAddrPort("127.0.0.1:9050")

// TorSocksTimeout is the SocksTimeout [StartTor] gives tor: how long tor
// holds a request that waits for a circuit (which never comes: it is
// offline) before it answers with a failure. Tor's default is 2 minutes;
// it accepts any value.
const TorSocksTimeout = 3 * time.Second

// torStartTimeout bounds tor's start, from exec to its SocksPort accepting.
const torStartTimeout = 30 * time.Second

// The made-up directory authority tor is told about: 127.0.0.1 and ports
// where nothing listens in its namespace, so every attempt to bootstrap
// fails at once with ECONNREFUSED, on loopback.
const (
	fakeAuthDirPort = 1
	fakeAuthORPort  = 2
	fakeAuthV3Ident = "0123456789ABCDEF0123456789ABCDEF01234567"
	fakeAuthFPR     = "1111 2222 3333 4444 5555 6666 7777 8888 9999 AAAA"
)

// Tor is Debian's tor, running offline for one test: see [StartTor].
type Tor struct {
	// NS is the network namespace tor runs in: it has a loopback
	// interface and nothing else (no other link, no route).
	NS string
	// SOCKS is tor's SocksPort inside NS: [TorSOCKS].
	SOCKS netip.AddrPort
	// Version is tor's version ("0.4.9.11").
	Version string

	proc    *Proc
	logPath string
}

// StartTor runs Debian's tor so that its SocksPort really opens, without a
// way to reach anything: in a network namespace of its own that has only a
// loopback interface ([LoopbackNS]), configured with DisableNetwork 0
// (with DisableNetwork 1 tor never opens its SocksPort) and told of one
// made-up directory authority on 127.0.0.1, at ports where nothing
// listens, and of no fallback directory (UseDefaultFallbackDirs 0,
// ClientUseIPv6 0, ReachableAddresses 127.0.0.0/8, FascistFirewall 1): it
// never even tries a real address, and would have no route to one.
//
// The SocksPort is TorSOCKS with ExtendedErrors (proposal 304's 0xF0–0xF7
// replies) and IsolateSOCKSAuth; SocksTimeout is TorSocksTimeout. tor
// never bootstraps, so what it can answer is what it decides alone: a
// malformed .onion address gets 0xF6 at once, an address it refuses
// (private, say) 0x01 at once, and everything that needs a circuit a
// failure after SocksTimeout (0x06 for CONNECT, 0x04 for RESOLVE).
// extra lines are appended to the torrc (a later line wins for options
// that take one value: "SocksTimeout 10").
//
// The configuration is checked with --verify-config first; StartTor then
// waits, at most 30 s, until the SocksPort accepts a connection made from
// inside the namespace. Reach it the same way: [Tor.DialSOCKS], [InNS], or
// a command run in the namespace ([Tor.Run], [Tor.Start], `ip netns exec`).
// At cleanup tor is killed by its PID, and the namespace deleted. tor logs
// notices to a file, shown when the test fails ([Tor.Log]). It calls
// [Unavailable] when not root or when tor or ip is missing.
func StartTor(t testing.TB, extra ...string) *Tor {
	t.Helper()
	torPath := NeedCommand(t, "tor")
	ns := LoopbackNS(t, "tor")

	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatalf("testnet: %v", err)
	}
	tor := &Tor{NS: ns, SOCKS: TorSOCKS, logPath: filepath.Join(dir, "notice.log")}
	conf := []string{
		"# chainrun testnet: an offline tor for one test",
		"DataDirectory " + data,
		"SocksPort " + TorSOCKS.String() + " ExtendedErrors IsolateSOCKSAuth",
		fmt.Sprintf("SocksTimeout %d", int(TorSocksTimeout/time.Second)),
		"Log notice file " + tor.logPath,
		"ClientOnly 1",
		"AvoidDiskWrites 1",
		"DisableNetwork 0",
		fmt.Sprintf("DirAuthority chainrunfake orport=%d no-v2 v3ident=%s 127.0.0.1:%d %s",
			fakeAuthORPort, fakeAuthV3Ident, fakeAuthDirPort, fakeAuthFPR),
		"UseDefaultFallbackDirs 0",
		"ClientUseIPv4 1",
		"ClientUseIPv6 0",
		"ReachableAddresses 127.0.0.0/8",
		"FascistFirewall 1",
	}
	conf = append(conf, extra...)
	torrc := filepath.Join(dir, "torrc")
	defaults := filepath.Join(dir, "torrc-defaults") // none of /usr/share/tor/tor-service-defaults-torrc
	writeFile(t, torrc, strings.Join(conf, "\n")+"\n", 0o600)
	writeFile(t, defaults, "", 0o600)
	args := []string{"--defaults-torrc", defaults, "-f", torrc}

	ctx, cancel := context.WithTimeout(context.Background(), torStartTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, torPath, append([]string{"--verify-config"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("testnet: tor --verify-config: %v\n%s", err, out)
	}
	if out, err := exec.CommandContext(ctx, torPath, "--version").Output(); err == nil {
		if f := strings.Fields(string(out)); len(f) >= 3 {
			tor.Version = strings.TrimSuffix(f[2], ".")
		}
	}

	tor.proc = startProc(t, ns, append([]string{torPath}, args...))
	t.Cleanup(func() {
		tor.proc.kill() // by PID (its process group), before LoopbackNS deletes the namespace
		if t.Failed() {
			t.Logf("testnet: tor's log (%s):\n%s", tor.logPath, tor.Log())
		}
	})

	deadline := time.Now().Add(torStartTimeout)
	for i := 0; ; i++ {
		c, err := tor.DialSOCKS(500 * time.Millisecond)
		if err == nil {
			c.Close()
			return tor
		}
		if tor.proc.Exited() {
			code, _ := tor.proc.Wait(time.Second)
			t.Fatalf("testnet: tor exited with code %d before its SocksPort accepted; output:\n%s\nlog:\n%s", code, tor.proc.Output(), tor.Log())
		}
		if time.Now().After(deadline) || i > int(torStartTimeout/(50*time.Millisecond)) {
			t.Fatalf("testnet: tor's SocksPort %s in %s does not accept after %v: %v\nlog:\n%s", TorSOCKS, ns, torStartTimeout, err, tor.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Pid is tor's process id.
func (tor *Tor) Pid() int { return tor.proc.Pid() }

// Log returns tor's log so far (notices and up).
func (tor *Tor) Log() string {
	b, err := os.ReadFile(tor.logPath)
	if err != nil {
		return fmt.Sprintf("(%v)\n%s", err, tor.proc.Output())
	}
	return string(b)
}

// DialSOCKS connects to tor's SocksPort from inside its namespace, bounded
// by timeout. The connection can be used from any goroutine.
func (tor *Tor) DialSOCKS(timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := InNS(tor.NS, func() error {
		var err error
		c, err = net.DialTimeout("tcp", tor.SOCKS.String(), timeout)
		return err
	})
	return c, err
}

// Run runs argv to completion in tor's namespace, as [Topology.Run] does.
func (tor *Tor) Run(t testing.TB, timeout time.Duration, env []string, argv ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runProc(t, timeout, tor.NS, env, argv)
}

// Start starts argv in tor's namespace, as [Topology.Start] does; it is
// killed at cleanup.
func (tor *Tor) Start(t testing.TB, argv ...string) *Proc {
	t.Helper()
	return startProc(t, tor.NS, argv)
}

// LoopbackNS makes a network namespace for the test that has its loopback
// interface up and nothing else: no other link, no route, so nothing in it
// can reach anything outside. Its /etc/netns files (bind-mounted by `ip
// netns exec`) give a resolv.conf naming 127.0.0.1 and a hosts file with
// localhost only. The name is "cr<pid>x<n>" followed by tag. At cleanup,
// every process left in it is killed and it is deleted. It calls
// [Unavailable] when not root or when ip is missing.
func LoopbackNS(t testing.TB, tag string) string {
	t.Helper()
	NeedRoot(t)
	NeedCommand(t, "ip")
	ns := fmt.Sprintf("cr%dx%d%s", os.Getpid(), nsCounter.Add(1), tag)
	var tools Topology // its namespace helpers use no field
	t.Cleanup(func() {
		tools.killAllIn(t, ns)
		tools.deleteNS(t, ns)
	})
	if _, err := os.Stat(filepath.Join(netnsDir, ns)); err == nil {
		tools.deleteNS(t, ns) // left over by a crashed run that had our pid
	}
	tools.ip(t, "netns", "add", ns)
	tools.ip(t, "-n", ns, "link", "set", "lo", "up")
	tools.writeEtc(t, ns, "resolv.conf", "nameserver 127.0.0.1\n")
	tools.writeEtc(t, ns, "hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost\n")

	// The promise: loopback only.
	ctx, cancel := context.WithTimeout(context.Background(), ipTimeout)
	defer cancel()
	links, err := exec.CommandContext(ctx, "ip", "-n", ns, "-o", "link", "show").Output()
	if err != nil {
		t.Fatalf("testnet: ip -n %s link show: %v", ns, err)
	}
	if lines := strings.Split(strings.TrimSpace(string(links)), "\n"); len(lines) != 1 || !strings.Contains(lines[0], ": lo:") {
		t.Fatalf("testnet: namespace %s has links other than lo:\n%s", ns, links)
	}
	for _, fam := range []string{"-4", "-6"} {
		routes, err := exec.CommandContext(ctx, "ip", "-n", ns, fam, "route", "show", "table", "main").Output()
		if err != nil {
			t.Fatalf("testnet: ip -n %s %s route: %v", ns, fam, err)
		}
		for _, r := range strings.Split(strings.TrimSpace(string(routes)), "\n") {
			if r != "" && !strings.Contains(r, " dev lo") {
				t.Fatalf("testnet: namespace %s has a route off loopback: %q", ns, r)
			}
		}
	}
	return ns
}

// OnionV3Address returns a well-formed v3 onion address (56 base32
// characters and ".onion") for an ed25519 key derived from seed: the
// checksum and version are right, so tor takes it for a real service, one
// that exists nowhere. The same seed gives the same address.
func OnionV3Address(seed string) string {
	key := sha256.Sum256([]byte("chainrun testnet onion " + seed))
	pub := ed25519.NewKeyFromSeed(key[:]).Public().(ed25519.PublicKey)
	// rend-spec-v3: onion_address = base32(PUBKEY | CHECKSUM | VERSION),
	// CHECKSUM = SHA3-256(".onion checksum" | PUBKEY | VERSION)[:2].
	const version = 3
	h := sha3.New256()
	h.Write([]byte(".onion checksum"))
	h.Write(pub)
	h.Write([]byte{version})
	sum := h.Sum(nil)
	raw := append(append([]byte(nil), pub...), sum[0], sum[1], version)
	return strings.ToLower(base32.StdEncoding.EncodeToString(raw)) + ".onion"
}

// RunIn runs argv to completion in namespace ns ("" for the test's own),
// as [Topology.Run] does, for namespaces made without a topology
// ([LoopbackNS]).
func RunIn(t testing.TB, timeout time.Duration, ns string, env []string, argv ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runProc(t, timeout, ns, env, argv)
}
