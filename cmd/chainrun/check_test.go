package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chainrun/chainrun/internal/socksserver"
	"github.com/chainrun/chainrun/socks"
)

// checkTestBound bounds one check in these tests.
const checkTestBound = 10 * time.Second

// runCheckTest runs `chainrun check ARGS` with an empty environment (no
// configuration file but the one -f names) and returns its output and status.
func runCheckTest(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	start := time.Now()
	code = runCheck(context.Background(), args, func(string) string { return "" }, &o, &e)
	if took := time.Since(start); took > checkTestBound {
		t.Errorf("check %q took %v", args, took)
	}
	t.Logf("check %q: exit %d\n%s%s", args, code, o.String(), e.String())
	return o.String(), e.String(), code
}

// startSOCKS runs s on a loopback listener until the test ends and
// returns its address.
func startSOCKS(t *testing.T, s *socksserver.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		s.Serve(ctx, ln)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ln.Addr().String()
}

// closedAddr is a loopback address where nothing listens (a moment ago
// something did).
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startListener accepts connections on loopback and holds them, saying
// nothing, until the test ends; it returns the address.
func startListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

// startReplying is a SOCKS5 hop that answers every request with reply
// (no authentication), as Tor answers with its extended codes.
func startReplying(t *testing.T, reply socks.Reply) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(checkTestBound))
				if _, err := socks.ServerHandshake(c, nil); err != nil {
					return
				}
				socks.WriteReply5(c, reply, socks.Addr{IP: netip.IPv4Unspecified(), Port: 0})
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// hopLine returns the line of out that starts with what ("hop 2",
// "target"), split in fields.
func hopLine(t *testing.T, out, what string) []string {
	t.Helper()
	for l := range strings.Lines(out) {
		if strings.HasPrefix(l, what+" ") {
			return strings.Fields(l)
		}
	}
	t.Fatalf("no line %q in:\n%s", what, out)
	return nil
}

// wantLine checks that the line of what has status ok or FAILED,
// milliseconds, and says each of says.
func wantLine(t *testing.T, out, what, status string, says ...string) {
	t.Helper()
	f := hopLine(t, out, what)
	n := len(strings.Fields(what))
	if len(f) < n+3 || f[n+1] != status {
		t.Errorf("%s: %q, want status %s", what, f, status)
		return
	}
	if f[n+2] != "-" && !regexp.MustCompile(`^\d+\.\dms$`).MatchString(f[n+2]) {
		t.Errorf("%s: %q is not milliseconds", what, f[n+2])
	}
	text := strings.Join(f, " ")
	for _, s := range says {
		if !strings.Contains(text, s) {
			t.Errorf("%s: %q does not say %q", what, text, s)
		}
	}
}

func TestCheckOneHop(t *testing.T) {
	addr := startSOCKS(t, &socksserver.Server{})
	out, _, code := runCheckTest(t, "-x", "socks5://"+addr)
	if code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	if !strings.HasPrefix(out, "chain socks5://"+addr+" (-x, strict)\n") {
		t.Errorf("first line of %q", out)
	}
	wantLine(t, out, "hop 1", "ok", "socks5://"+addr, "TCP connect to "+addr, "SOCKS5 greeting", "no authentication")

	// --target: through the chain to a listener, ok; to a closed port,
	// the hop's refusal in words with the errno a program would get.
	target := startListener(t)
	out, _, code = runCheckTest(t, "-x", "socks5://"+addr, "--target", target)
	if code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	wantLine(t, out, "hop 1", "ok", "TCP connect")
	if strings.Contains(out, "greeting") {
		t.Errorf("--target: the last hop was greeted on its own:\n%s", out)
	}
	wantLine(t, out, "target", "ok", target, "through the whole chain")

	closed := closedAddr(t)
	out, _, code = runCheckTest(t, "-x", "socks5://"+addr, "--target", closed)
	if code != exitCheckFailed {
		t.Errorf("exit %d, want %d", code, exitCheckFailed)
	}
	wantLine(t, out, "hop 1", "ok")
	wantLine(t, out, "target", "FAILED", closed, "socks5: connection refused by destination -> ECONNREFUSED")
}

func TestCheckTwoHops(t *testing.T) {
	hop2 := startSOCKS(t, &socksserver.Server{})
	_, hop2Port, _ := net.SplitHostPort(hop2)
	const hop2Name = "hop2.check.test" // only hop 1 knows it
	var mu sync.Mutex
	var asked []string
	hop1 := startSOCKS(t, &socksserver.Server{Dial: func(ctx context.Context, dst socks.Addr) (net.Conn, error) {
		mu.Lock()
		asked = append(asked, dst.String())
		mu.Unlock()
		if dst.Name == hop2Name {
			dst = socks.Addr{IP: netip.MustParseAddr("127.0.0.1"), Port: dst.Port}
		}
		return (&net.Dialer{}).DialContext(ctx, "tcp", dst.String())
	}})
	hop2URL := "socks5h://" + net.JoinHostPort(hop2Name, hop2Port)
	out, _, code := runCheckTest(t, "-x", "socks5://"+hop1, "-x", hop2URL)
	if code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	wantLine(t, out, "hop 1", "ok", "TCP connect to "+hop1)
	wantLine(t, out, "hop 2", "ok", hop2URL, "through hop 1", "SOCKS5 greeting", "no authentication")
	mu.Lock()
	if len(asked) != 1 || asked[0] != net.JoinHostPort(hop2Name, hop2Port) {
		t.Errorf("hop 1 was asked for %q, want hop 2 by its name", asked)
	}
	mu.Unlock()

	target := startListener(t)
	out, _, code = runCheckTest(t, "-x", "socks5://"+hop1, "-x", hop2URL, "--target", target)
	if code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	wantLine(t, out, "hop 2", "ok", "through hop 1")
	wantLine(t, out, "target", "ok", target)

	t.Run("dead first hop", func(t *testing.T) {
		dead := closedAddr(t)
		out, _, code := runCheckTest(t, "-x", "socks5://"+dead, "-x", hop2URL, "--target", target)
		if code != exitCheckFailed {
			t.Errorf("exit %d, want %d", code, exitCheckFailed)
		}
		wantLine(t, out, "hop 1", "FAILED", "connect to "+dead+": connection refused -> ECONNREFUSED")
		wantLine(t, out, "hop 2", "FAILED", "not checked: hop 1 failed")
		wantLine(t, out, "target", "FAILED", "hop 1 (socks5://"+dead+")")
	})

	t.Run("dead second hop", func(t *testing.T) {
		dead := closedAddr(t)
		out, _, code := runCheckTest(t, "-x", "socks5://"+hop1, "-x", "socks5://"+dead)
		if code != exitCheckFailed {
			t.Errorf("exit %d, want %d", code, exitCheckFailed)
		}
		wantLine(t, out, "hop 1", "ok")
		wantLine(t, out, "hop 2", "FAILED", "hop 1 (socks5://"+hop1+"): socks5: connection refused by destination -> ECONNREFUSED")
	})

	t.Run("silent second hop", func(t *testing.T) {
		silent := startListener(t)
		start := time.Now()
		out, _, code := runCheckTest(t, "-x", "socks5://"+hop1, "-x", "socks5://"+silent, "--timeout", "300ms")
		if code != exitCheckFailed {
			t.Errorf("exit %d, want %d", code, exitCheckFailed)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("--timeout 300ms: the check took %v", took)
		}
		wantLine(t, out, "hop 2", "FAILED", "SOCKS5 greeting", "timed out", "-> ETIMEDOUT", "(check --timeout 300ms reached)")
	})
}

func TestCheckCredentials(t *testing.T) {
	var mu sync.Mutex
	var users []string
	record := func(user, pass string) bool {
		mu.Lock()
		defer mu.Unlock()
		users = append(users, user)
		return user == "alice" && pass == "s3cret" || strings.HasPrefix(user, "chainrun-")
	}
	addr := startSOCKS(t, &socksserver.Server{Auth: &socks.ServerConfig{Credentials: record, RequireAuth: true}})

	out, _, code := runCheckTest(t, "-x", "socks5://alice:s3cret@"+addr)
	if code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	wantLine(t, out, "hop 1", "ok", "socks5://alice:***@"+addr, "username/password accepted")

	out, _, code = runCheckTest(t, "-x", "socks5://alice:wrongpw@"+addr)
	if code != exitCheckFailed {
		t.Errorf("exit %d, want %d", code, exitCheckFailed)
	}
	wantLine(t, out, "hop 1", "FAILED", "socks5://alice:***@"+addr, "TCP connect", "username/password rejected by proxy", "-> ECONNREFUSED")
	if strings.Contains(out, "wrongpw") {
		t.Errorf("the password shows:\n%s", out)
	}

	// A profile with isolate = "run": the last hop gets the credentials
	// a run would send.
	conf := filepath.Join(t.TempDir(), "proxychains.toml")
	if err := os.WriteFile(conf, []byte("[proxies]\nlast = \"socks5://"+addr+"\"\n[profiles.iso]\nchain = [\"last\"]\nisolate = \"run\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	users = nil
	mu.Unlock()
	out, _, code = runCheckTest(t, "-f", conf, "-p", "iso")
	if code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	if !strings.HasPrefix(out, "chain socks5://"+addr+" (profile iso, strict, isolate run)\n") {
		t.Errorf("first line of %q", out)
	}
	wantLine(t, out, "hop 1", "ok", "isolation credentials accepted (user chainrun-")
	target := startListener(t)
	if _, _, code = runCheckTest(t, "-f", conf, "--target", target); code != 0 {
		t.Errorf("--target: exit %d, want 0", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(users) != 2 || !regexp.MustCompile(`^chainrun-[0-9a-f]+$`).MatchString(users[0]) || !regexp.MustCompile(`^chainrun-[0-9a-f]+$`).MatchString(users[1]) {
		t.Errorf("the hop saw users %q, want two run identities", users)
	}
}

func TestCheckTorExtendedError(t *testing.T) {
	addr := startReplying(t, socks.StatusOnionBadAddress)
	out, _, code := runCheckTest(t, "-x", "socks5h://"+addr, "--target", "abcdefghijklmnop.onion:80")
	if code != exitCheckFailed {
		t.Errorf("exit %d, want %d", code, exitCheckFailed)
	}
	wantLine(t, out, "hop 1", "ok")
	wantLine(t, out, "target", "FAILED", "abcdefghijklmnop.onion:80",
		"socks5: onion service invalid address (Tor extended error 0xf6) -> EINVAL")
}

func TestCheckNotes(t *testing.T) {
	// An HTTP last hop is not greeted; a target that a rule sends
	// elsewhere is noted.
	addr := startListener(t)
	conf := filepath.Join(t.TempDir(), "proxychains.toml")
	if err := os.WriteFile(conf, []byte("[proxies]\nweb = \"http://"+addr+"\"\n[profiles.p]\nchain = [\"web\"]\ndirect = [\"10.9.9.9\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, code := runCheckTest(t, "-f", conf)
	if code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	wantLine(t, out, "hop 1", "ok", "no handshake checked without --target (http)")
	out, _, _ = runCheckTest(t, "-f", conf, "--target", "10.9.9.9:80", "--timeout", "200ms")
	if !strings.Contains(out, "note: a run would connect it direct (rule direct: 10.9.9.9)") {
		t.Errorf("no note about the direct rule:\n%s", out)
	}
}

func TestCheckUsage(t *testing.T) {
	out, _, code := runCheckTest(t, "-h")
	if code != 0 || !strings.HasPrefix(out, "Usage: chainrun check") {
		t.Errorf("-h: exit %d, %q", code, out)
	}
	var o, e bytes.Buffer
	if code := run(context.Background(), []string{"check", "--help"}, &o, &e); code != 0 || !strings.Contains(o.String(), "--target HOST:PORT") {
		t.Errorf("chainrun check --help: exit %d, %q", code, o.String())
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "unknown flag --bogus"},
		{[]string{"-q"}, "unknown flag -q"},
		{[]string{"-x"}, "flag -x needs a value"},
		{[]string{"-x", "ftp://127.0.0.1"}, "unsupported scheme"},
		{[]string{"-x", "socks5://127.0.0.1:1", "curl"}, `unexpected argument "curl"`},
		{[]string{"-x", "socks5://127.0.0.1:1", "--timeout", "0"}, "not a positive duration"},
		{[]string{"-x", "socks5://127.0.0.1:1", "--timeout=soon"}, "not a positive duration"},
		{[]string{"-x", "socks5://127.0.0.1:1", "--target", "example.com"}, "want HOST:PORT"},
		{[]string{"-x", "socks5://127.0.0.1:1", "--target", "example.com:0"}, "want HOST:PORT"},
		{[]string{"-x", "socks5://127.0.0.1:1", "--target", ":80"}, "want HOST:PORT"},
		{[]string{"-h=yes"}, "takes no value"},
		{nil, "no proxy given"},
		{[]string{"-p", "nonesuch"}, "no built-in profile of that name"},
		{[]string{"-f", "/nonexistent/proxychains.toml"}, "/nonexistent/proxychains.toml"},
	} {
		out, errOut, code := runCheckTest(t, c.args...)
		if code != exitFailure || out != "" || !strings.HasPrefix(errOut, "chainrun: check: ") || !strings.Contains(errOut, c.want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 125 and %q", c.args, code, out, errOut, c.want)
		}
	}
}
