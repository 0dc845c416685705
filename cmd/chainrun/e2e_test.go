package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chainrun/chainrun/internal/testnet"
)

// End-to-end tests: the real chainrun binary runs real programs in the
// client namespace, which has no route to the target: a page arrives only
// through the proxy, so a leak fails the test.

const (
	targetPort     = 8080
	socksPort      = 1080 // microsocks, no auth
	socksAuthPort  = 1081 // microsocks, user/pass
	servePort      = 1082 // chainrun serve, user/pass
	serveOpenPort  = 1084 // chainrun serve, no auth
	silentPort     = 1083 // accepts and never answers
	e2eUser        = "alice"
	e2ePass        = "s3cret"
	bigSize        = 24 << 20
	commandTimeout = 60 * time.Second
)

// e2e is one topology with its servers, shared by the subtests.
type e2e struct {
	tp     *testnet.Topology
	bin    string // chainrun
	bigSum string
	progs  *testnet.Programs
}

func (e *e2e) target() string {
	return net.JoinHostPort(e.tp.TargetIP.String(), strconv.Itoa(targetPort))
}
func (e *e2e) target6() string {
	return net.JoinHostPort(e.tp.TargetIP6.String(), strconv.Itoa(targetPort))
}
func (e *e2e) socks(port int) string {
	return "socks5://" + net.JoinHostPort(e.tp.ProxyClientSideIP.String(), strconv.Itoa(port))
}
func (e *e2e) socksAuth(user, pass string) string {
	return "socks5://" + user + ":" + pass + "@" + net.JoinHostPort(e.tp.ProxyClientSideIP.String(), strconv.Itoa(socksAuthPort))
}

// run runs chainrun ARGS in the client namespace.
func (e *e2e) run(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return e.tp.Run(t, commandTimeout, e.tp.Client, nil, append([]string{e.bin}, args...)...)
}

// buildChainrun builds the binary under test.
func buildChainrun(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "chainrun")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building chainrun: %v\n%s", err, out)
	}
	return bin
}

func setupE2E(t *testing.T) *e2e {
	tp := testnet.New(t)
	e := &e2e{tp: tp, bin: buildChainrun(t), progs: testnet.SharedPrograms()}
	e.bigSum = tp.StartHTTPTarget(t, targetPort, bigSize)
	tp.StartMicrosocks(t, socksPort, "", "")
	tp.StartMicrosocks(t, socksAuthPort, e2eUser, e2ePass)
	// A "proxy" that accepts connections and never says a word.
	silent := tp.Listen(t, tp.Proxy, net.JoinHostPort(tp.ProxyClientSideIP.String(), strconv.Itoa(silentPort)))
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	// The premise of every test here: no direct way to the target.
	if c, err := tp.DialFrom(tp.Client, e.target(), time.Second); err == nil {
		c.Close()
		t.Fatal("the client namespace reaches the target directly: the topology is broken")
	}
	return e
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests are not short")
	}
	e := setupE2E(t)
	page := testnet.TargetPage
	url := "http://" + e.target() + "/index.html"
	url6 := "http://" + e.target6() + "/index.html"
	bigURL := "http://" + e.target() + "/big.bin"
	p := e.progs.Path

	t.Run("programs through microsocks", func(t *testing.T) {
		cases := []struct {
			name string
			argv []string
			want []string
		}{
			{"curl", []string{"curl", "-sS", url}, []string{page}},
			{"curl IPv6 destination over an IPv4 proxy", []string{"curl", "-sS", "-6", url6}, []string{page}},
			{"wget", []string{"wget", "-qO-", url}, []string{page}},
			{"python3 urllib", []string{"python3", p(t, "pyconnect"), url}, []string{page}},
			{"static Go http.Get", []string{p(t, "gohttpget"), url}, []string{page}},
			{"C blocking, second connect", []string{p(t, "connect_block"), "-twice", e.tp.TargetIP.String(), strconv.Itoa(targetPort), "/index.html"},
				[]string{"connect: 0", "second connect: EISCONN", page}},
			{"C non-blocking", []string{p(t, "connect_nonblock"), e.tp.TargetIP.String(), strconv.Itoa(targetPort), "/index.html"},
				[]string{"connect: EINPROGRESS", "so_error: 0", page, "second connect: 0", "third connect: EISCONN"}},
			{"C v4-mapped IPv6 socket", []string{p(t, "connect_block"), "-6mapped", e.tp.TargetIP.String(), strconv.Itoa(targetPort), "/index.html"}, []string{page}},
			{"int 0x80 connect", []string{p(t, "connect_int80"), "connect", e.tp.TargetIP.String(), strconv.Itoa(targetPort), "/index.html"}, []string{page}},
			{"int 0x80 socketcall", []string{p(t, "connect_int80"), "socketcall", e.tp.TargetIP.String(), strconv.Itoa(targetPort), "/index.html"}, []string{page}},
			{"x32 connect", []string{p(t, "connect_int80"), "x32", e.tp.TargetIP.String(), strconv.Itoa(targetPort), "/index.html"}, []string{page}},
			{"32-bit program", []string{p(t, "connect32"), e.tp.TargetIP.String(), strconv.Itoa(targetPort), "/index.html"}, []string{page}},
			{"exec from a non-leader thread", []string{p(t, "exec_thread"), "/usr/bin/curl", "-sS", url}, []string{page}},
			{"bash pipeline, 24 MiB", []string{"bash", "-c", "curl -sS " + bigURL + " | sha256sum"}, []string{e.bigSum}},
			{"static Go, 24 MiB", []string{p(t, "gohttpget"), "-q", bigURL}, []string{"sha256 " + e.bigSum}},
		}
		// Every case on both paths a connect can take: the seccomp
		// listener, and ptrace stops (as on kernels without one).
		for _, c := range cases {
			for _, path := range []struct {
				name string
				env  []string
			}{{"notify", nil}, {"ptrace", []string{ptraceOnlyEnv + "=1"}}} {
				t.Run(c.name+"/"+path.name, func(t *testing.T) {
					out, errOut, code := e.tp.Run(t, commandTimeout, e.tp.Client, path.env,
						append([]string{e.bin, "-v", "-x", e.socks(socksPort), "--"}, c.argv...)...)
					if code != 0 {
						t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
					}
					for _, w := range c.want {
						if !strings.Contains(out, w) {
							t.Errorf("stdout lacks %q\nstdout: %s\nstderr: %s", w, out, errOut)
						}
					}
					if !strings.Contains(errOut, " via "+e.socks(socksPort)+" ok") {
						t.Errorf("-v did not report the proxied connection:\n%s", errOut)
					}
					if strings.Contains(errOut, "gave no seccomp listener") {
						t.Errorf("the kernel gave no listener: the notify path was not tested\n%s", errOut)
					}
				})
			}
		}
	})

	t.Run("through chainrun serve", func(t *testing.T) {
		open := e.tp.Start(t, e.tp.Proxy, e.bin, "serve", "-v", "-l", net.JoinHostPort(e.tp.ProxyClientSideIP.String(), strconv.Itoa(serveOpenPort)))
		auth := e.tp.Start(t, e.tp.Proxy, e.bin, "serve", "-l", net.JoinHostPort(e.tp.ProxyClientSideIP.String(), strconv.Itoa(servePort)), "-u", e2eUser+":"+e2ePass)
		e.tp.WaitListen(t, e.tp.Proxy, net.JoinHostPort(e.tp.ProxyClientSideIP.String(), strconv.Itoa(serveOpenPort)))
		e.tp.WaitListen(t, e.tp.Proxy, net.JoinHostPort(e.tp.ProxyClientSideIP.String(), strconv.Itoa(servePort)))
		withAuth := "socks5://" + e2eUser + ":" + e2ePass + "@" + net.JoinHostPort(e.tp.ProxyClientSideIP.String(), strconv.Itoa(servePort))
		wrongAuth := "socks5://" + e2eUser + ":nope@" + net.JoinHostPort(e.tp.ProxyClientSideIP.String(), strconv.Itoa(servePort))
		cases := []struct {
			name  string
			proxy string
			argv  []string
			code  int
			want  string
		}{
			{"no auth, curl", e.socks(serveOpenPort), []string{"curl", "-sS", url}, 0, page},
			{"no auth, IPv6 destination", e.socks(serveOpenPort), []string{"curl", "-sS", "-6", url6}, 0, page},
			{"user and password, static Go 24 MiB", withAuth, []string{p(t, "gohttpget"), "-q", bigURL}, 0, "sha256 " + e.bigSum},
			{"wrong password", wrongAuth, []string{p(t, "connect_block"), e.tp.TargetIP.String(), strconv.Itoa(targetPort)}, 3, "connect: ECONNREFUSED"},
			{"password required", e.socks(servePort), []string{p(t, "connect_block"), e.tp.TargetIP.String(), strconv.Itoa(targetPort)}, 3, "connect: ECONNREFUSED"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				out, errOut, code := e.run(t, append([]string{"-x", c.proxy}, c.argv...)...)
				if code != c.code || !strings.Contains(out, c.want) {
					t.Fatalf("exit %d, want %d and %q\nstdout: %s\nstderr: %s", code, c.code, c.want, out, errOut)
				}
			})
		}
		if !strings.Contains(open.Output(), `result="ok"`) {
			t.Errorf("chainrun serve -v logged no connection:\n%s", open.Output())
		}
		// SIGTERM shuts the server down cleanly.
		for _, srv := range []*testnet.Proc{open, auth} {
			srv.Signal(os.Signal(sigterm))
			if code, err := srv.Wait(10 * time.Second); err != nil || code != 0 {
				t.Errorf("chainrun serve after SIGTERM: exit %d, %v\n%s", code, err, srv.Output())
			}
		}
	})

	t.Run("IPv6 proxy", func(t *testing.T) {
		v6 := net.JoinHostPort(e.tp.ProxyClientSideIP6.String(), "1088")
		e.tp.Start(t, e.tp.Proxy, "microsocks", "-i", e.tp.ProxyClientSideIP6.String(), "-p", "1088")
		e.tp.WaitListen(t, e.tp.Proxy, v6)
		proxy := "socks5://" + v6
		for _, argv := range [][]string{
			{"curl", "-sS", "-6", url6},
			{p(t, "gohttpget"), url6},
			{p(t, "connect_nonblock"), e.tp.TargetIP6.String(), strconv.Itoa(targetPort), "/index.html"},
		} {
			out, errOut, code := e.run(t, append([]string{"-v", "-x", proxy, "--"}, argv...)...)
			if code != 0 || !strings.Contains(out, page) || !strings.Contains(errOut, "via "+proxy+" ok") {
				t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", argv[0], code, out, errOut)
			}
		}
		// An IPv4 socket cannot reach an IPv6-only proxy: a clear error,
		// never a direct connection.
		out, errOut, code := e.run(t, "-x", proxy, p(t, "connect_block"), e.tp.TargetIP.String(), strconv.Itoa(targetPort))
		if code != 3 || !strings.Contains(out, "connect: ENETUNREACH") || !strings.Contains(errOut, "no address of the proxy fits") {
			t.Fatalf("IPv4 socket, IPv6 proxy: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
	})

	t.Run("200 concurrent connects", func(t *testing.T) {
		out, errOut, code := e.run(t, "-q", "-x", e.socks(socksPort), p(t, "goparallel"), e.target(), "200")
		if code != 0 || !strings.Contains(out, "ok 200/200") {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
	})

	t.Run("user and password accepted", func(t *testing.T) {
		out, errOut, code := e.run(t, "-x", e.socksAuth(e2eUser, e2ePass), "curl", "-sS", url)
		if code != 0 || !strings.Contains(out, page) {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		out, errOut, code := e.run(t, "-x", e.socksAuth(e2eUser, "wrong"), p(t, "connect_block"), e.tp.TargetIP.String(), strconv.Itoa(targetPort))
		if code != 3 || !strings.Contains(out, "connect: ECONNREFUSED") {
			t.Fatalf("exit %d, stdout %q; want connect: ECONNREFUSED", code, out)
		}
		if !strings.Contains(errOut, "rejected") || !strings.Contains(errOut, "password") {
			t.Errorf("no clear log line about the password:\n%s", errOut)
		}
		if strings.Contains(errOut, "wrong") {
			t.Errorf("the password appears in the log:\n%s", errOut)
		}
	})

	t.Run("password required but not given", func(t *testing.T) {
		out, errOut, code := e.run(t, "-x", e.socks(socksAuthPort), p(t, "connect_block"), e.tp.TargetIP.String(), strconv.Itoa(targetPort))
		if code != 3 || !strings.Contains(out, "connect: ECONNREFUSED") || !strings.Contains(errOut, "authentication") {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
	})

	t.Run("proxy down", func(t *testing.T) {
		for _, prog := range []string{"connect_block", "connect_nonblock"} {
			start := time.Now()
			out, errOut, code := e.run(t, "-x", e.socks(1999), p(t, prog), e.tp.TargetIP.String(), strconv.Itoa(targetPort))
			if code != 3 || !strings.Contains(out, "ECONNREFUSED") {
				t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", prog, code, out, errOut)
			}
			if !strings.Contains(errOut, "hop 1 (") || !strings.Contains(errOut, "connection refused") {
				t.Errorf("%s: the log does not name the hop:\n%s", prog, errOut)
			}
			if d := time.Since(start); d > 15*time.Second {
				t.Errorf("%s: took %v, not prompt", prog, d)
			}
		}
	})

	t.Run("proxy that never answers", func(t *testing.T) {
		out, errOut, code := e.run(t, "--read-timeout", "1s", "-x", e.socks(silentPort), p(t, "connect_block"), e.tp.TargetIP.String(), strconv.Itoa(targetPort))
		if code != 3 || !strings.Contains(out, "connect: ETIMEDOUT") {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
	})

	t.Run("destination refused by the proxy", func(t *testing.T) {
		out, errOut, code := e.run(t, "-x", e.socks(socksPort), p(t, "connect_block"), e.tp.TargetIP.String(), "9")
		if code != 3 || !strings.Contains(out, "connect: ECONNREFUSED") {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
	})

	t.Run("connect to the proxy itself is not looped", func(t *testing.T) {
		proxy := net.JoinHostPort(e.tp.ProxyClientSideIP.String(), strconv.Itoa(socksPort))
		out, errOut, code := e.run(t, "-v", "-x", e.socks(socksPort), "curl", "-sS", "--socks5", proxy, url)
		if code != 0 || !strings.Contains(out, page) {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		if !strings.Contains(errOut, "direct (the proxy itself)") {
			t.Errorf("-v does not say the proxy connection went direct:\n%s", errOut)
		}
	})

	t.Run("UDP is refused by default, passes with --udp direct", func(t *testing.T) {
		prog := `
import socket
for how in ("connect", "sendto"):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if how == "connect":
            s.connect(("10.77.0.1", 9))
        else:
            s.sendto(b"x", ("10.77.0.1", 9))
        print(how, "ok")
    except OSError as e:
        print(how, "errno", e.errno)
`
		out, errOut, code := e.run(t, "-x", e.socks(socksPort), "python3", "-c", prog)
		if code != 0 || !strings.Contains(out, "connect errno 1\n") || !strings.Contains(out, "sendto errno 1\n") {
			t.Fatalf("default: exit %d, want EPERM for both\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		if !strings.Contains(errOut, "udp 10.77.0.1:9 refused (sendto): UDP is blocked") {
			t.Errorf("no log line for the refused datagram:\n%s", errOut)
		}
		out, errOut, code = e.run(t, "-v", "--udp", "direct", "-x", e.socks(socksPort), "python3", "-c", prog)
		if code != 0 || !strings.Contains(out, "connect ok") || !strings.Contains(out, "sendto ok") ||
			!strings.Contains(errOut, "udp 10.77.0.1:9 direct (udp = direct)") {
			t.Fatalf("--udp direct: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
	})

	t.Run("exit statuses", func(t *testing.T) {
		notExec := filepath.Join(t.TempDir(), "not-executable")
		if err := os.WriteFile(notExec, []byte("echo should not run\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			argv []string
			code int
		}{
			{[]string{"sh", "-c", "exit 7"}, 7},
			{[]string{"sh", "-c", "kill -TERM $$"}, 143},
			{[]string{"no-such-command-chainrun"}, 127},
			{[]string{notExec}, 126},
		}
		for _, c := range cases {
			_, errOut, code := e.run(t, append([]string{"-x", e.socks(socksPort)}, c.argv...)...)
			if code != c.code {
				t.Errorf("%q: exit %d, want %d (stderr %q)", c.argv, code, c.code, errOut)
			}
		}
	})

	t.Run("SIGTERM to chainrun reaches the command", func(t *testing.T) {
		proc := e.tp.Start(t, e.tp.Client, e.bin, "-x", e.socks(socksPort), "sh", "-c", "trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.05; done")
		waitOutput(t, proc, "ready")
		proc.Signal(os.Signal(sigterm))
		code, err := proc.Wait(20 * time.Second)
		if err != nil || code != 42 || !strings.Contains(proc.Output(), "got-term") {
			t.Fatalf("exit %d err %v output %q", code, err, proc.Output())
		}
	})

	t.Run("killing chainrun kills the command", func(t *testing.T) {
		pidFile := filepath.Join(t.TempDir(), "pid")
		proc := e.tp.Start(t, e.tp.Client, e.bin, "-x", e.socks(socksPort), "sh", "-c", "echo $$ > "+pidFile+"; echo ready; exec sleep 60")
		waitOutput(t, proc, "ready")
		b, err := os.ReadFile(pidFile)
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		proc.Signal(os.Signal(sigkill))
		proc.Wait(10 * time.Second)
		for i := 0; i < 200; i++ {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
				return
			}
			if st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); strings.Contains(string(st), ") Z ") {
				return
			}
			time.Sleep(25 * time.Millisecond)
		}
		t.Fatalf("the command (pid %d) outlived chainrun", pid)
	})
}

func waitOutput(t *testing.T, p *testnet.Proc, want string) {
	t.Helper()
	for i := 0; i < 400; i++ {
		if strings.Contains(p.Output(), want) {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("%q never appeared; output %q", want, p.Output())
}
