package testnet

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTopology brings a topology up, checks its reachability rules and
// servers, and checks that nothing of it is left afterwards.
func TestTopology(t *testing.T) {
	NeedRoot(t)
	NeedCommand(t, "ip")
	NeedCommand(t, "curl")
	NeedCommand(t, "microsocks")

	var names []string
	var strayPid int
	t.Run("up", func(t *testing.T) {
		tp := New(t)
		names = []string{tp.Client, tp.Proxy, tp.Target}
		for _, n := range names {
			if len(n) > 15 {
				t.Errorf("namespace name %q longer than 15", n)
			}
		}
		const big = 3<<20 + 17
		sum := tp.StartHTTPTarget(t, 8080, big)

		t.Run("sysctl", func(t *testing.T) {
			for key, want := range map[string]string{
				"net/ipv4/ip_forward":          "0",
				"net/ipv6/conf/all/forwarding": "0",
			} {
				out, _, code := tp.Run(t, 10*time.Second, tp.Proxy, nil, "cat", "/proc/sys/"+key)
				if code != 0 || strings.TrimSpace(out) != want {
					t.Errorf("proxy ns %s = %q (exit %d), want %s", key, out, code, want)
				}
			}
		})

		t.Run("etc", func(t *testing.T) {
			out, _, _ := tp.Run(t, 10*time.Second, tp.Client, nil, "cat", "/etc/resolv.conf")
			if strings.TrimSpace(out) != "nameserver 10.77.0.53" {
				t.Errorf("client resolv.conf = %q", out)
			}
			out, _, code := tp.Run(t, 10*time.Second, tp.Proxy, nil, "getent", "ahostsv4", TargetName)
			if code != 0 || !strings.Contains(out, "10.78.0.2") {
				t.Errorf("proxy ns cannot resolve %s: %q (exit %d)", TargetName, out, code)
			}
		})

		t.Run("client-cannot-reach-target", func(t *testing.T) {
			for _, addr := range []string{"10.78.0.2:8080", "[fd78::2]:8080", "10.78.0.1:8080"} {
				c, err := tp.DialFrom(tp.Client, addr, 2*time.Second)
				if err == nil {
					c.Close()
					t.Errorf("client ns reached %s directly", addr)
					continue
				}
				if !errors.Is(err, syscall.ENETUNREACH) {
					t.Errorf("dial %s from client ns: %v, want ENETUNREACH", addr, err)
				}
			}
			out, _, _ := tp.Run(t, 10*time.Second, tp.Client, nil, "ip", "route", "show")
			out6, _, _ := tp.Run(t, 10*time.Second, tp.Client, nil, "ip", "-6", "route", "show")
			if strings.Contains(out+out6, "10.78.") || strings.Contains(out+out6, "fd78:") || strings.Contains(out+out6, "default") {
				t.Errorf("client ns routes:\n%s%s", out, out6)
			}
		})

		t.Run("proxy-reaches-target", func(t *testing.T) {
			for _, addr := range []string{"10.78.0.2:8080", "[fd78::2]:8080"} {
				body := httpGetFrom(t, tp, tp.Proxy, addr, "/index.html")
				if !strings.Contains(body, TargetPage) {
					t.Errorf("GET %s from proxy ns: %q", addr, body)
				}
			}
			for _, addr := range []string{"10.77.0.2:1", "[fd77::2]:1"} {
				// The client side is reachable too (connection refused, not unreachable).
				_, err := tp.DialFrom(tp.Proxy, addr, 2*time.Second)
				if !errors.Is(err, syscall.ECONNREFUSED) {
					t.Errorf("dial %s from proxy ns: %v, want ECONNREFUSED", addr, err)
				}
			}
		})

		t.Run("microsocks", func(t *testing.T) {
			ms := tp.StartMicrosocks(t, 1080, "", "")
			// `ip netns exec` execs: the pid is microsocks' own.
			if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(ms.Pid()) + "/comm"); strings.TrimSpace(string(comm)) != "microsocks" {
				t.Errorf("pid %d is %q, not microsocks", ms.Pid(), comm)
			}
			curl := func(args ...string) (string, int) {
				argv := append([]string{"curl", "-sS", "-g", "--max-time", "20", "--noproxy", ""}, args...)
				out, errOut, code := tp.Run(t, 30*time.Second, tp.Client, nil, argv...)
				if code != 0 {
					t.Logf("curl %v: exit %d: %s", args, code, errOut)
				}
				return out, code
			}
			for _, u := range []string{"http://10.78.0.2:8080/index.html", "http://[fd78::2]:8080/index.html"} {
				if out, code := curl("--socks5", "10.77.0.1:1080", u); code != 0 || !strings.Contains(out, TargetPage) {
					t.Errorf("curl via microsocks %s: exit %d, %q", u, code, out)
				}
			}
			// Remote name resolution: only the proxy ns knows the name.
			if out, code := curl("-x", "socks5h://10.77.0.1:1080", "http://"+TargetName4+":8080/index.html"); code != 0 || !strings.Contains(out, TargetPage) {
				t.Errorf("curl socks5h %s: exit %d, %q", TargetName4, code, out)
			}
			// big.bin arrives whole.
			file := filepath.Join(t.TempDir(), "big.bin")
			if _, code := curl("--socks5", "10.77.0.1:1080", "-o", file, "http://10.78.0.2:8080/big.bin"); code != 0 {
				t.Fatalf("curl big.bin: exit %d", code)
			}
			if got := fileSHA256(t, file); got != sum {
				t.Errorf("big.bin sha256 %s, want %s", got, sum)
			}

			// With authentication.
			tp.StartMicrosocks(t, 1081, "alice", "s3cret")
			if out, code := curl("-x", "socks5://alice:s3cret@10.77.0.1:1081", "http://10.78.0.2:8080/index.html"); code != 0 || !strings.Contains(out, TargetPage) {
				t.Errorf("curl with auth: exit %d, %q", code, out)
			}
			if _, code := curl("-x", "socks5://10.77.0.1:1081", "http://10.78.0.2:8080/index.html"); code == 0 {
				t.Errorf("curl without auth succeeded against microsocks -u")
			}
			if _, code := curl("-x", "socks5://alice:wrong@10.77.0.1:1081", "http://10.78.0.2:8080/index.html"); code == 0 {
				t.Errorf("curl with a wrong password succeeded")
			}
			// The target saw the proxy, never the client.
			target := tp.procs[0]
			log := target.Output()
			if !strings.Contains(log, "from 10.78.0.1:") || strings.Contains(log, "10.77.0.2") {
				t.Errorf("target log:\n%s", log)
			}
		})

		t.Run("stray-process", func(t *testing.T) {
			// A daemon that leaves its process group must go at cleanup too.
			p := tp.Start(t, tp.Proxy, "sh", "-c", "setsid sleep 600 </dev/null >/dev/null 2>&1 & echo $!")
			if code, err := p.Wait(10 * time.Second); err != nil || code != 0 {
				t.Fatalf("sh: exit %d, %v", code, err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(p.Output()))
			if err != nil {
				t.Fatalf("pid: %q", p.Output())
			}
			strayPid = pid
		})
	})

	if t.Failed() || names == nil {
		return
	}
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v\n%s", err, out)
	}
	for _, n := range names {
		if containsWord(string(out), n) {
			t.Errorf("namespace %s left behind:\n%s", n, out)
		}
		if _, err := os.Stat(filepath.Join("/etc/netns", n)); err == nil {
			t.Errorf("/etc/netns/%s left behind", n)
		}
	}
	if strayPid > 0 && !gone(strayPid, 5*time.Second) {
		t.Errorf("stray process %d still alive", strayPid)
		syscall.Kill(strayPid, syscall.SIGKILL)
	}
}

// TestTwoTopologies checks that two topologies can exist at once.
func TestTwoTopologies(t *testing.T) {
	a, b := New(t), New(t)
	if a.Client == b.Client || a.Proxy == b.Proxy || a.Target == b.Target {
		t.Fatalf("same names: %+v %+v", a, b)
	}
	la := a.Listen(t, a.Target, "10.78.0.2:0")
	go func() {
		c, err := la.Accept()
		if err == nil {
			io.WriteString(c, "hello from a\n")
			c.Close()
		}
	}()
	c, err := a.DialFrom(a.Proxy, la.Addr().String(), 2*time.Second)
	if err != nil {
		t.Fatalf("dial in a: %v", err)
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if line != "hello from a\n" {
		t.Errorf("got %q", line)
	}
	// Nothing listens on that port in b.
	if _, err := b.DialFrom(b.Proxy, la.Addr().String(), 2*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial in b: %v, want ECONNREFUSED", err)
	}
}

// httpGetFrom does an HTTP/1.0 GET of path from addr inside namespace ns
// and returns the whole reply.
func httpGetFrom(t *testing.T, tp *Topology, ns, addr, path string) string {
	t.Helper()
	c, err := tp.DialFrom(ns, addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, ns, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET "+path+" HTTP/1.0\r\nHost: x\r\n\r\n")
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read from %s: %v", addr, err)
	}
	return string(b)
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// gone waits at most limit for process pid to be dead (a zombie waiting
// for init to reap it counts as dead).
func gone(pid int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return true
		}
		// The state follows the ")" that ends the command name.
		if i := strings.LastIndexByte(string(b), ')'); i >= 0 && i+2 < len(b) && b[i+2] == 'Z' {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func containsWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}
