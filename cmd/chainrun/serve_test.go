package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chainrun/chainrun/chain"
)

func TestParseServeArgs(t *testing.T) {
	o, err := parseServeArgs([]string{"-l", "10.77.0.1:1082", "-u", "alice:s3:cret", "--user=bob:pw", "-v",
		"--users-file", "/a", "--users-file=/b", "-x", "socks5://127.0.0.1:1081", "--proxy=http://u:p@[::1]:3128",
		"--max-clients", "7", "--handshake-timeout=250ms"})
	if err != nil {
		t.Fatal(err)
	}
	if o.listen != "10.77.0.1:1082" || o.users["alice"] != "s3:cret" || o.users["bob"] != "pw" || !o.verbose {
		t.Fatalf("got %+v", o)
	}
	if len(o.usersFiles) != 2 || o.usersFiles[0] != "/a" || o.usersFiles[1] != "/b" {
		t.Errorf("users files %q", o.usersFiles)
	}
	if len(o.proxies) != 2 || o.proxies[0].String() != "socks5://127.0.0.1:1081" || o.proxies[1].String() != "http://u:***@[::1]:3128" {
		t.Errorf("proxies %v", o.proxies)
	}
	if o.maxClients != 7 || o.handshakeTimeout != 250*time.Millisecond {
		t.Errorf("max clients %d, handshake timeout %v", o.maxClients, o.handshakeTimeout)
	}

	o, err = parseServeArgs(nil)
	if err != nil || o.listen != "127.0.0.1:1080" || len(o.users) != 0 || len(o.proxies) != 0 || len(o.usersFiles) != 0 ||
		o.maxClients != 1024 || o.handshakeTimeout != 10*time.Second || o.verbose || o.quiet {
		t.Fatalf("defaults: %+v %v", o, err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-l"}, "needs a value"},
		{[]string{"-l", "nope"}, "--listen"},
		{[]string{"-u", "alice"}, "USER:PASS"},
		{[]string{"-u", ":pw"}, "USER:PASS"},
		{[]string{"-u", "al ice:pw"}, "space or a control character"},
		{[]string{"-u", strings.Repeat("u", 256) + ":pw"}, "at most 255 bytes"},
		{[]string{"-u", "alice:" + strings.Repeat("p", 256)}, "at most 255 bytes"},
		{[]string{"-u", "alice:a", "-u", "alice:b"}, `user "alice" is given more than once`},
		{[]string{"--users-file"}, "needs a value"},
		{[]string{"-x"}, "needs a value"},
		{[]string{"-x", "127.0.0.1:1080"}, "want scheme://host:port"},
		{[]string{"-x", "ftp://127.0.0.1"}, "unsupported scheme"},
		{[]string{"--max-clients", "0"}, "not a positive number"},
		{[]string{"--max-clients=many"}, "not a positive number"},
		{[]string{"--handshake-timeout", "10"}, "not a positive duration"},
		{[]string{"--handshake-timeout=-1s"}, "not a positive duration"},
		{[]string{"extra"}, "unknown argument"},
		{[]string{"-v", "-q"}, "contradict"},
	} {
		if _, err := parseServeArgs(c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: err %v, want %q", c.args, err, c.want)
		}
	}
	if _, err := parseServeArgs([]string{"-h"}); !errors.Is(err, errHelp) {
		t.Errorf("-h: %v", err)
	}
}

func TestServeUsersFile(t *testing.T) {
	good := strings.Join([]string{
		"# chainrun serve users",
		"",
		"alice:s3cret",
		"   # an indented comment",
		"bob:pass with spaces and # and : ",
		"carol:crlf\r",
		"dave:",
		"\t",
	}, "\n")
	o := &serveOptions{users: map[string]string{}}
	if err := o.parseUsers("users.txt", strings.NewReader(good)); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"alice": "s3cret", "bob": "pass with spaces and # and : ", "carol": "crlf", "dave": ""}
	if len(o.users) != len(want) {
		t.Errorf("users %q, want %q", o.users, want)
	}
	for u, p := range want {
		if got, ok := o.users[u]; !ok || got != p {
			t.Errorf("user %q: password %q, want %q", u, got, p)
		}
	}

	for _, c := range []struct {
		text, want string
	}{
		{"alice:a\nnocolon\n", "users.txt:2: want USER:PASS"},
		{"# c\n\n:pw\n", "users.txt:3: want USER:PASS"},
		{" alice:pw", "users.txt:1: user name \" alice\" has a space or a control character"},
		{"alice:a\nbob:b\nalice:c", `users.txt:3: user "alice" is given more than once`},
		{"u:" + strings.Repeat("p", 256), "users.txt:1: user name and password must be at most 255 bytes each"},
		{"a:b\n" + strings.Repeat("x", 70000) + "\n", "users.txt:2: bufio.Scanner: token too long"},
	} {
		o := &serveOptions{users: map[string]string{}}
		if err := o.parseUsers("users.txt", strings.NewReader(c.text)); err == nil || err.Error() != c.want {
			t.Errorf("%.40q: err %v, want %q", c.text, err, c.want)
		}
	}

	// The same through a real file, with the warning about its mode.
	dir := t.TempDir()
	private := filepath.Join(dir, "private")
	shared := filepath.Join(dir, "shared")
	bad := filepath.Join(dir, "bad")
	for name, f := range map[string]struct {
		text string
		mode os.FileMode
	}{private: {"alice:s3cret\n", 0o600}, shared: {"bob:pw\n", 0o644}, bad: {"# users\nbob\n", 0o600}} {
		// Chmod, so that the umask does not matter.
		if err := os.WriteFile(name, []byte(f.text), 0o600); err != nil || os.Chmod(name, f.mode) != nil {
			t.Fatal(err)
		}
	}
	var warn bytes.Buffer
	o = &serveOptions{users: map[string]string{}}
	if err := o.loadUsersFile(private, &warn); err != nil || o.users["alice"] != "s3cret" || warn.Len() != 0 {
		t.Errorf("private file: %v, users %q, warning %q", err, o.users, warn.String())
	}
	if err := o.loadUsersFile(shared, &warn); err != nil || o.users["bob"] != "pw" {
		t.Errorf("shared file: %v, users %q", err, o.users)
	}
	if w := warn.String(); !strings.Contains(w, shared+" holds passwords and is readable by group or others (mode 0644)") {
		t.Errorf("warning %q", w)
	}
	if err := o.loadUsersFile(bad, serveNoOutput(t)); err == nil || err.Error() != bad+":2: want USER:PASS" {
		t.Errorf("bad file: %v", err)
	}
	if err := o.loadUsersFile(filepath.Join(dir, "missing"), serveNoOutput(t)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}

	// serveMain reports a bad file and exits before listening.
	var stderr bytes.Buffer
	code := serveMain(context.Background(), []string{"-l", "127.0.0.1:0", "--users-file", bad}, serveNoOutput(t), &stderr)
	if code != exitFailure || !strings.Contains(stderr.String(), bad+":2: want USER:PASS") {
		t.Errorf("serve with a bad users file: exit %d, %q", code, stderr.String())
	}
}

// serveNoOutput is a writer that fails the test if anything is written
// to it.
func serveNoOutput(t *testing.T) *serveFailWriter { return &serveFailWriter{t} }

type serveFailWriter struct{ t *testing.T }

func (w *serveFailWriter) Write(b []byte) (int, error) {
	w.t.Errorf("unexpected output %q", b)
	return len(b), nil
}

func TestServeLoops(t *testing.T) {
	hop := func(raw string) *chain.Proxy {
		p, err := chain.ParseProxy(raw)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tcp := func(s string) net.Addr { return net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)) }
	for _, c := range []struct {
		listen, hop string
		want        bool
	}{
		{"127.0.0.1:1080", "socks5://127.0.0.1:1080", true},
		{"0.0.0.0:1080", "socks5://127.0.0.1:1080", true},
		{"[::]:1080", "socks4://127.0.0.1:1080", true},
		{"[::]:1080", "socks5://[::1]:1080", true},
		{"127.0.0.1:1080", "socks5://127.0.0.1:1081", false},
		{"127.0.0.1:1080", "socks5://127.0.0.2:1080", false},
		{"10.0.0.1:1080", "socks5://127.0.0.1:1080", false},
	} {
		if got := loops(tcp(c.listen), hop(c.hop)); got != c.want {
			t.Errorf("loops(%s, %s) = %v, want %v", c.listen, c.hop, got, c.want)
		}
	}
}
