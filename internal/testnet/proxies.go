package testnet

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	osuser "os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Hop2Name is a host name that only the proxy namespace resolves (through its
// /etc/hosts, like [TargetName]): it is 127.0.0.1 there, where
// [Topology.StartMicrosocksLocal] puts a second hop. A chain can name that hop
// by name; only a first hop in the proxy namespace can resolve and reach it.
const Hop2Name = "hop2.chainrun.test"

// startTimeout bounds how long a proxy helper waits for its server to listen.
const startTimeout = 20 * time.Second

// StartDanted starts danted (Dante's SOCKS server) in the proxy namespace
// listening on ProxyClientSideIP:port, and waits until it accepts
// connections. It accepts SOCKS4 and SOCKS5 CONNECT requests (no BIND, no UDP
// ASSOCIATE) from the client subnet 10.77.0.0/16, and connects out from the
// target-side addresses ProxyTargetSideIP and ProxyTargetSideIP6 (its
// "external" addresses), so IPv4 and IPv6 targets both work. Danted resolves
// names given in SOCKS5 requests (socks5h) with the proxy namespace's hosts
// file, so [TargetName] works. Dante does not implement SOCKS4a: a SOCKS4a
// request (address 0.0.0.x followed by a name) fails.
//
// With user == "" no authentication is asked for. With a non-empty user,
// SOCKS5 requires username/password authentication (RFC 1929) with user and
// pass, and SOCKS4 requests are refused (SOCKS4 cannot carry a password).
// Dante's "username" method checks the pair against the system password
// files, so danted runs in a mount namespace of its own (unshare --mount)
// where private /etc/passwd and /etc/shadow files (root, nobody and user,
// whose password is stored as a SHA-512 crypt hash) are bind-mounted over the
// real ones: no system account is created, the host's files are never
// written, and user can be any name but root and nobody. user and pass must
// not contain ':' or control characters; this needs unshare and mount
// (util-linux).
//
// Danted runs in the foreground with its own configuration and pid file in
// a temporary directory and logs to its output; it does not use or disturb a
// system danted. The returned Proc is danted itself. It calls [Unavailable]
// when danted (package dante-server) is missing.
func (tp *Topology) StartDanted(t testing.TB, port int, user, pass string) *Proc {
	t.Helper()
	danted := NeedCommand(t, "danted")
	checkPort(t, port)
	dir := t.TempDir()

	method := "none"
	if user != "" {
		NeedCommand(t, "unshare")
		NeedCommand(t, "mount")
		if user == "root" || user == "nobody" || !accountField(user) || !accountField(pass) || len(user) > 255 || len(pass) > 255 {
			t.Fatalf("testnet: StartDanted: unusable user name or password %q/%q", user, pass)
		}
		method = "username"
	}
	conf := fmt.Sprintf(`# chainrun testnet: danted for one test
logoutput: stderr
internal: %s port = %d
external: %s
external: %s
user.privileged: root
user.unprivileged: nobody
clientmethod: none
socksmethod: %s
timeout.negotiate: 30
timeout.io: 0

client pass {
	from: 10.77.0.0/16 to: 0/0
	log: error
}
socks pass {
	from: 10.77.0.0/16 to: 0/0
	command: connect
	protocol: tcp
	socksmethod: %s
	log: connect error
}
socks block {
	from: 0/0 to: 0/0
	log: connect error
}
`, tp.ProxyClientSideIP, port, tp.ProxyTargetSideIP, tp.ProxyTargetSideIP6, method, method)
	confPath := filepath.Join(dir, "danted.conf")
	writeFile(t, confPath, conf, 0o600)

	argv := []string{danted, "-f", confPath, "-p", filepath.Join(dir, "danted.pid"), "-N", "1"}
	if user != "" {
		passwd := "root:x:0:0:root:/root:/bin/sh\n" +
			"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n" +
			user + ":x:64999:65534:chainrun test user:/nonexistent:/usr/sbin/nologin\n"
		shadow := user + ":" + sha512Crypt(pass, "chainrunTestnet") + ":19000:0:99999:7:::\n"
		writeFile(t, filepath.Join(dir, "passwd"), passwd, 0o644)
		writeFile(t, filepath.Join(dir, "shadow"), shadow, 0o600)
		argv = append([]string{"unshare", "--mount", "--propagation", "private", "sh", "-ec",
			`mount --bind "$1/passwd" /etc/passwd; mount --bind "$1/shadow" /etc/shadow; shift; exec "$@"`,
			"sh", dir}, argv...)
	}
	p := tp.Start(t, tp.Proxy, argv...)
	tp.waitProcListen(t, p, tp.Proxy, hostPort(tp.ProxyClientSideIP.String(), port), startTimeout)
	return p
}

// StartSSHSocks makes `ssh -D` a SOCKS server on ProxyClientSideIP:port in
// the proxy namespace, and waits until it accepts connections. `ssh -D`
// serves SOCKS4, SOCKS4a and SOCKS5 (no authentication); the names it is
// given are resolved by the sshd, in the proxy namespace, with its hosts file
// (so [TargetName] works through socks4a and socks5h).
//
// It starts an sshd of its own on 127.0.0.1 and a free port inside the proxy
// namespace: own configuration, own ed25519 host key, no PAM, StrictModes
// no, only public-key authentication, for root with a throwaway key pair, all
// in a temporary directory. Then it starts `ssh -N -D
// ProxyClientSideIP:port root@127.0.0.1` there, with no user or system ssh
// configuration, no agent, and a known_hosts file holding that host key. The
// returned Proc is the ssh client; the sshd is a second process started with
// [Topology.Start], killed at cleanup like the client.
//
// The sshd runs in a mount namespace of its own (unshare --mount) with a
// tmpfs on /run holding its privilege-separation directory /run/sshd, and
// with a private /etc/shadow whose only entry is an unlocked root ("*": no
// password): without PAM, sshd refuses even key logins to an account whose
// password is locked ("!…", as root's is on many systems: "User root not
// allowed because account is locked"). Neither the host's /run nor its /etc
// is written, and a system sshd is neither used nor disturbed.
// It calls [Unavailable] when sshd, ssh or ssh-keygen (packages
// openssh-server, openssh-client) or unshare and mount (util-linux) are
// missing.
func (tp *Topology) StartSSHSocks(t testing.TB, port int) *Proc {
	t.Helper()
	ssh := NeedCommand(t, "ssh")
	checkPort(t, port)
	sshPort := tp.freePort(t, tp.Proxy, "127.0.0.1")
	srv := tp.startSSHD(t, tp.Proxy, hostPort("127.0.0.1", sshPort), "ssh -D", "")

	listen := hostPort(tp.ProxyClientSideIP.String(), port)
	cli := tp.Start(t, tp.Proxy, ssh, "-F", "/dev/null", "-N",
		"-D", listen, "-p", strconv.Itoa(sshPort), "-i", srv.userKey,
		"-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+srv.knownHosts,
		"-o", "GlobalKnownHostsFile=/dev/null", "-o", "CheckHostIP=no", "-o", "UpdateHostKeys=no",
		"-o", "ExitOnForwardFailure=yes", "-o", "ControlMaster=no", "-o", "ControlPath=none",
		"-o", "ServerAliveInterval=0", "-o", "LogLevel=ERROR",
		"root@127.0.0.1")
	tp.waitProcListen(t, cli, tp.Proxy, listen, startTimeout)
	return cli
}

// privateSSHD is an sshd started by [Topology.startSSHD].
type privateSSHD struct {
	proc       *Proc  // the sshd (under unshare and sh, which exec it)
	dir        string // its temporary directory: configuration, keys, pid file
	userKey    string // the private key of the throwaway key pair root logs in with
	knownHosts string // a known_hosts file that trusts its host key at its address
}

// startSSHD starts an sshd of its own in namespace ns listening on addr (an
// IP literal and a port, "127.0.0.1:2222", "[fd78::2]:22") and waits until
// it accepts connections: own configuration (a comment line naming purpose,
// then extraConf appended), own ed25519 host key, no PAM, StrictModes no,
// only public-key authentication, for root with a throwaway key pair, all in
// a temporary directory. It runs in a mount namespace of its own with a
// tmpfs on /run and a private /etc/shadow, as [Topology.StartSSHSocks]
// describes. It calls [Unavailable] when sshd or ssh-keygen (packages
// openssh-server, openssh-client) or unshare and mount (util-linux) are
// missing.
func (tp *Topology) startSSHD(t testing.TB, ns, addr, purpose, extraConf string) privateSSHD {
	t.Helper()
	sshd := NeedCommand(t, "sshd")
	keygen := NeedCommand(t, "ssh-keygen")
	NeedCommand(t, "unshare")
	NeedCommand(t, "mount")
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		t.Fatalf("testnet: sshd address %q: want an IP literal and a port: %v", addr, err)
	}
	checkPort(t, int(ap.Port()))
	if !filepath.IsAbs(sshd) { // sshd re-executes itself and insists on an absolute path
		if abs, err := filepath.Abs(sshd); err == nil {
			sshd = abs
		}
	}
	dir := t.TempDir()
	hostKey, userKey := filepath.Join(dir, "host_ed25519"), filepath.Join(dir, "id_ed25519")
	for _, k := range []string{hostKey, userKey} {
		if _, errOut, code := runProc(t, 30*time.Second, "", nil,
			[]string{keygen, "-q", "-t", "ed25519", "-N", "", "-C", "chainrun-testnet", "-f", k}); code != 0 {
			t.Fatalf("testnet: ssh-keygen: exit %d: %s", code, errOut)
		}
	}
	hostPub := readFile(t, hostKey+".pub")
	writeFile(t, filepath.Join(dir, "authorized_keys"), readFile(t, userKey+".pub"), 0o600)

	// known_hosts names a host on port 22 by its address alone, on any
	// other port as [address]:port.
	khName := ap.Addr().String()
	if ap.Port() != 22 {
		khName = "[" + khName + "]:" + strconv.Itoa(int(ap.Port()))
	}
	knownHosts := filepath.Join(dir, "known_hosts")
	writeFile(t, knownHosts, khName+" "+hostPub, 0o600)
	conf := fmt.Sprintf(`# chainrun testnet: sshd for %s
ListenAddress %s
HostKey %s
PidFile %s
AuthorizedKeysFile %s
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
UsePAM no
StrictModes no
UseDNS no
AllowTcpForwarding yes
PermitOpen any
AllowAgentForwarding no
X11Forwarding no
PermitTTY no
PrintMotd no
PrintLastLog no
LogLevel INFO
`, purpose, hostPort(ap.Addr().String(), int(ap.Port())), hostKey, filepath.Join(dir, "sshd.pid"), filepath.Join(dir, "authorized_keys"))
	confPath := filepath.Join(dir, "sshd_config")
	writeFile(t, confPath, conf+extraConf, 0o600)
	writeFile(t, filepath.Join(dir, "shadow"), "root:*:19000:0:99999:7:::\n", 0o600)

	srv := tp.Start(t, ns, "unshare", "--mount", "--propagation", "private", "sh", "-ec",
		`mount -t tmpfs -o mode=0755,size=1m chainrun-sshd /run; mkdir -m 0755 /run/sshd; `+
			`mount --bind "$1/shadow" /etc/shadow; exec "$2" -D -e -f "$1/sshd_config"`,
		"sh", dir, sshd)
	tp.waitProcListen(t, srv, ns, hostPort(ap.Addr().String(), int(ap.Port())), startTimeout)
	return privateSSHD{proc: srv, dir: dir, userKey: userKey, knownHosts: knownHosts}
}

// StartTinyproxy starts tinyproxy (an HTTP proxy) in the proxy namespace in
// the foreground with its own configuration, listening on
// ProxyClientSideIP:port, and waits until it accepts connections. It serves
// the client subnet 10.77.0.0/16 (plain HTTP proxying and CONNECT). CONNECT
// goes to the ports in connectPorts; with none given it goes to any port
// (tinyproxy's rule: no ConnectPort line allows all). Names are resolved in
// the proxy namespace, so [TargetName] works. With a non-empty user it
// requires HTTP Basic authentication (BasicAuth user pass) and answers 407
// without it or with a wrong password; user and pass must be non-empty words
// without white space or quotes.
//
// Tinyproxy drops its privileges to nobody, writes no pid or log file, and
// logs to its output; it does not use or disturb a system tinyproxy. It
// calls [Unavailable] when tinyproxy is missing.
func (tp *Topology) StartTinyproxy(t testing.TB, port int, user, pass string, connectPorts ...int) *Proc {
	t.Helper()
	bin := NeedCommand(t, "tinyproxy")
	checkPort(t, port)
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "# chainrun testnet: tinyproxy for one test\nPort %d\nListen %s\n", port, tp.ProxyClientSideIP)
	b.WriteString("Timeout 600\nMaxClients 100\nAllow 10.77.0.0/16\nLogLevel Info\nDisableViaHeader Yes\n")
	if u, err := osuser.Lookup("nobody"); err == nil {
		fmt.Fprintf(&b, "User %s\nGroup %s\n", u.Uid, u.Gid)
	}
	if user != "" {
		if !configWord(user) || !configWord(pass) {
			t.Fatalf("testnet: StartTinyproxy: unusable user name or password %q/%q", user, pass)
		}
		fmt.Fprintf(&b, "BasicAuth %s %s\n", user, pass)
	}
	for _, cp := range connectPorts {
		checkPort(t, cp)
		fmt.Fprintf(&b, "ConnectPort %d\n", cp)
	}
	confPath := filepath.Join(dir, "tinyproxy.conf")
	writeFile(t, confPath, b.String(), 0o644)
	p := tp.Start(t, tp.Proxy, bin, "-d", "-c", confPath)
	tp.waitProcListen(t, p, tp.Proxy, hostPort(tp.ProxyClientSideIP.String(), port), startTimeout)
	return p
}

// StartMicrosocksLocal starts microsocks (SOCKS5, no authentication) in the
// proxy namespace bound to 127.0.0.1:port, and waits until it accepts
// connections: a second hop that the client namespace cannot reach, only a
// first hop running in the proxy namespace (by address, or by [Hop2Name]).
// It calls [Unavailable] when microsocks is missing.
func (tp *Topology) StartMicrosocksLocal(t testing.TB, port int) *Proc {
	t.Helper()
	bin := NeedCommand(t, "microsocks")
	checkPort(t, port)
	p := tp.Start(t, tp.Proxy, bin, "-i", "127.0.0.1", "-p", strconv.Itoa(port))
	tp.waitProcListen(t, p, tp.Proxy, hostPort("127.0.0.1", port), startTimeout)
	return p
}

// waitProcListen waits at most limit until something in ns accepts TCP
// connections on addr, and fails the test (with p's output) when p exits
// first or nothing listens in time.
func (tp *Topology) waitProcListen(t testing.TB, p *Proc, ns, addr string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		if p.Exited() {
			code, _ := p.Wait(time.Second)
			t.Fatalf("testnet: %s exited with code %d before listening on %s; its output:\n%s", p, code, addr, p.Output())
		}
		err := waitListen(ns, addr, 250*time.Millisecond)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testnet: %s does not listen on %s after %v: %v; its output:\n%s", p, addr, limit, err, p.Output())
		}
	}
}

// freePort returns a TCP port on ip that is free in namespace ns (a fresh
// namespace has no other users, so it stays free until used).
func (tp *Topology) freePort(t testing.TB, ns, ip string) int {
	t.Helper()
	var port int
	err := InNS(ns, func() error {
		ln, err := net.Listen("tcp", hostPort(ip, 0))
		if err != nil {
			return err
		}
		port = ln.Addr().(*net.TCPAddr).Port
		return ln.Close()
	})
	if err != nil {
		t.Fatalf("testnet: free port on %s in %s: %v", ip, ns, err)
	}
	return port
}

func hostPort(ip string, port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }

func checkPort(t testing.TB, port int) {
	t.Helper()
	if port <= 0 || port > 65535 {
		t.Fatalf("testnet: bad port %d", port)
	}
}

// accountField reports whether s can go in a passwd or shadow field.
func accountField(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r == ':' || r < ' ' || r == 0x7f })
}

// configWord reports whether s is a non-empty word that a configuration
// file line can hold unquoted.
func configWord(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return r <= ' ' || r == 0x7f || r == '"' || r == '\'' || r == '#' || r == '\\'
	})
}

func writeFile(t testing.TB, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatalf("testnet: %v", err)
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("testnet: %v", err)
	}
	return string(b)
}
