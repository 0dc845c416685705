package socks

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chainrun/chainrun/internal/testnet"
)

// Bounds of the real-Tor test.
const (
	torStartTimeout = 20 * time.Second // tor up and its control socket accepting
	torAnswerBound  = 15 * time.Second // one SOCKS exchange with tor
)

// TestTorOffline runs the real tor, offline: DisableNetwork 1 (it makes
// no connection at all), listening on loopback and on a control socket in
// its private data directory only. When tor's SocksPort accepts, RESOLVE
// must get a well-formed reply within a bound (an error reply is fine:
// tor is offline), and a CONNECT to a malformed .onion address must get
// Tor's extended error 0xF6 (ExtendedErrors).
//
// Observed with tor 0.4.9: while DisableNetwork is 1, tor opens no
// listener but the control ones (its manual: "we don't listen for or
// accept any connections other than controller connections"), so the
// SocksPort stays closed and the SOCKS checks are skipped, after the test
// has made sure, through the control socket, that this is the reason.
func TestTorOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("starts tor")
	}
	torPath := testnet.NeedCommand(t, "tor")
	tor := startTor(t, torPath)

	listeners := tor.control(t, "GETINFO net/listeners/socks")
	disabled := tor.control(t, "GETCONF DisableNetwork")
	if !strings.Contains(disabled, "DisableNetwork=1") {
		t.Fatalf("tor runs with %q, want DisableNetwork=1", disabled)
	}
	if !strings.Contains(listeners, `net/listeners/socks="127.0.0.1:`) {
		// Tor keeps non-control listeners closed while the network is
		// disabled: make sure the port agrees, then say why we stop.
		c, err := net.DialTimeout("tcp", tor.socks, time.Second)
		if err == nil {
			c.Close()
			t.Fatalf("tor's SocksPort %s accepts, but GETINFO says %q", tor.socks, listeners)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dialing tor's closed SocksPort %s: %v, want ECONNREFUSED", tor.socks, err)
		}
		t.Skipf("tor %s keeps its SocksPort closed while DisableNetwork is 1 (%s, connect: %v); "+
			"the RESOLVE and .onion checks need a SocksPort, which an offline tor does not open",
			tor.version, infoLine(listeners, "net/listeners/socks"), err)
	}

	t.Run("RESOLVE", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), torAnswerBound)
		defer cancel()
		c := tor.dialSOCKS(t)
		ip, err := Resolve5(ctx, c, "example.com", nil)
		var re *ReplyError
		switch {
		case err == nil:
			t.Logf("offline tor resolved example.com to %v", ip)
		case errors.As(err, &re):
			t.Logf("offline tor answered RESOLVE with %v (%v)", re.Reply, err)
		default:
			t.Fatalf("RESOLVE: %v, want a well-formed SOCKS5 reply within %v", err, torAnswerBound)
		}
	})

	t.Run("malformed onion address", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), torAnswerBound)
		defer cancel()
		c := tor.dialSOCKS(t)
		_, err := Connect5(ctx, c, Addr{Name: "this-is-not-an-onion-address.onion", Port: 80}, nil)
		var re *ReplyError
		if !errors.As(err, &re) || re.Reply != StatusOnionBadAddress {
			t.Fatalf("CONNECT to a malformed .onion: %v, want reply 0xf6", err)
		}
		if want := "socks5: onion service invalid address (Tor extended error 0xf6)"; err.Error() != want || !errors.Is(err, syscall.EINVAL) {
			t.Errorf("err = %q (EINVAL %v), want %q and EINVAL", err, errors.Is(err, syscall.EINVAL), want)
		}
	})
}

// torProcess is a tor started by startTor.
type torProcess struct {
	socks   string // the SocksPort, host:port
	ctlPath string // the control socket
	version string
}

// startTor checks the offline configuration with --verify-config, starts
// tor with it and waits, bounded, until its control socket accepts. Tor is
// killed by PID at cleanup.
func startTor(t *testing.T, torPath string) *torProcess {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	tp := &torProcess{socks: freeLoopbackPort(t), ctlPath: filepath.Join(data, "control")}
	conf := strings.Join([]string{
		"DataDirectory " + data,
		"SocksPort " + tp.socks + " ExtendedErrors",
		"SocksTimeout 10",
		"ControlSocket " + tp.ctlPath,
		"DisableNetwork 1",
		"ClientOnly 1",
		"Log notice stderr",
		"AvoidDiskWrites 1",
		"",
	}, "\n")
	torrc := filepath.Join(dir, "torrc")
	empty := filepath.Join(dir, "torrc-defaults") // no system-wide defaults
	for name, text := range map[string]string{torrc: conf, empty: ""} {
		if err := os.WriteFile(name, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"--defaults-torrc", empty, "-f", torrc}

	ctx, cancel := context.WithTimeout(context.Background(), torStartTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, torPath, append([]string{"--verify-config"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("tor --verify-config: %v\n%s", err, out)
	}
	if v, err := exec.CommandContext(ctx, torPath, "--version").Output(); err == nil {
		tp.version = strings.TrimSuffix(strings.Fields(string(v) + " ? ? ?")[2], ".")
	}

	cmd := exec.Command(torPath, args...)
	var logBuf syncBuffer
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting tor: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // by PID
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			t.Errorf("tor (pid %d) did not exit after SIGKILL", cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("tor's log:\n%s", logBuf.String())
		}
	})

	deadline := time.Now().Add(torStartTimeout)
	for i := 0; ; i++ {
		c, err := net.DialTimeout("unix", tp.ctlPath, time.Second)
		if err == nil {
			c.Close()
			return tp
		}
		select {
		case <-exited:
			t.Fatalf("tor exited before its control socket accepted (%v); log:\n%s", cmd.ProcessState, logBuf.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) || i > int(torStartTimeout/(50*time.Millisecond))+10 {
			t.Fatalf("tor's control socket did not accept within %v: %v; log:\n%s", torStartTimeout, err, logBuf.String())
		}
	}
}

// control sends one command over a fresh control connection (no
// authentication: the socket lives in tor's private data directory) and
// returns the reply, which must end with "250 OK".
func (tp *torProcess) control(t *testing.T, command string) string {
	t.Helper()
	c, err := net.DialTimeout("unix", tp.ctlPath, time.Second)
	if err != nil {
		t.Fatalf("control socket: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(torAnswerBound))
	fmt.Fprintf(c, "AUTHENTICATE\r\n%s\r\nQUIT\r\n", command)
	var reply strings.Builder
	sc := bufio.NewScanner(c)
	for lines := 0; sc.Scan() && lines < 100; lines++ {
		reply.WriteString(sc.Text() + "\n")
	}
	got := reply.String()
	// AUTHENTICATE's 250 OK, the command's lines ending in 250 OK (or
	// "250 key=value" for a single GETCONF value), and QUIT's.
	if !strings.HasPrefix(got, "250 OK\n") || strings.Count(got, "\n250") < 2 {
		t.Fatalf("tor control %q: %q", command, got)
	}
	return got
}

// infoLine returns the line of a control reply that mentions key.
func infoLine(reply, key string) string {
	for line := range strings.Lines(reply) {
		if strings.Contains(line, key) {
			return strings.TrimSpace(line)
		}
	}
	return strings.TrimSpace(reply)
}

// dialSOCKS connects to tor's SocksPort; the connection closes at cleanup.
func (tp *torProcess) dialSOCKS(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", tp.socks, time.Second)
	if err != nil {
		t.Fatalf("tor's SocksPort: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// freeLoopbackPort returns 127.0.0.1:port for a port that was free a
// moment ago.
func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
