package testnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestProxies proves each proxy helper with a real client in the client
// namespace fetching the target's page through it, and checks that nothing
// of them is left afterwards.
func TestProxies(t *testing.T) {
	NeedRoot(t)
	NeedCommand(t, "ip")
	NeedCommand(t, "curl")

	etcBefore := etcState(t)
	var pids []int
	keep := func(p *Proc) { pids = append(pids, p.Pid()) }

	t.Run("up", func(t *testing.T) {
		tp := New(t)
		tp.StartHTTPTarget(t, 8080, 0)
		const page = "http://10.78.0.2:8080/index.html"
		page6 := "http://[fd78::2]:8080/index.html"
		byName := "http://" + TargetName + ":8080/index.html"
		byName4 := "http://" + TargetName4 + ":8080/index.html"

		// fetch runs curl in the client namespace and reports whether it
		// got the target's page.
		fetch := func(t *testing.T, args ...string) (ok bool, out string) {
			t.Helper()
			argv := append([]string{"curl", "-sS", "-g", "--max-time", "15", "--noproxy", ""}, args...)
			out, errOut, code := tp.Run(t, 30*time.Second, tp.Client, nil, argv...)
			if code != 0 {
				t.Logf("curl %q: exit %d: %s", args, code, strings.TrimSpace(errOut))
			}
			return code == 0 && strings.Contains(out, TargetPage), out
		}
		mustFetch := func(t *testing.T, args ...string) {
			t.Helper()
			if ok, out := fetch(t, args...); !ok {
				t.Errorf("curl %q did not get the page: %q", args, out)
			}
		}
		mustFail := func(t *testing.T, why string, args ...string) {
			t.Helper()
			if ok, _ := fetch(t, args...); ok {
				t.Errorf("curl %q got the page, but %s", args, why)
			}
		}

		// The servers live as long as the topology: the hop2 test uses
		// them all as first hops.
		keep(tp.StartDanted(t, 1080, "", ""))
		keep(tp.StartDanted(t, 1081, "alice", "s3cret pass"))
		keep(tp.StartSSHSocks(t, 1082))
		sshd := tp.procs[len(tp.procs)-2] // the sshd behind ssh -D
		keep(sshd)
		keep(tp.StartTinyproxy(t, 3128, "", ""))
		keep(tp.StartTinyproxy(t, 3129, "bob", "pw0rd"))
		keep(tp.StartTinyproxy(t, 3130, "", "", 443, 9999))
		keep(tp.StartMicrosocks(t, 1084, "", ""))
		keep(tp.StartMicrosocksLocal(t, 1085))

		t.Run("danted", func(t *testing.T) {
			mustFetch(t, "--socks4", "10.77.0.1:1080", page)
			mustFetch(t, "--socks5", "10.77.0.1:1080", page)
			mustFetch(t, "--socks5", "10.77.0.1:1080", page6)
			mustFetch(t, "--socks5-hostname", "10.77.0.1:1080", byName4)
			mustFetch(t, "-x", "socks5h://10.77.0.1:1080", byName)
			mustFail(t, "dante has no SOCKS4a", "--socks4a", "10.77.0.1:1080", byName4)
			// The target saw the proxy's target-side address.
			log := tp.procs[0].Output()
			if !strings.Contains(log, "from 10.78.0.1:") || !strings.Contains(log, "from [fd78::1]:") || strings.Contains(log, "10.77.0.2") {
				t.Errorf("target log:\n%s", log)
			}
		})

		t.Run("danted-auth", func(t *testing.T) {
			mustFetch(t, "-x", "socks5://alice:s3cret%20pass@10.77.0.1:1081", page)
			mustFetch(t, "--socks5", "10.77.0.1:1081", "-U", "alice:s3cret pass", page6)
			mustFetch(t, "--socks5-hostname", "10.77.0.1:1081", "--proxy-user", "alice:s3cret pass", byName4)
			mustFail(t, "no credentials were given", "--socks5", "10.77.0.1:1081", page)
			mustFail(t, "the password is wrong", "--socks5", "10.77.0.1:1081", "-U", "alice:wrong", page)
			mustFail(t, "the user is unknown", "--socks5", "10.77.0.1:1081", "-U", "bob:s3cret pass", page)
			mustFail(t, "SOCKS4 must be refused when a password is required", "--socks4", "10.77.0.1:1081", page)
			// No system account: the proxy namespace (outside danted's own
			// mount namespace) does not know alice.
			if out, _, code := tp.Run(t, 10*time.Second, tp.Proxy, nil, "getent", "passwd", "alice"); code == 0 {
				t.Errorf("alice is a system user: %q", out)
			}
		})

		t.Run("ssh", func(t *testing.T) {
			mustFetch(t, "--socks4a", "10.77.0.1:1082", byName)
			mustFetch(t, "--socks5-hostname", "10.77.0.1:1082", byName)
			mustFetch(t, "--socks4", "10.77.0.1:1082", page)
			mustFetch(t, "--socks5", "10.77.0.1:1082", page6)
			mustFetch(t, "-x", "socks4a://10.77.0.1:1082", byName4)
			// Our own sshd, on the proxy's loopback, let the key in.
			if log := sshd.Output(); !strings.Contains(log, "Accepted publickey for root from 127.0.0.1") {
				t.Errorf("sshd log:\n%s", log)
			}
		})

		t.Run("tinyproxy", func(t *testing.T) {
			mustFetch(t, "-p", "-x", "http://10.77.0.1:3128", page)
			mustFetch(t, "-p", "-x", "http://10.77.0.1:3128", page6)
			mustFetch(t, "-p", "-x", "http://10.77.0.1:3128", byName)
			mustFetch(t, "-p", "-x", "http://bob:pw0rd@10.77.0.1:3129", page)
			mustFetch(t, "-p", "-x", "http://10.77.0.1:3129", "--proxy-user", "bob:pw0rd", page)
			connectCode := func(args ...string) string {
				t.Helper()
				argv := append([]string{"curl", "-s", "-g", "--max-time", "15", "--noproxy", "", "-o", "/dev/null", "-w", "%{http_connect}", "-p"}, args...)
				out, _, _ := tp.Run(t, 30*time.Second, tp.Client, nil, argv...)
				return strings.TrimSpace(out)
			}
			if code := connectCode("-x", "http://10.77.0.1:3129", page); code != "407" {
				t.Errorf("CONNECT without credentials: %s, want 407", code)
			}
			// A wrong password: 407, but tinyproxy before 1.11.2 (Debian 12
			// has 1.11.1) answers 401 (tinyproxy issue #532).
			if code := connectCode("-x", "http://bob:wrong@10.77.0.1:3129", page); code != "407" && code != "401" {
				t.Errorf("CONNECT with a wrong password: %s, want 407 (or 401 from tinyproxy < 1.11.2)", code)
			}
			// ConnectPort 443 and 9999 only: CONNECT to 8080 is refused.
			if code := connectCode("-x", "http://10.77.0.1:3130", page); code != "403" {
				t.Errorf("CONNECT to a port not in ConnectPort: %s, want 403", code)
			}
		})

		t.Run("hop2", func(t *testing.T) {
			// From the proxy namespace, 127.0.0.1:1085 serves SOCKS5, also
			// under the name Hop2Name.
			for _, args := range [][]string{
				{"--socks5", "127.0.0.1:1085", page},
				{"--socks5", Hop2Name + ":1085", page},
				{"--socks5-hostname", "127.0.0.1:1085", byName},
			} {
				argv := append([]string{"curl", "-sS", "-g", "--max-time", "15", "--noproxy", ""}, args...)
				out, errOut, code := tp.Run(t, 30*time.Second, tp.Proxy, nil, argv...)
				if code != 0 || !strings.Contains(out, TargetPage) {
					t.Errorf("proxy ns: curl %q: exit %d, %q %s", args, code, out, errOut)
				}
			}
			// From the client namespace it is out of reach...
			mustFail(t, "hop2 is bound to the proxy's loopback", "--socks5", "127.0.0.1:1085", page)
			mustFail(t, "hop2 is bound to the proxy's loopback", "--socks5", "10.77.0.1:1085", page)
			// ... except through a first hop in the proxy namespace: a
			// SOCKS5 chain hop1 → hop2 → target, spoken by hand since curl
			// cannot chain. Every hop1 helper, by address and by name.
			for _, hop1 := range []string{"10.77.0.1:1084", "10.77.0.1:1080", "10.77.0.1:1082"} {
				for _, h2 := range []string{"127.0.0.1", Hop2Name} {
					for _, target := range []string{"10.78.0.2", "fd78::2", TargetName} {
						body, err := chainGet(tp, hop1, h2, 1085, target, 8080)
						if err != nil || !strings.Contains(body, TargetPage) {
							t.Errorf("chain %s → %s:1085 → %s:8080: %v %q", hop1, h2, target, err, body)
						}
					}
				}
			}
			// The authenticated danted as hop1.
			body, err := chainGetAuth(tp, "10.77.0.1:1081", "alice", "s3cret pass", Hop2Name, 1085, TargetName, 8080)
			if err != nil || !strings.Contains(body, TargetPage) {
				t.Errorf("chain via danted with auth: %v %q", err, body)
			}
		})
	})

	for _, pid := range pids {
		if !gone(pid, 5*time.Second) {
			t.Errorf("process %d still alive after the test", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if after := etcState(t); after != etcBefore {
		t.Errorf("/etc account files changed:\nbefore %s\nafter  %s", etcBefore, after)
	}
}

// etcState describes the host's account files by size and modification time
// (not their content): they must not change.
func etcState(t *testing.T) string {
	var b strings.Builder
	for _, f := range []string{"/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow"} {
		fi, err := os.Stat(f)
		if err != nil {
			fmt.Fprintf(&b, "%s: %v; ", f, err)
			continue
		}
		fmt.Fprintf(&b, "%s: %d %v; ", f, fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String()
}

// chainGet fetches /index.html from target:tport through a chain of two
// SOCKS5 proxies without authentication, from the client namespace: hop1
// (an address the client reaches), then hop2 (host and port as hop1 sees
// them), then the target (as hop2 sees it).
func chainGet(tp *Topology, hop1, hop2 string, port2 int, target string, tport int) (string, error) {
	return chainGetAuth(tp, hop1, "", "", hop2, port2, target, tport)
}

// chainGetAuth is chainGet with a username and password for hop1 ("" for
// none).
func chainGetAuth(tp *Topology, hop1, user, pass, hop2 string, port2 int, target string, tport int) (string, error) {
	c, err := tp.DialFrom(tp.Client, hop1, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	if err := socks5Connect(c, user, pass, hop2, port2); err != nil {
		return "", fmt.Errorf("hop1 %s: %w", hop1, err)
	}
	if err := socks5Connect(c, "", "", target, tport); err != nil {
		return "", fmt.Errorf("hop2 %s:%d: %w", hop2, port2, err)
	}
	if _, err := io.WriteString(c, "GET /index.html HTTP/1.0\r\nHost: target\r\n\r\n"); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

// socks5Connect speaks the client side of a SOCKS5 CONNECT to host:port (an
// IP literal or a name) on c, with username/password authentication when
// user is not "".
func socks5Connect(c net.Conn, user, pass, host string, port int) error {
	method := byte(0)
	if user != "" {
		method = 2
	}
	if _, err := c.Write([]byte{5, 1, method}); err != nil {
		return err
	}
	var rep [2]byte
	if _, err := io.ReadFull(c, rep[:]); err != nil {
		return err
	}
	if rep[0] != 5 || rep[1] != method {
		return fmt.Errorf("method reply %v", rep)
	}
	if user != "" {
		msg := append([]byte{1, byte(len(user))}, user...)
		msg = append(append(msg, byte(len(pass))), pass...)
		if _, err := c.Write(msg); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, rep[:]); err != nil {
			return err
		}
		if rep[1] != 0 {
			return fmt.Errorf("authentication refused: %v", rep)
		}
	}
	req := []byte{5, 1, 0}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Is4() {
			req = append(req, 1)
		} else {
			req = append(req, 4)
		}
		req = append(req, a.AsSlice()...)
	} else {
		req = append(append(req, 3, byte(len(host))), host...)
	}
	req = binary.BigEndian.AppendUint16(req, uint16(port))
	if _, err := c.Write(req); err != nil {
		return err
	}
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return err
	}
	if hdr[1] != 0 {
		return fmt.Errorf("CONNECT %s:%d refused, reply code %d", host, port, hdr[1])
	}
	n := 0
	switch hdr[3] {
	case 1:
		n = 4
	case 4:
		n = 16
	case 3:
		var l [1]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return err
		}
		n = int(l[0])
	default:
		return errors.New("bad address type in reply")
	}
	_, err := io.ReadFull(c, make([]byte, n+2))
	return err
}
