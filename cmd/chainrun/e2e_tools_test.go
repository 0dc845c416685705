package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chainrun/chainrun/internal/testnet"
)

// git and ssh/scp under chainrun: real clients in the client namespace,
// real servers (git daemon, sshd) in the target namespace, microsocks in
// between. The client namespace has no route to the target, and the same
// commands without chainrun are shown to fail.

const (
	toolsSocksPort = 1080 // microsocks, no auth
	toolsGitPort   = 9418 // git daemon
	toolsSSHPort   = 22   // sshd
	toolsScpSize   = 5 << 20
	toolsReadme    = "chainrun git end-to-end README\n"
)

func TestToolsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests are not short")
	}
	tp := testnet.New(t)
	git := testnet.NeedCommand(t, "git")
	ssh := testnet.NeedCommand(t, "ssh")
	scp := testnet.NeedCommand(t, "scp")
	e := &e2e{tp: tp, bin: buildChainrun(t)}
	tp.StartMicrosocks(t, toolsSocksPort, "", "")
	commit := tp.StartGitDaemon(t, toolsGitPort, toolsReadme)
	sshAddr := net.JoinHostPort(tp.TargetIP.String(), strconv.Itoa(toolsSSHPort))
	sshc := tp.StartSSHD(t, tp.Target, sshAddr)

	// The premise: no direct way from the client to either server.
	for _, port := range []int{toolsGitPort, toolsSSHPort} {
		if c, err := tp.DialFrom(tp.Client, net.JoinHostPort(tp.TargetIP.String(), strconv.Itoa(port)), 2*time.Second); err == nil {
			c.Close()
			t.Fatalf("the client namespace reaches the target's port %d directly: the topology is broken", port)
		}
	}

	proxy := e.socks(toolsSocksPort)
	target := tp.TargetIP.String()
	gitURL := "git://" + net.JoinHostPort(target, strconv.Itoa(toolsGitPort)) + "/repo.git"
	gitURL6 := "git://" + net.JoinHostPort(tp.TargetIP6.String(), strconv.Itoa(toolsGitPort)) + "/repo.git"
	// git gets a home of its own and no system or global configuration.
	gitEnv := []string{"HOME=" + t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0"}
	// runGit runs argv in the client namespace with gitEnv.
	runGit := func(t *testing.T, argv ...string) (string, string, int) {
		t.Helper()
		return tp.Run(t, commandTimeout, tp.Client, gitEnv, argv...)
	}
	sshArgv := func(cmd string) []string {
		return append(append([]string{ssh}, sshc.Args()...), "root@"+target, cmd)
	}
	// viaProxy is what -v prints for a connection to port made through the proxy.
	viaProxy := func(port int) string {
		return "tcp " + net.JoinHostPort(target, strconv.Itoa(port)) + " via " + proxy + " ok"
	}

	t.Run("git clone", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "clone")
		out, errOut, code := runGit(t, e.bin, "-v", "-x", proxy, git, "clone", gitURL, dir)
		if code != 0 {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		if b, err := os.ReadFile(filepath.Join(dir, "README")); err != nil || string(b) != toolsReadme {
			t.Errorf("README = %q, %v; want %q", b, err, toolsReadme)
		}
		if head, errOut, _ := tp.Run(t, commandTimeout, "", gitEnv, git, "-C", dir, "rev-parse", "HEAD"); strings.TrimSpace(head) != commit {
			t.Errorf("HEAD = %q, want %s (%s)", head, commit, errOut)
		}
		if !strings.Contains(errOut, viaProxy(toolsGitPort)) {
			t.Errorf("-v does not show %q:\n%s", viaProxy(toolsGitPort), errOut)
		}
	})

	t.Run("git ls-remote, IPv6 destination", func(t *testing.T) {
		out, errOut, code := runGit(t, e.bin, "-x", proxy, git, "ls-remote", gitURL6, "refs/heads/main")
		if code != 0 || !strings.HasPrefix(out, commit+"\trefs/heads/main") {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
	})

	t.Run("ssh", func(t *testing.T) {
		out, errOut, code := e.run(t, append([]string{"-v", "-x", proxy}, sshArgv("echo ssh-through-chainrun")...)...)
		if code != 0 || out != "ssh-through-chainrun\n" {
			t.Fatalf("exit %d\nstdout: %q\nstderr: %s", code, out, errOut)
		}
		if !strings.Contains(errOut, viaProxy(toolsSSHPort)) {
			t.Errorf("-v does not show %q:\n%s", viaProxy(toolsSSHPort), errOut)
		}
	})

	t.Run("scp 5 MB from the target", func(t *testing.T) {
		dir := t.TempDir()
		src, dst := filepath.Join(dir, "src.bin"), filepath.Join(dir, "dst.bin")
		data := make([]byte, toolsScpSize)
		if _, err := rand.Read(data); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(src, data, 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		want := hex.EncodeToString(sum[:])
		argv := append(append([]string{"-v", "-x", proxy, scp, "-q"}, sshc.Args()...), "root@"+target+":"+src, dst)
		out, errOut, code := e.run(t, argv...)
		if code != 0 {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		got, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		gotSum := sha256.Sum256(got)
		if g := hex.EncodeToString(gotSum[:]); g != want {
			t.Errorf("copy has %d bytes, sha256 %s; want %d bytes, %s", len(got), g, len(data), want)
		}
		if !strings.Contains(errOut, viaProxy(toolsSSHPort)) {
			t.Errorf("-v does not show %q:\n%s", viaProxy(toolsSSHPort), errOut)
		}
	})

	// The same commands without chainrun: no route, so they fail. Were
	// chainrun to let a connection through unproxied, it would fail too.
	t.Run("control: without chainrun", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "clone")
		_, errOut, code := runGit(t, git, "clone", gitURL, dir)
		if code == 0 || !strings.Contains(strings.ToLower(errOut), "unreachable") {
			t.Errorf("git clone without chainrun: exit %d, want a failure for lack of a route\nstderr: %s", code, errOut)
		}
		if _, err := os.Stat(filepath.Join(dir, "README")); err == nil {
			t.Errorf("git clone without chainrun wrote %s", dir)
		}
		out, errOut, code := tp.Run(t, commandTimeout, tp.Client, nil, sshArgv("echo ssh-through-chainrun")...)
		if code == 0 || strings.Contains(out, "ssh-through-chainrun") || !strings.Contains(strings.ToLower(errOut), "unreachable") {
			t.Errorf("ssh without chainrun: exit %d, want a failure for lack of a route\nstdout: %q\nstderr: %s", code, out, errOut)
		}
	})
}
