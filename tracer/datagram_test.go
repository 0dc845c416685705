package tracer_test

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chainrun/chainrun/internal/testnet"
	"github.com/chainrun/chainrun/syscalls"
	"github.com/chainrun/chainrun/tracer"
)

// redirector is a Handler and DatagramHandler that sends what a program
// addresses to fake to the echo server at real instead (a UDP connect too,
// by connecting the program's socket there), and shows the program fake as
// the source of the replies: the DNS path's mechanism, with no DNS.
type redirector struct {
	fake, real netip.AddrPort
	refuse     bool // refuse datagrams to fake instead

	mu        sync.Mutex
	datagrams []tracer.Datagram
}

func (r *redirector) Route(c *tracer.Call) (tracer.Result, bool) {
	if c.Info.Type != unix.SOCK_DGRAM || c.Dst != r.fake {
		return tracer.Allow(), true
	}
	var sa unix.Sockaddr = &unix.SockaddrInet4{Port: int(r.real.Port()), Addr: r.real.Addr().As4()}
	if c.Info.Domain == unix.AF_INET6 {
		sa = &unix.SockaddrInet6{Port: int(r.real.Port()), Addr: r.real.Addr().As16()}
	}
	if err := unix.Connect(c.Socket, sa); err != nil {
		return tracer.Fail(err.(syscall.Errno)), true
	}
	return tracer.Return(0).WatchReplies(), true
}

func (r *redirector) Connect(ctx context.Context, c *tracer.Call) tracer.Result {
	return tracer.Fail(syscall.ENETUNREACH)
}

func (r *redirector) Datagram(d *tracer.Datagram) tracer.Verdict {
	r.mu.Lock()
	r.datagrams = append(r.datagrams, *d)
	r.mu.Unlock()
	switch {
	case d.Dst != r.fake:
		return tracer.Pass()
	case r.refuse:
		return tracer.Refuse(syscall.EPERM)
	}
	return tracer.Redirect(r.real)
}

func (r *redirector) Source(src netip.AddrPort) (netip.AddrPort, bool) {
	if src == r.real || src == netip.AddrPortFrom(netip.AddrFrom16(r.real.Addr().As16()), r.real.Port()) {
		return r.fake, true
	}
	return netip.AddrPort{}, false
}

// echoUDP answers every datagram with "echo:" and its text, from addr.
func echoUDP(t *testing.T, network, addr string) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(append([]byte("echo:"), buf[:n]...), from)
		}
	}()
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

// TestDatagramRedirect checks every send and receive call of the DNS path,
// in the native and the 32-bit ABI: the datagram reaches the echo server
// although the program addressed a port where nothing listens, and the
// program sees the reply come from the address it wrote to.
func TestDatagramRedirect(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		echo4 := echoUDP(t, "udp4", "127.0.0.1:0")
		echo6 := echoUDP(t, "udp6", "[::1]:0")
		fake4 := netip.MustParseAddrPort("127.0.0.9:53")
		fake6 := netip.MustParseAddrPort("[::1]:9")
		type tc struct {
			prog, send, recv string
			v6, mapped       bool
		}
		var cases []tc
		for _, send := range []string{"sendto", "sendmsg", "sendmmsg", "connect"} {
			for _, recv := range []string{"recvfrom", "recvmsg", "recvmmsg"} {
				cases = append(cases, tc{prog: "udp_probe", send: send, recv: recv})
			}
		}
		cases = append(cases,
			tc{prog: "udp_probe", send: "sendto", recv: "recvfrom", v6: true},
			tc{prog: "udp_probe", send: "sendmmsg", recv: "recvmsg", v6: true},
			tc{prog: "udp_probe", send: "connect", recv: "recvmmsg", mapped: true},
			tc{prog: "udp_probe", send: "sendmsg", recv: "recvfrom", mapped: true},
			tc{prog: "udp_probe", send: "connect", recv: "read"},
		)
		for _, send := range []string{"sendto", "sendmsg", "sendmmsg", "connect"} {
			for _, recv := range []string{"recvfrom", "recvmsg", "recvmmsg"} {
				cases = append(cases, tc{prog: "udp_probe32", send: send, recv: recv})
			}
		}
		for _, c := range cases {
			name := c.prog + "/" + c.send + "/" + c.recv
			fake, real := fake4, echo4
			args := []string{c.send, c.recv, fake.Addr().String(), itoa(fake.Port())}
			wantFrom := "127.0.0.9 port 53"
			switch {
			case c.v6:
				fake, real = fake6, echo6
				args = []string{c.send, c.recv, fake.Addr().String(), itoa(fake.Port())}
				wantFrom = "::1 port 9"
				name += "/v6"
			case c.mapped:
				args = []string{c.send, c.recv, "-mapped", fake.Addr().String(), itoa(fake.Port())}
				wantFrom = "::ffff:127.0.0.9 port 53"
				name += "/mapped"
			}
			if c.recv == "read" {
				wantFrom = "none port -1"
			}
			t.Run(name, func(t *testing.T) {
				path := progs().Path(t, c.prog)
				h := &redirector{fake: fake, real: real}
				code, out := runTraced(t, h, append([]string{path}, args...)...)
				if code != 0 {
					t.Fatalf("exit %d:\n%s", code, out)
				}
				texts := []string{"echo:ping"}
				if c.send == "sendmmsg" {
					texts = []string{"echo:ping1", "echo:ping2"}
					if !strings.Contains(out, "send: 2\n") {
						t.Errorf("sendmmsg did not report 2 messages:\n%s", out)
					}
				}
				for _, text := range texts {
					want := "reply from " + wantFrom + ": " + text
					if !strings.Contains(out, want) {
						t.Errorf("output lacks %q:\n%s", want, out)
					}
				}
				h.mu.Lock()
				defer h.mu.Unlock()
				if c.send != "connect" && len(h.datagrams) == 0 {
					t.Errorf("the handler saw no datagram")
				}
				for _, d := range h.datagrams {
					if d.Dst != fake || d.Info.Type != unix.SOCK_DGRAM {
						t.Errorf("datagram %+v: want destination %s on a datagram socket", d, fake)
					}
					// Native sends go to the listener; 32-bit ones,
					// and all under PtraceOnly, stop.
					if want := c.prog == "udp_probe" && !ptracePath(t); d.Notified != want {
						t.Errorf("datagram notified = %v, want %v", d.Notified, want)
					}
				}
			})
		}
	})
}

// TestDatagramRefused checks that a refused datagram fails the send with
// the handler's errno and that nothing reaches the destination.
func TestDatagramRefused(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		echo := echoUDP(t, "udp4", "127.0.0.1:0")
		for _, send := range []string{"sendto", "sendmsg", "sendmmsg"} {
			t.Run(send, func(t *testing.T) {
				h := &redirector{fake: echo, real: echo, refuse: true}
				code, out := runTraced(t, h, progs().Path(t, "udp_probe"), send, "recvfrom", echo.Addr().String(), itoa(echo.Port()))
				if code == 0 || !strings.Contains(out, "send: EPERM") {
					t.Fatalf("exit %d, want a send failing with EPERM:\n%s", code, out)
				}
			})
		}
	})
}

// TestDatagramPassed checks that datagrams the handler passes go where the
// program sent them, with the kernel's own source address.
func TestDatagramPassed(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		echo := echoUDP(t, "udp4", "127.0.0.1:0")
		h := &redirector{fake: netip.MustParseAddrPort("127.0.0.9:53"), real: echo}
		code, out := runTraced(t, h, progs().Path(t, "udp_probe"), "sendmmsg", "recvmsg", echo.Addr().String(), itoa(echo.Port()))
		want := "reply from 127.0.0.1 port " + itoa(echo.Port()) + ": echo:ping2"
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("exit %d, want %q:\n%s", code, want, out)
		}
	})
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }

// unixRefuser refuses AF_UNIX connects to one path.
type unixRefuser struct {
	recorder
	path string
	seen []string
}

func (u *unixRefuser) ConnectUnix(c *tracer.UnixCall) tracer.Result {
	u.mu.Lock()
	u.seen = append(u.seen, c.Path)
	u.mu.Unlock()
	if c.Path == u.path {
		return tracer.Fail(unix.ECONNREFUSED)
	}
	return tracer.Allow()
}

// TestUnixConnectRefused checks that a UnixHandler sees AF_UNIX connects
// (path and abstract names) and that its refusal is what the program gets,
// while other local sockets connect as usual.
func TestUnixConnectRefused(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		testnet.NeedCommand(t, "python3")
		dir := t.TempDir()
		open, closed := filepath.Join(dir, "open"), filepath.Join(dir, "resolver")
		for _, p := range []string{open, closed} {
			ln, err := net.Listen("unix", p)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Write([]byte("unix-ok"))
					c.Close()
				}
			}()
		}
		h := &unixRefuser{path: closed}
		code, out := runTraced(t, h, "python3", "-c", `
import socket, sys
for p in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect("\0" + p[1:] if p.startswith("@") else p)
        print(p, s.recv(100).decode())
    except OSError as e:
        print(p, "error", e.errno)
`, open, closed, "@chainrun-abstract-test")
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		for _, want := range []string{open + " unix-ok", closed + " error " + strconv.Itoa(int(unix.ECONNREFUSED))} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		// The interpreter may connect to sockets of its own before the script
		// runs (a machine with nscd: python's start-up asks it for the user):
		// those pass too, and only the script's three are checked, in order.
		var ours []string
		for _, p := range h.seen {
			if strings.HasPrefix(p, dir) || strings.HasPrefix(p, "@chainrun-") {
				ours = append(ours, p)
			}
		}
		if len(ours) != 3 || ours[0] != open || ours[1] != closed || ours[2] != "@chainrun-abstract-test" {
			t.Errorf("handler saw %q", h.seen)
		}
	})
}

// TestFastOpen checks that sendto and sendmsg with MSG_FASTOPEN on a fresh
// TCP socket reach the handler as a connect and that the data is sent
// once the handler has connected the socket: the program sees its bytes
// sent and the peer's answer, and nothing went out by itself.
func TestFastOpen(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		testnet.NeedCommand(t, "python3")
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		got := make(chan string, 4)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				buf := make([]byte, 100)
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, _ := c.Read(buf)
				got <- string(buf[:n])
				c.Write([]byte("ack:" + string(buf[:n])))
				c.Close()
			}
		}()
		real := netip.MustParseAddrPort(ln.Addr().String())
		fake := netip.MustParseAddrPort("127.0.0.9:9") // where the program sends; nothing listens
		for _, how := range []string{"sendto", "sendmsg"} {
			t.Run(how, func(t *testing.T) {
				h := &recorder{answer: func(c *tracer.Call) tracer.Result {
					if c.Dst != fake || c.Info.Type != unix.SOCK_STREAM {
						return tracer.Fail(unix.EACCES)
					}
					if err := unix.Connect(c.Socket, &unix.SockaddrInet4{Port: int(real.Port()), Addr: real.Addr().As4()}); err != nil {
						return tracer.Fail(err.(syscall.Errno))
					}
					return tracer.Return(0)
				}}
				code, out := runTraced(t, h, "python3", "-c", `
import socket, sys
s = socket.socket()
addr = (sys.argv[2], int(sys.argv[3]))
if sys.argv[1] == "sendto":
    n = s.sendto(b"hello", socket.MSG_FASTOPEN, addr)
else:
    n = s.sendmsg([b"hel", b"lo"], [], socket.MSG_FASTOPEN, addr)
print("sent", n)
print("reply", s.recv(100).decode())
`, how, fake.Addr().String(), strconv.Itoa(int(fake.Port())))
				if code != 0 || !strings.Contains(out, "sent 5") || !strings.Contains(out, "reply ack:hello") {
					t.Fatalf("exit %d:\n%s", code, out)
				}
				select {
				case data := <-got:
					if data != "hello" {
						t.Errorf("the peer got %q", data)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("the peer got nothing")
				}
				if calls := h.recorded(); len(calls) != 1 || calls[0].Dst != fake {
					t.Errorf("handler calls %+v, want one connect to %s", calls, fake)
				} else if calls[0].Notified == ptracePath(t) {
					t.Errorf("call notified = %v on the %s path", calls[0].Notified, t.Name())
				}
			})
		}
	})
}

// policyRecorder refuses raw and packet sockets and io_uring_setup.
type policyRecorder struct {
	recorder
	seen []tracer.PolicyCall
}

func (p *policyRecorder) Policy(c *tracer.PolicyCall) tracer.Result {
	p.mu.Lock()
	p.seen = append(p.seen, *c)
	p.mu.Unlock()
	if c.Trap.Call() == syscalls.CallIoUringSetup {
		return tracer.Fail(unix.ENOSYS)
	}
	if c.Domain == unix.AF_PACKET || c.Type&0xf == unix.SOCK_RAW {
		return tracer.Fail(unix.EPERM)
	}
	return tracer.Allow()
}

// TestPolicyCalls checks that creating raw and packet sockets and
// io_uring_setup stop at the PolicyHandler, while the TCP and UDP sockets
// of every connection do not.
func TestPolicyCalls(t *testing.T) {
	testnet.NeedCommand(t, "python3")
	h := &policyRecorder{}
	code, out := runTraced(t, h, "python3", "-c", `
import ctypes, socket
def attempt(name, f):
    try:
        f()
        print(name, "ok")
    except OSError as e:
        print(name, "errno", e.errno)
attempt("tcp", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close())
attempt("udp6", lambda: socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close())
attempt("raw", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.IPPROTO_UDP))
attempt("raw6", lambda: socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_UDP))
attempt("packet", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, 0))
libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)
r = libc.syscall(425, 4, params)
print("io_uring_setup", r, ctypes.get_errno())
`)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{"tcp ok", "udp6 ok", "raw errno 1", "raw6 errno 1", "packet errno 1",
		"io_uring_setup -1 " + strconv.Itoa(int(unix.ENOSYS))} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.seen) != 4 {
		t.Errorf("the handler saw %d calls, want 4 (raw, raw6, packet, io_uring_setup): %+v", len(h.seen), h.seen)
	}
}

// TestInlineConnectSeesDeath: a single-threaded program's connect is
// decided on the tracer thread; when the program is killed meanwhile, the
// handler learns it from Call.ProcessFd and the run ends at once.
func TestInlineConnectSeesDeath(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		var sawDeath bool
		h := &recorder{answer: func(c *tracer.Call) tracer.Result {
			time.AfterFunc(200*time.Millisecond, func() { unix.Kill(c.Pid, unix.SIGKILL) })
			fds := []unix.PollFd{{Fd: int32(c.ProcessFd), Events: unix.POLLIN}}
			n, _ := unix.Poll(fds, 10_000)
			sawDeath = n == 1
			return tracer.Fail(unix.ECONNABORTED)
		}}
		start := time.Now()
		code, out := runTraced(t, h, progs().Path(t, "connect_block"), "127.0.0.9", "9")
		if code != 128+9 || !sawDeath || time.Since(start) > 5*time.Second {
			t.Fatalf("exit %d after %v, death seen %v:\n%s", code, time.Since(start), sawDeath, out)
		}
	})
}

// TestUDPConnectIPv4OnIPv6Socket: an IPv6 datagram socket given a plain
// IPv4 sockaddr connects (the kernel maps it), so such a connect must reach
// the handler like any other, not go to the kernel as a family mismatch.
func TestUDPConnectIPv4OnIPv6Socket(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		echo := echoUDP(t, "udp4", "127.0.0.1:0")
		fake := netip.MustParseAddrPort("127.0.0.9:53") // nothing listens there
		h := &redirector{fake: fake, real: echo}
		code, out := runTraced(t, h, progs().Path(t, "udp_probe"), "connect", "recvfrom", "-v4on6", fake.Addr().String(), itoa(fake.Port()))
		want := "reply from ::ffff:127.0.0.9 port 53: echo:ping"
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("exit %d, want %q (the connect redirected to the echo server):\n%s", code, want, out)
		}
	})
}
