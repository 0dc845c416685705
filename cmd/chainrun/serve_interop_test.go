package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Interoperability: `chainrun serve` against clients nobody here wrote
// (curl's SOCKS4, SOCKS4a, SOCKS5 and SOCKS5-hostname, proxychains4), on
// loopback only. The destination is an HTTP server in the test process.

const (
	interopPage    = "chainrun serve interop page\n"
	interopUser    = "alice"
	interopPass    = "s3cret"
	interopTimeout = 20 * time.Second // bounds every command and every wait
)

// interopTool returns the path of an external program the test needs. A
// missing one skips the test, or fails it under CI=true.
func interopTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (CI=true: the interop tests must run)", name)
		}
		t.Skipf("%s is not installed: skipping the interop test with it", name)
	}
	return path
}

// interopChainrun builds the binary under test (the Go build cache makes
// all but the first build quick).
func interopChainrun(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("interop tests build chainrun and run real clients: not short")
	}
	return buildChainrun(t)
}

// interopWeb starts the destination: an HTTP server on 127.0.0.1 that
// serves interopPage.
func interopWeb(t *testing.T) (port string) {
	t.Helper()
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, interopPage)
	}))
	t.Cleanup(web.Close)
	host, port, _ := net.SplitHostPort(web.Listener.Addr().String())
	if host != "127.0.0.1" {
		t.Fatalf("the test web server listens on %s, want 127.0.0.1", host)
	}
	return port
}

// A serveProc is a running `chainrun serve` and what it has logged.
type serveProc struct {
	addr string // where it listens
	cmd  *exec.Cmd

	mu    sync.Mutex
	lines []string
	added chan struct{} // closed and renewed whenever a line arrives
	done  chan struct{} // closed when its stderr is at EOF
}

var serveListenRE = regexp.MustCompile(`SOCKS4/4a/5 on (\S+) \(`)

// startServe runs `chainrun serve -l 127.0.0.1:0 ARGS...` and waits until
// it says where it listens. At cleanup it is stopped with SIGTERM and must
// exit 0.
func startServe(t *testing.T, bin string, args ...string) *serveProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "-l", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProc{cmd: cmd, added: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			close(p.added)
			p.added = make(chan struct{})
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() { p.stop(t) })
	line := p.waitLine(t, func(l string) bool { return serveListenRE.MatchString(l) })
	p.addr = serveListenRE.FindStringSubmatch(line)[1]
	return p
}

// stop sends SIGTERM and expects a clean exit; a server that does not exit
// in time is killed.
func (p *serveProc) stop(t *testing.T) {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan error, 1)
	go func() {
		<-p.done // Wait closes the pipe: read it all first
		exited <- p.cmd.Wait()
	}()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("chainrun serve after SIGTERM: %v\n%s", err, p.output())
		}
	case <-time.After(interopTimeout):
		_ = p.cmd.Process.Kill()
		<-exited
		t.Errorf("chainrun serve did not exit after SIGTERM\n%s", p.output())
	}
}

// waitLine waits for a log line that satisfies ok and returns it.
func (p *serveProc) waitLine(t *testing.T, ok func(string) bool) string {
	t.Helper()
	return p.waitLineWithin(t, 0, interopTimeout, ok)
}

// waitLineFrom waits for a line about a connection among those logged
// after the first from. The client has finished with the connection, so
// the line comes at once or not at all: the wait is short.
func (p *serveProc) waitLineFrom(t *testing.T, from int, ok func(string) bool) string {
	t.Helper()
	return p.waitLineWithin(t, from, 5*time.Second, ok)
}

func (p *serveProc) waitLineWithin(t *testing.T, from int, d time.Duration, ok func(string) bool) string {
	t.Helper()
	deadline := time.After(d)
	for {
		p.mu.Lock()
		for _, l := range p.lines[min(from, len(p.lines)):] {
			if ok(l) {
				p.mu.Unlock()
				return l
			}
		}
		added := p.added
		p.mu.Unlock()
		select {
		case <-added:
		case <-p.done:
			t.Fatalf("chainrun serve exited without the expected log line:\n%s", p.output())
		case <-deadline:
			t.Fatalf("no expected log line from chainrun serve:\n%s", p.output())
		}
	}
}

func (p *serveProc) mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lines)
}

func (p *serveProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// interopEnv is the environment for the clients: no proxy settings of the
// machine's (no_proxy would send loopback around the proxy).
func interopEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasSuffix(strings.ToLower(name), "_proxy") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// runClient runs argv, bounded by interopTimeout, and returns its stdout,
// stderr and exit code.
func runClient(t *testing.T, argv ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), interopTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = interopEnv()
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("%q: %v", argv, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%q did not finish in %v", argv, interopTimeout)
	}
	return out.String(), errb.String(), code
}

// logged is a predicate for the serve -v line of one finished connection.
func logged(proto, user, dst, result string) func(string) bool {
	return func(l string) bool {
		return strings.Contains(l, " proto="+proto+" ") && strings.Contains(l, " user="+user+" ") &&
			strings.Contains(l, " dst="+dst+" ") && strings.Contains(l, " result="+strconv.Quote(result)+" ")
	}
}

// curlCase is one fetch with curl through a server.
type curlCase struct {
	name  string
	flags []string // curl's proxy flags; PROXY stands for the server's address
	host  string   // the URL's host: 127.0.0.1 or localhost
	proto string   // what the server must log
	user  string   // the user it must log
}

func (c curlCase) argv(curl, proxy, webPort string) []string {
	argv := []string{curl, "-sS", "--max-time", "10"}
	for _, f := range c.flags {
		argv = append(argv, strings.ReplaceAll(f, "PROXY", proxy))
	}
	return append(argv, "http://"+net.JoinHostPort(c.host, webPort)+"/")
}

func TestServeInteropCurl(t *testing.T) {
	curl := interopTool(t, "curl")
	bin := interopChainrun(t)
	webPort := interopWeb(t)
	web := func(host string) string { return net.JoinHostPort(host, webPort) }

	t.Run("no auth", func(t *testing.T) {
		srv := startServe(t, bin, "-v")
		for _, c := range []curlCase{
			{"socks4", []string{"--socks4", "PROXY"}, "127.0.0.1", "socks4", "-"},
			{"socks4 URL with a user ID", []string{"-x", "socks4://carol@PROXY"}, "127.0.0.1", "socks4", "carol"},
			{"socks4a", []string{"--socks4a", "PROXY"}, "localhost", "socks4a", "-"},
			{"socks4a URL", []string{"-x", "socks4a://PROXY"}, "localhost", "socks4a", "-"},
			{"socks5", []string{"--socks5", "PROXY"}, "127.0.0.1", "socks5", "-"},
			{"socks5-hostname", []string{"--socks5-hostname", "PROXY"}, "localhost", "socks5", "-"},
			{"socks5h URL", []string{"-x", "socks5h://PROXY"}, "localhost", "socks5", "-"},
			{"socks5 offering a password the server does not need", []string{"-x", "socks5://bob:pw@PROXY"}, "127.0.0.1", "socks5", "-"},
		} {
			t.Run(c.name, func(t *testing.T) {
				mark := srv.mark()
				out, errOut, code := runClient(t, c.argv(curl, srv.addr, webPort)...)
				if code != 0 || out != interopPage {
					t.Fatalf("curl exit %d, page %q, stderr %q", code, out, errOut)
				}
				srv.waitLineFrom(t, mark, logged(c.proto, c.user, web(c.host), "ok"))
			})
		}
	})

	t.Run("password required", func(t *testing.T) {
		srv := startServe(t, bin, "-v", "-u", interopUser+":"+interopPass, "-u", "bob:other")
		creds := interopUser + ":" + interopPass
		for _, c := range []curlCase{
			{"socks5 --proxy-user", []string{"--socks5", "PROXY", "--proxy-user", creds}, "127.0.0.1", "socks5", interopUser},
			{"socks5-hostname --proxy-user", []string{"--socks5-hostname", "PROXY", "--proxy-user", creds}, "localhost", "socks5", interopUser},
			{"socks5 URL", []string{"-x", "socks5://" + creds + "@PROXY"}, "127.0.0.1", "socks5", interopUser},
			{"socks5h URL", []string{"-x", "socks5h://" + creds + "@PROXY"}, "localhost", "socks5", interopUser},
		} {
			t.Run(c.name, func(t *testing.T) {
				mark := srv.mark()
				out, errOut, code := runClient(t, c.argv(curl, srv.addr, webPort)...)
				if code != 0 || out != interopPage {
					t.Fatalf("curl exit %d, page %q, stderr %q", code, out, errOut)
				}
				srv.waitLineFrom(t, mark, logged(c.proto, c.user, web(c.host), "ok"))
			})
		}
		for _, c := range []struct {
			name  string
			flags []string
			host  string
			log   string // in the server's line about it
		}{
			{"socks5 wrong password", []string{"-x", "socks5://" + interopUser + ":nope@PROXY"}, "127.0.0.1", `wrong username or password for user \"alice\"`},
			{"socks5 no password", []string{"--socks5", "PROXY"}, "127.0.0.1", "client offers no acceptable authentication method"},
			{"socks4", []string{"--socks4", "PROXY"}, "127.0.0.1", "SOCKS4 cannot carry"},
			{"socks4a with a user ID", []string{"-x", "socks4a://" + interopUser + "@PROXY"}, "localhost", "SOCKS4 cannot carry"},
		} {
			t.Run(c.name, func(t *testing.T) {
				mark := srv.mark()
				cc := curlCase{flags: c.flags, host: c.host}
				out, _, code := runClient(t, cc.argv(curl, srv.addr, webPort)...)
				if code == 0 || out != "" {
					t.Fatalf("curl exit %d, page %q: want a refusal", code, out)
				}
				srv.waitLineFrom(t, mark, func(l string) bool { return strings.Contains(l, c.log) })
			})
		}
	})

	t.Run("users file", func(t *testing.T) {
		users := filepath.Join(t.TempDir(), "users")
		if err := os.WriteFile(users, []byte("# who may use this\n\n"+interopUser+":"+interopPass+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		srv := startServe(t, bin, "-v", "--users-file", users)
		mark := srv.mark()
		c := curlCase{flags: []string{"-x", "socks5h://" + interopUser + ":" + interopPass + "@PROXY"}, host: "localhost"}
		out, errOut, code := runClient(t, c.argv(curl, srv.addr, webPort)...)
		if code != 0 || out != interopPage {
			t.Fatalf("curl exit %d, page %q, stderr %q", code, out, errOut)
		}
		srv.waitLineFrom(t, mark, logged("socks5", interopUser, web("localhost"), "ok"))
		c.flags = []string{"-x", "socks5h://" + interopUser + ":wrong@PROXY"}
		if out, _, code := runClient(t, c.argv(curl, srv.addr, webPort)...); code == 0 || out != "" {
			t.Fatalf("wrong password: curl exit %d, page %q", code, out)
		}
	})
}

func TestServeInteropProxychains(t *testing.T) {
	curl := interopTool(t, "curl")
	pc := interopTool(t, "proxychains4")
	bin := interopChainrun(t)
	webPort := interopWeb(t)
	url := "http://" + net.JoinHostPort("127.0.0.1", webPort) + "/"

	// conf writes a proxychains4 configuration: one hop, strict_chain, no
	// proxy_dns (curl is given an IP address), no localnet, so loopback
	// goes through the proxy too.
	conf := func(t *testing.T, hop string) string {
		path := filepath.Join(t.TempDir(), "proxychains.conf")
		text := "strict_chain\nquiet_mode\ntcp_read_time_out 15000\ntcp_connect_time_out 8000\n\n[ProxyList]\n" + hop + "\n"
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	hostPort := func(addr string) string {
		h, p, _ := net.SplitHostPort(addr)
		return h + " " + p
	}

	open := startServe(t, bin, "-v")
	auth := startServe(t, bin, "-v", "-u", interopUser+":"+interopPass)
	for _, c := range []struct {
		name  string
		srv   *serveProc
		hop   string
		proto string
		user  string
	}{
		{"socks5", open, "socks5 " + hostPort(open.addr), "socks5", "-"},
		{"socks4", open, "socks4 " + hostPort(open.addr), "socks4", "-"},
		{"socks5 with a password", auth, "socks5 " + hostPort(auth.addr) + " " + interopUser + " " + interopPass, "socks5", interopUser},
	} {
		t.Run(c.name, func(t *testing.T) {
			mark := c.srv.mark()
			out, errOut, code := runClient(t, pc, "-q", "-f", conf(t, c.hop), curl, "-sS", "--max-time", "10", url)
			if code != 0 || out != interopPage {
				t.Fatalf("proxychains4 curl: exit %d, page %q, stderr %q", code, out, errOut)
			}
			c.srv.waitLineFrom(t, mark, logged(c.proto, c.user, net.JoinHostPort("127.0.0.1", webPort), "ok"))
		})
	}
	t.Run("socks5 with a wrong password", func(t *testing.T) {
		out, _, code := runClient(t, pc, "-q", "-f", conf(t, "socks5 "+hostPort(auth.addr)+" "+interopUser+" nope"), curl, "-sS", "--max-time", "10", url)
		if code == 0 || out != "" {
			t.Fatalf("proxychains4 curl: exit %d, page %q; want a failure", code, out)
		}
	})
}

// TestServeInteropChainingGateway runs serve A with an upstream chain to
// serve B: curl reaches the page through A, and B's log shows that the
// connection came through it.
func TestServeInteropChainingGateway(t *testing.T) {
	curl := interopTool(t, "curl")
	bin := interopChainrun(t)
	webPort := interopWeb(t)
	web := func(host string) string { return net.JoinHostPort(host, webPort) }

	b := startServe(t, bin, "-v", "-u", "gw:gwpass")
	for _, c := range []struct {
		upstream string   // A's -x, BADDR standing for B's address
		flags    []string // curl's, PROXY standing for A's address
		host     string
		bProto   string // how A reached B, as B logs it
	}{
		{"socks5://gw:gwpass@BADDR", []string{"--socks5", "PROXY"}, "127.0.0.1", "socks5"},
		{"socks5h://gw:gwpass@BADDR", []string{"--socks5-hostname", "PROXY"}, "localhost", "socks5"},
		{"socks5://gw:gwpass@BADDR", []string{"--socks4a", "PROXY"}, "localhost", "socks5"},
		{"socks5://gw:gwpass@BADDR", []string{"--socks4", "PROXY"}, "127.0.0.1", "socks5"},
	} {
		upstream := strings.ReplaceAll(c.upstream, "BADDR", b.addr)
		t.Run(c.flags[0]+" via "+c.upstream, func(t *testing.T) {
			a := startServe(t, bin, "-v", "-x", upstream)
			markA, markB := a.mark(), b.mark()
			out, errOut, code := runClient(t, curlCase{flags: c.flags, host: c.host}.argv(curl, a.addr, webPort)...)
			if code != 0 || out != interopPage {
				t.Fatalf("curl through A: exit %d, page %q, stderr %q\nA:\n%s\nB:\n%s", code, out, errOut, a.output(), b.output())
			}
			a.waitLineFrom(t, markA, func(l string) bool {
				return strings.Contains(l, " dst="+web(c.host)+" ") && strings.Contains(l, `result="ok"`)
			})
			b.waitLineFrom(t, markB, logged(c.bProto, "gw", web(c.host), "ok"))
		})
	}

	// Over SOCKS4 and SOCKS4a upstream hops (no password: B2 takes none).
	b2 := startServe(t, bin, "-v")
	for _, up := range []struct{ scheme, proto string }{{"socks4", "socks4"}, {"socks4a", "socks4"}} {
		t.Run("--socks5 via "+up.scheme, func(t *testing.T) {
			a := startServe(t, bin, "-v", "-x", up.scheme+"://"+b2.addr)
			mark := b2.mark()
			out, errOut, code := runClient(t, curlCase{flags: []string{"--socks5", "PROXY"}, host: "127.0.0.1"}.argv(curl, a.addr, webPort)...)
			if code != 0 || out != interopPage {
				t.Fatalf("curl through A: exit %d, page %q, stderr %q\nA:\n%s", code, out, errOut, a.output())
			}
			b2.waitLineFrom(t, mark, logged(up.proto, "-", web("127.0.0.1"), "ok"))
		})
	}

	// A refuses to start when its first hop is itself.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	self := ln.Addr().String()
	ln.Close()
	_, errOut, code := runClient(t, bin, "serve", "-l", self, "-x", "socks5://"+self)
	if want := "connections would loop"; code != exitFailure || !strings.Contains(errOut, want) {
		t.Errorf("serve -l %s -x socks5://%s: exit %d, %q; want %d and %q", self, self, code, errOut, exitFailure, want)
	}
}
