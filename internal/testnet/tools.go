package testnet

import (
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Real client programs' servers in the topology: a git daemon and a private
// sshd, so tests can run git and ssh/scp through chainrun.

// gitEnv is the environment (added to the test's) under which
// StartGitDaemon runs git: no system or global configuration, and a fixed
// author and committer with a fixed date, so that a commit id only depends
// on the tree and the message.
var gitEnv = []string{
	"GIT_CONFIG_NOSYSTEM=1",
	"GIT_CONFIG_GLOBAL=/dev/null",
	"GIT_TERMINAL_PROMPT=0",
	"GIT_AUTHOR_NAME=chainrun testnet",
	"GIT_AUTHOR_EMAIL=testnet@chainrun.test",
	"GIT_AUTHOR_DATE=1700000000 +0000",
	"GIT_COMMITTER_NAME=chainrun testnet",
	"GIT_COMMITTER_EMAIL=testnet@chainrun.test",
	"GIT_COMMITTER_DATE=1700000000 +0000",
}

// gitTimeout bounds each git command run to build a repository.
const gitTimeout = 30 * time.Second

// StartGitDaemon creates a bare repository "repo.git" with one commit (a file README containing
// content, committed with a fixed author/date so the test is deterministic) and serves it
// read-only with `git daemon` on TargetIP:port (and [TargetIP6]:port if easy) in the target namespace.
// It returns the commit id.
//
// The repository lives in a temporary directory that is the daemon's base
// path, so its URL is git://10.78.0.2:PORT/repo.git (or
// git://[fd78::2]:PORT/repo.git); its one branch is main, which HEAD names.
// The same content always gives the same commit id. The daemon (git daemon
// --verbose, upload-pack only: no push, no archive) runs in the foreground
// with no system or global git configuration and a temporary HOME, logs each
// connection on its output and is killed at cleanup like every process of
// [Topology.Start]; both addresses accept connections when StartGitDaemon
// returns. It calls [Unavailable] when git (package git) is missing.
func (tp *Topology) StartGitDaemon(t testing.TB, port int, content string) (commit string) {
	t.Helper()
	git := NeedCommand(t, "git")
	checkPort(t, port)
	base, home := t.TempDir(), t.TempDir()
	repo := filepath.Join(base, "repo.git")
	env := append(append([]string{}, gitEnv...), "HOME="+home, "GIT_INDEX_FILE="+filepath.Join(home, "index"))
	run := func(args ...string) string {
		t.Helper()
		out, errOut, code := runProc(t, gitTimeout, "", env, append([]string{git, "--git-dir=" + repo}, args...))
		if code != 0 {
			t.Fatalf("testnet: git %s: exit %d: %s", strings.Join(args, " "), code, errOut)
		}
		return strings.TrimSpace(out)
	}

	// Plumbing only: no work tree, no hooks, no configuration to depend on.
	run("init", "-q", "--bare", "--initial-branch=main", "--object-format=sha1")
	readme := filepath.Join(home, "README")
	writeFile(t, readme, content, 0o644)
	blob := run("hash-object", "-w", "--no-filters", readme)
	run("update-index", "--add", "--cacheinfo", "100644,"+blob+",README")
	tree := run("write-tree")
	commit = run("commit-tree", "-m", "chainrun testnet: README", tree)
	run("update-ref", "refs/heads/main", commit)
	writeFile(t, filepath.Join(repo, "git-daemon-export-ok"), "", 0o644)

	a4 := hostPort(tp.TargetIP.String(), port)
	a6 := hostPort(tp.TargetIP6.String(), port)
	argv := []string{"env"}
	argv = append(argv, gitEnv...)
	argv = append(argv, "HOME="+home, git, "daemon", "--verbose", "--informative-errors", "--reuseaddr",
		"--disable=receive-pack", "--disable=upload-archive", "--forbid-override=receive-pack",
		"--base-path="+base, "--listen="+tp.TargetIP.String(), "--listen="+tp.TargetIP6.String(),
		"--port="+strconv.Itoa(port))
	p := tp.Start(t, tp.Target, argv...)
	tp.waitProcListen(t, p, tp.Target, a4, startTimeout)
	tp.waitProcListen(t, p, tp.Target, a6, startTimeout)
	return commit
}

// SSHClient is how an ssh or scp client logs in to an sshd of
// [Topology.StartSSHD].
type SSHClient struct {
	// Identity is the private key (no passphrase) whose public half root's
	// authorized_keys holds.
	Identity string
	// KnownHosts is a known_hosts file that trusts the sshd's host key at
	// the address it listens on.
	KnownHosts string

	port uint16 // the sshd's port, when not 22
}

// StartSSHD starts a private sshd (own host key, own config, key-only auth for root, no PAM;
// the same namespace setup as the sshd of StartSSHSocks: private /run, shadow override)
// in namespace ns listening on addr, and returns a client config the test passes to ssh:
// identity file, a known_hosts file that already trusts the host key for addr's host, and the
// options needed for a non-interactive run (BatchMode=yes, StrictHostKeyChecking=yes, -F /dev/null, no agent).
//
// addr is an IP literal and a port ("10.78.0.2:22", "[fd78::2]:2222"); a
// fresh namespace has port 22 free, since a system sshd runs in the host's
// namespace. Root logs in with [SSHClient.Identity] and may run commands,
// forward TCP and use SFTP (internal-sftp, which scp uses by default); there
// are no TTYs. The sshd is the one [Topology.StartSSHSocks] describes
// (mount namespace of its own with a tmpfs on /run and a private
// /etc/shadow; neither the host's /run nor its /etc is written), it logs on
// its output, and it accepts connections when StartSSHD returns; it is
// killed at cleanup like every process of [Topology.Start]. It calls
// [Unavailable] when sshd or ssh-keygen (packages openssh-server,
// openssh-client) or unshare and mount (util-linux) are missing.
func (tp *Topology) StartSSHD(t testing.TB, ns, addr string) SSHClient {
	t.Helper()
	srv := tp.startSSHD(t, ns, addr, "ssh and scp", "Subsystem sftp internal-sftp\n")
	c := SSHClient{Identity: srv.userKey, KnownHosts: srv.knownHosts}
	if ap, err := netip.ParseAddrPort(addr); err == nil && ap.Port() != 22 {
		c.port = ap.Port()
	}
	return c
}

// Args returns the ssh arguments (before the destination) that use this client config.
//
// They are options that scp takes as well: -F /dev/null (no user or system
// configuration), -i Identity with IdentitiesOnly and no agent, BatchMode
// (never a prompt), StrictHostKeyChecking with KnownHosts as the only
// known_hosts file, no connection sharing, a 20 s connect timeout, LogLevel
// ERROR (a quiet stderr), and -o Port=PORT when the sshd does not listen on
// port 22. Use them as
//
//	ssh  ARGS… root@10.78.0.2 'echo ok'
//	scp  ARGS… root@10.78.0.2:/path/file local-file
func (c SSHClient) Args() []string {
	args := []string{"-F", "/dev/null", "-i", c.Identity,
		"-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + c.KnownHosts,
		"-o", "GlobalKnownHostsFile=/dev/null", "-o", "CheckHostIP=no", "-o", "UpdateHostKeys=no",
		"-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "ConnectTimeout=20",
		"-o", "LogLevel=ERROR"}
	if c.port != 0 {
		args = append(args, "-o", "Port="+strconv.Itoa(int(c.port)))
	}
	return args
}
