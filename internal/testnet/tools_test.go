package testnet

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestGitDaemon clones the repository of StartGitDaemon from inside the
// target namespace, over IPv4 and IPv6, and checks its one commit, that the
// commit id does not depend on the run, and that the daemon is read-only.
func TestGitDaemon(t *testing.T) {
	NeedRoot(t)
	git := NeedCommand(t, "git")
	tp := New(t)
	const content = "hello from the git daemon\n"
	commit := tp.StartGitDaemon(t, 9418, content)
	if !regexp.MustCompile(`^[0-9a-f]{40}$`).MatchString(commit) {
		t.Fatalf("commit id %q", commit)
	}
	if again := tp.StartGitDaemon(t, 9419, content); again != commit {
		t.Errorf("the same content gave commits %s and %s", commit, again)
	}
	if other := tp.StartGitDaemon(t, 9420, "other\n"); other == commit {
		t.Errorf("different contents gave the same commit %s", commit)
	}

	home := t.TempDir()
	env := []string{"HOME=" + home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0"}
	gitIn := func(t *testing.T, args ...string) (string, string, int) {
		t.Helper()
		return tp.Run(t, 30*time.Second, tp.Target, env, append([]string{git}, args...)...)
	}
	for _, url := range []string{"git://10.78.0.2:9418/repo.git", "git://[fd78::2]:9418/repo.git"} {
		t.Run(url, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "clone")
			if _, errOut, code := gitIn(t, "clone", "-q", url, dir); code != 0 {
				t.Fatalf("git clone %s: exit %d: %s", url, code, errOut)
			}
			if b, err := os.ReadFile(filepath.Join(dir, "README")); err != nil || string(b) != content {
				t.Errorf("README = %q, %v; want %q", b, err, content)
			}
			if out, _, _ := gitIn(t, "-C", dir, "rev-parse", "HEAD"); strings.TrimSpace(out) != commit {
				t.Errorf("HEAD = %q, want %s", out, commit)
			}
			if out, _, _ := gitIn(t, "-C", dir, "symbolic-ref", "--short", "HEAD"); strings.TrimSpace(out) != "main" {
				t.Errorf("branch %q, want main", out)
			}
			// Read-only: a push is refused.
			if err := os.WriteFile(filepath.Join(dir, "NEW"), []byte("new\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			gitIn(t, "-C", dir, "add", "NEW")
			if _, errOut, code := gitIn(t, "-C", dir, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "new"); code != 0 {
				t.Fatalf("git commit: exit %d: %s", code, errOut)
			}
			if _, errOut, code := gitIn(t, "-C", dir, "push", "-q", "origin", "HEAD:main"); code == 0 || !strings.Contains(errOut, "service not enabled") {
				t.Errorf("git push to the daemon: exit %d: %s", code, errOut)
			}
		})
	}
	t.Run("unknown repository", func(t *testing.T) {
		if _, _, code := gitIn(t, "clone", "-q", "git://10.78.0.2:9418/nope.git", filepath.Join(t.TempDir(), "c")); code == 0 {
			t.Errorf("cloned a repository that does not exist")
		}
	})
	// The daemon logged the clones; after the push it still serves the
	// original commit.
	out, _, _ := gitIn(t, "ls-remote", "git://10.78.0.2:9418/repo.git", "refs/heads/main")
	if !strings.HasPrefix(out, commit) {
		t.Errorf("ls-remote after the push: %q, want %s", out, commit)
	}
	daemon := tp.procs[0]
	if log := daemon.Output(); !strings.Contains(log, "Connection from 10.78.0.2") || !strings.Contains(log, "Connection from [fd78::2]") {
		t.Errorf("git daemon log:\n%s", log)
	}
}

// TestSSHD logs in to StartSSHD's sshd from inside the target namespace with
// the client config it returns, over IPv4 on port 22 and IPv6 on another
// port, copies a file with scp, and checks that a wrong host key or a wrong
// key is refused.
func TestSSHD(t *testing.T) {
	NeedRoot(t)
	ssh := NeedCommand(t, "ssh")
	scp := NeedCommand(t, "scp")
	tp := New(t)
	c4 := tp.StartSSHD(t, tp.Target, "10.78.0.2:22")
	c6 := tp.StartSSHD(t, tp.Target, "[fd78::2]:2222")
	for _, c := range []SSHClient{c4, c6} {
		for _, f := range []string{c.Identity, c.KnownHosts} {
			if _, err := os.Stat(f); err != nil {
				t.Errorf("client file: %v", err)
			}
		}
	}
	if a := strings.Join(c4.Args(), " "); !strings.Contains(a, "-F /dev/null") || !strings.Contains(a, "BatchMode=yes") ||
		!strings.Contains(a, "StrictHostKeyChecking=yes") || !strings.Contains(a, "IdentityAgent=none") || strings.Contains(a, "Port=") {
		t.Errorf("c4.Args() = %s", a)
	}
	if a := strings.Join(c6.Args(), " "); !strings.Contains(a, "Port=2222") {
		t.Errorf("c6.Args() = %s", a)
	}

	run := func(t *testing.T, argv ...string) (string, string, int) {
		t.Helper()
		// No HOME: ssh must need nothing from ~/.ssh.
		return tp.Run(t, 30*time.Second, tp.Target, []string{"HOME=/nonexistent", "SSH_AUTH_SOCK="}, argv...)
	}
	sshTo := func(t *testing.T, c SSHClient, host, cmd string) (string, string, int) {
		t.Helper()
		return run(t, append(append([]string{ssh}, c.Args()...), "root@"+host, cmd)...)
	}

	t.Run("IPv4, port 22", func(t *testing.T) {
		out, errOut, code := sshTo(t, c4, "10.78.0.2", "echo ok; id -u")
		if code != 0 || out != "ok\n0\n" {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
	t.Run("IPv6, port 2222", func(t *testing.T) {
		out, errOut, code := sshTo(t, c6, "fd78::2", "echo ok6")
		if code != 0 || out != "ok6\n" {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
	t.Run("exit status", func(t *testing.T) {
		if _, _, code := sshTo(t, c4, "10.78.0.2", "exit 7"); code != 7 {
			t.Errorf("exit %d, want 7", code)
		}
	})
	t.Run("scp", func(t *testing.T) {
		dir := t.TempDir()
		src, dst := filepath.Join(dir, "src.bin"), filepath.Join(dir, "dst.bin")
		sum, err := writeRandom(src, 1<<20+3)
		if err != nil {
			t.Fatal(err)
		}
		argv := append(append([]string{scp, "-q"}, c6.Args()...), "root@[fd78::2]:"+src, dst)
		if _, errOut, code := run(t, argv...); code != 0 {
			t.Fatalf("scp: exit %d: %s", code, errOut)
		}
		if got := fileSHA256(t, dst); got != sum {
			t.Errorf("scp copy sha256 %s, want %s", got, sum)
		}
	})
	t.Run("unknown host key", func(t *testing.T) {
		bad := c6
		bad.KnownHosts = c4.KnownHosts // trusts another key, for another address
		out, errOut, code := sshTo(t, bad, "fd78::2", "echo leaked")
		if code == 0 || strings.Contains(out, "leaked") || !strings.Contains(errOut, "Host key verification failed") {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		bad := c6
		bad.Identity = c4.Identity // authorized by the other sshd only
		out, errOut, code := sshTo(t, bad, "fd78::2", "echo leaked")
		if code == 0 || strings.Contains(out, "leaked") || !strings.Contains(errOut, "Permission denied") {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
}
