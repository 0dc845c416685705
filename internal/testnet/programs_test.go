package testnet

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// localTarget is an HTTP server on loopback, serving what the target
// namespace serves (index.html, big.bin), run by the fixture "target".
type localTarget struct {
	port4, port6 string // "" when there is no IPv6 loopback
	bigSHA256    string
}

// startLocalTarget runs the "target" fixture on 127.0.0.1 (and ::1 when the
// host has it), ports chosen by the kernel.
func startLocalTarget(t *testing.T) *localTarget {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(TargetPage+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := writeRandom(filepath.Join(dir, "big.bin"), 1<<20+3)
	if err != nil {
		t.Fatal(err)
	}
	argv := []string{progs.Path(t, "target"), "-dir", dir, "-listen", "127.0.0.1:0"}
	v6 := hasIPv6Loopback()
	if v6 {
		argv = append(argv, "-listen", "[::1]:0")
	}
	p := startProc(t, "", argv)
	lt := &localTarget{bigSHA256: sum}
	re := regexp.MustCompile(`listening (\S+)`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := re.FindAllStringSubmatch(p.Output(), -1)
		if len(m) == 1 && !v6 || len(m) == 2 {
			for _, sm := range m {
				host, port, _ := net.SplitHostPort(sm[1])
				if strings.Contains(host, ":") {
					lt.port6 = port
				} else {
					lt.port4 = port
				}
			}
			return lt
		}
		if p.Exited() || time.Now().After(deadline) {
			t.Fatalf("target did not start:\n%s", p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func hasIPv6Loopback() bool {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// closedPort returns a loopback port where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	return port
}

// run runs a fixture on the host (loopback only) and returns its stdout and
// exit code.
func run(t *testing.T, argv ...string) (string, int) {
	t.Helper()
	out, errOut, code := runProc(t, 60*time.Second, "", nil, argv)
	if errOut != "" {
		t.Logf("stderr of %s:\n%s", filepath.Base(argv[0]), errOut)
	}
	return out, code
}

// wantLines checks that out contains each line of want, in order.
func wantLines(t *testing.T, out string, want ...string) {
	t.Helper()
	rest := out
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 || (i > 0 && rest[i-1] != '\n') {
			t.Errorf("output lacks line %q (in order):\n%s", w, out)
			return
		}
		rest = rest[i+len(w):]
	}
}

func TestProgramsBuild(t *testing.T) {
	for _, name := range ProgramNames() {
		path := progs.Path(t, name)
		if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
		if again := progs.Path(t, name); again != path {
			t.Errorf("%s: second Path %s != %s", name, again, path)
		}
	}
	for _, name := range []string{"connect_int80", "gohttpget", "goparallel", "target"} {
		if err := checkStatic(progs.Path(t, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestConnectBlock(t *testing.T) {
	lt := startLocalTarget(t)
	for _, name := range []string{"connect_block", "connect32"} {
		t.Run(name, func(t *testing.T) {
			bin := progs.Path(t, name)
			out, code := run(t, bin, "127.0.0.1", lt.port4)
			if code != 0 || !strings.HasPrefix(out, "connect: 0\nHTTP/1.0 200 OK") || !strings.Contains(out, TargetPage) {
				t.Errorf("exit %d:\n%s", code, out)
			}
			out, code = run(t, bin, "-twice", "127.0.0.1", lt.port4, "/index.html")
			wantLines(t, out, "connect: 0", "second connect: EISCONN", "HTTP/1.0 200 OK", TargetPage)
			if code != 0 {
				t.Errorf("-twice: exit %d", code)
			}
			out, code = run(t, bin, "-6mapped", "127.0.0.1", lt.port4)
			if code != 0 || !strings.Contains(out, TargetPage) {
				t.Errorf("-6mapped: exit %d:\n%s", code, out)
			}
			if lt.port6 != "" {
				out, code = run(t, bin, "::1", lt.port6)
				if code != 0 || !strings.Contains(out, TargetPage) {
					t.Errorf("::1: exit %d:\n%s", code, out)
				}
			}
			out, code = run(t, bin, "127.0.0.1", lt.port4, "/nonexistent")
			if code != 0 || !strings.Contains(out, "404") {
				t.Errorf("404: exit %d:\n%s", code, out)
			}
			out, code = run(t, bin, "127.0.0.1", closedPort(t))
			if code != 3 || out != "connect: ECONNREFUSED\n" {
				t.Errorf("closed port: exit %d:\n%s", code, out)
			}
		})
	}
}

func TestConnectNonblock(t *testing.T) {
	lt := startLocalTarget(t)
	bin := progs.Path(t, "connect_nonblock")
	check := func(out string, code int) {
		t.Helper()
		if code != 0 || !(strings.HasPrefix(out, "connect: EINPROGRESS\n") || strings.HasPrefix(out, "connect: 0\n")) {
			t.Errorf("exit %d:\n%s", code, out)
		}
		// What the kernel says to connect() calls on a socket whose
		// non-blocking connect completed: 0 (SS_CONNECTING → SS_CONNECTED),
		// then EISCONN.
		wantLines(t, out, "so_error: 0", "HTTP/1.0 200 OK", TargetPage, "second connect: 0", "third connect: EISCONN")
	}
	check(run(t, bin, "127.0.0.1", lt.port4))
	check(run(t, bin, "-6mapped", "127.0.0.1", lt.port4))
	if lt.port6 != "" {
		check(run(t, bin, "::1", lt.port6, "/index.html"))
	}
	out, code := run(t, bin, "127.0.0.1", closedPort(t))
	if code != 3 || !strings.HasSuffix(out, "so_error: ECONNREFUSED\n") {
		t.Errorf("closed port: exit %d:\n%s", code, out)
	}
}

func TestConnectInt80(t *testing.T) {
	lt := startLocalTarget(t)
	bin := progs.Path(t, "connect_int80")
	for _, mode := range []string{"connect", "socketcall"} {
		out, code := run(t, bin, mode, "127.0.0.1", lt.port4)
		if code != 0 || !strings.HasPrefix(out, "connect: 0\nHTTP/1.0 200 OK") || !strings.Contains(out, TargetPage) {
			t.Errorf("%s: exit %d:\n%s", mode, code, out)
		}
		out, code = run(t, bin, mode, "127.0.0.1", closedPort(t))
		if code != 3 || out != "connect: ECONNREFUSED\n" {
			t.Errorf("%s to a closed port: exit %d:\n%s", mode, code, out)
		}
	}
}

func TestExecThread(t *testing.T) {
	bin := progs.Path(t, "exec_thread")
	out, code := run(t, bin, "/bin/echo", "hello", "from a thread")
	if code != 0 || out != "hello from a thread\n" {
		t.Errorf("exit %d: %q", code, out)
	}
	lt := startLocalTarget(t)
	out, code = run(t, bin, progs.Path(t, "connect_block"), "127.0.0.1", lt.port4)
	if code != 0 || !strings.Contains(out, TargetPage) {
		t.Errorf("exec_thread connect_block: exit %d:\n%s", code, out)
	}
	out, code = run(t, bin, "/nonexistent/program")
	if code != 4 || out != "execv: ENOENT\n" {
		t.Errorf("missing program: exit %d: %q", code, out)
	}
}

func TestGoHTTPGet(t *testing.T) {
	lt := startLocalTarget(t)
	bin := progs.Path(t, "gohttpget")
	base := "http://127.0.0.1:" + lt.port4
	out, code := run(t, bin, base+"/index.html")
	wantLines(t, out, TargetPage, "sha256 ")
	if code != 0 {
		t.Errorf("exit %d", code)
	}
	out, code = run(t, bin, "-q", base+"/big.bin", "5")
	if code != 0 || out != "sha256 "+lt.bigSHA256+"\n" {
		t.Errorf("big.bin x5: exit %d: %q, want sha256 %s", code, out, lt.bigSHA256)
	}
	out, code = run(t, bin, "http://127.0.0.1:"+closedPort(t)+"/")
	if code != 1 || !strings.Contains(out, "errno: ECONNREFUSED\n") {
		t.Errorf("closed port: exit %d:\n%s", code, out)
	}
	out, code = run(t, bin, base+"/nonexistent")
	if code != 1 || out != "status: 404\n" {
		t.Errorf("404: exit %d: %q", code, out)
	}
}

func TestGoParallel(t *testing.T) {
	lt := startLocalTarget(t)
	bin := progs.Path(t, "goparallel")
	out, code := run(t, bin, "127.0.0.1:"+lt.port4, "50")
	if code != 0 || !strings.HasSuffix(out, "ok 50/50\n") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	out, code = run(t, bin, "127.0.0.1:"+closedPort(t), "3")
	if code != 1 || out != "ok 0/3\n" {
		t.Errorf("closed port: exit %d:\n%s", code, out)
	}
}

func TestPyConnect(t *testing.T) {
	script := progs.Path(t, "pyconnect")
	lt := startLocalTarget(t)
	out, code := run(t, "python3", script, "http://127.0.0.1:"+lt.port4+"/index.html")
	if code != 0 || out != TargetPage+"\n" {
		t.Errorf("exit %d: %q", code, out)
	}
	out, code = run(t, "python3", script, "http://127.0.0.1:"+closedPort(t)+"/")
	if code != 1 || !strings.Contains(out, "errno: ECONNREFUSED\n") {
		t.Errorf("closed port: exit %d:\n%s", code, out)
	}
}

// TestTargetServer checks the target fixture itself: index.html is served
// as is (no redirect), "/" too, big.bin whole, each request logged.
func TestTargetServer(t *testing.T) {
	lt := startLocalTarget(t)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
	for _, path := range []string{"/index.html", "/"} {
		resp, err := c.Get("http://127.0.0.1:" + lt.port4 + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != TargetPage+"\n" {
			t.Errorf("GET %s: %d %q", path, resp.StatusCode, b)
		}
	}
	resp, err := c.Get("http://127.0.0.1:" + lt.port4 + "/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, _ := io.Copy(io.Discard, bufio.NewReader(resp.Body))
	if n != 1<<20+3 {
		t.Errorf("big.bin: %d bytes", n)
	}
	if got := resp.Header.Get("Content-Length"); got != strconv.Itoa(1<<20+3) {
		t.Errorf("Content-Length %q", got)
	}
}
