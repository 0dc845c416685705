package main

import (
	"maps"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chainrun/chainrun/internal/testnet"
)

// End to end with the real tor: testnet.StartTor runs Debian's tor in a
// network namespace that has only loopback, knowing only a made-up
// directory authority on 127.0.0.1, so it never bootstraps and nothing
// leaves. chainrun runs in that namespace, where `-p tor`'s
// 127.0.0.1:9050 is that tor. What tor answers without a network
// (tor 0.4.9.11): a malformed .onion address gets 0xF6 at once; a
// well-formed v3 one waits for a descriptor that cannot come and gets 0x06
// (TTL expired) after SocksTimeout, not 0xF0; a private address gets 0x01.

// torInvalidOnion is a v2-style onion address (16 characters): tor no
// longer knows v2 and rejects it as malformed.
const torInvalidOnion = "abcdefghijklmnop.onion"

// torRunBound bounds a command under chainrun -p tor that tor answers at
// once (curl's own --max-time is 20 s).
const torRunBound = 10 * time.Second

// dnsTrap listens on 127.0.0.1:53, UDP and TCP, in namespace ns, where the
// namespace's resolv.conf points: under chainrun nothing may arrive.
type dnsTrap struct {
	mu   sync.Mutex
	seen []string
}

func startDNSTrap(t *testing.T, ns string) *dnsTrap {
	t.Helper()
	d := &dnsTrap{}
	var pc net.PacketConn
	var ln net.Listener
	err := testnet.InNS(ns, func() (err error) {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:53"); err != nil {
			return err
		}
		ln, err = net.Listen("tcp", "127.0.0.1:53")
		return err
	})
	if err != nil {
		t.Fatalf("DNS trap in %s: %v", ns, err)
	}
	t.Cleanup(func() { pc.Close(); ln.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			d.add("udp from " + from.String() + ": " + strings.ToValidUTF8(string(buf[:n]), "."))
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			d.add("tcp from " + c.RemoteAddr().String())
			c.Close()
		}
	}()
	// The trap works: a datagram sent there from inside ns arrives.
	err = testnet.InNS(ns, func() error {
		c, err := net.Dial("udp", "127.0.0.1:53")
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("probe"))
		return err
	})
	for i := 0; err == nil && len(d.queries()) == 0 && i < 100; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if q := d.queries(); err != nil || len(q) != 1 || !strings.HasSuffix(q[0], ": probe") {
		t.Fatalf("DNS trap self-test: %v, got %q", err, q)
	}
	d.mu.Lock()
	d.seen = nil
	d.mu.Unlock()
	return d
}

func (d *dnsTrap) add(s string) {
	d.mu.Lock()
	d.seen = append(d.seen, s)
	d.mu.Unlock()
}

func (d *dnsTrap) queries() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.seen)
}

// torEnv keeps chainrun from finding a configuration file: -p tor is the
// built-in profile.
func torEnv(t *testing.T) []string {
	return []string{"CHAINRUN_CONFIG=", "CHAINRUN_PROFILE=", "XDG_CONFIG_HOME=" + t.TempDir(), "HOME=" + t.TempDir()}
}

func TestTorEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests are not short")
	}
	tor := testnet.StartTor(t)
	bin := buildChainrun(t)
	trap := startDNSTrap(t, tor.NS)
	env := torEnv(t)
	t.Logf("tor %s (pid %d) in %s", tor.Version, tor.Pid(), tor.NS)

	// curlUnderTor runs curl for url under chainrun -p tor -v and returns
	// chainrun's and curl's stderr, curl's status and the time it took.
	curlUnderTor := func(t *testing.T, url string, bound time.Duration) (string, int, time.Duration) {
		t.Helper()
		start := time.Now()
		_, errOut, code := tor.Run(t, 60*time.Second, env, bin, "-p", "tor", "-v", "curl", "-sS", "--max-time", "20", url)
		took := time.Since(start)
		t.Logf("exit %d after %v:\n%s", code, took.Round(time.Millisecond), errOut)
		if took > bound {
			t.Errorf("took %v, want at most %v", took, bound)
		}
		if q := trap.queries(); len(q) > 0 {
			t.Errorf("DNS left chainrun: the namespace's nameserver got %q", q)
		}
		return errOut, code, took
	}
	// wantConnFailure checks the -v line of curl's connect to name:80: it
	// went to tor as the name behind a fake address, and failed with
	// tor's reply in words and the errno it maps to.
	wantConnFailure := func(t *testing.T, errOut, name, reply, errno string) {
		t.Helper()
		dnsLine := regexp.MustCompile(`(?m)^chainrun: dns ` + regexp.QuoteMeta(name) + ` A -> (198\.1[89]\.\d+\.\d+) \(remote\)`)
		m := dnsLine.FindStringSubmatch(errOut)
		if m == nil {
			t.Fatalf("no remote-DNS line giving %s a fake address in:\n%s", name, errOut)
		}
		connLine := regexp.MustCompile(`(?m)^chainrun: curl\[\d+\] tcp ` + regexp.QuoteMeta(name) + `:80 \(` + regexp.QuoteMeta(m[1]) +
			`\) via socks5h://127\.0\.0\.1:9050 failed: hop 1 \(socks5h://127\.0\.0\.1:9050\): ` + regexp.QuoteMeta(reply) + ` -> ` + errno + ` \d+\.\dms$`)
		if !connLine.MatchString(errOut) {
			t.Errorf("no line saying curl's connect to %s:80 (%s) failed with %q -> %s in:\n%s", name, m[1], reply, errno, errOut)
		}
	}

	t.Run("invalid onion address", func(t *testing.T) {
		errOut, code, _ := curlUnderTor(t, "http://"+torInvalidOnion+"/", torRunBound)
		if code == 0 {
			t.Errorf("curl succeeded")
		}
		wantConnFailure(t, errOut, torInvalidOnion, "socks5: onion service invalid address (Tor extended error 0xf6)", "EINVAL")
		if !strings.Contains(errOut, "curl: (7) ") {
			t.Errorf("curl did not fail to connect (exit 7):\n%s", errOut)
		}
	})

	t.Run("v3 onion address without a descriptor", func(t *testing.T) {
		// Well-formed (checksum and version right), so tor tries to fetch
		// its descriptor, which cannot come: it gives up after
		// SocksTimeout with 0x06 TTL expired -> ETIMEDOUT.
		onion := testnet.OnionV3Address("e2e")
		errOut, code, took := curlUnderTor(t, "http://"+onion+"/", testnet.TorSocksTimeout+torRunBound)
		if code == 0 {
			t.Errorf("curl succeeded")
		}
		if took < testnet.TorSocksTimeout/2 { // tor expires requests once a second
			t.Errorf("tor answered after %v, before its SocksTimeout %v", took, testnet.TorSocksTimeout)
		}
		wantConnFailure(t, errOut, onion, "socks5: TTL expired (connection to destination timed out)", "ETIMEDOUT")
		// The tor profile hands out IPv4 fake addresses only: curl waits
		// for Tor once, not once per family.
		if n := strings.Count(errOut, "failed: hop 1"); n != 1 || strings.Contains(errOut, "fd63:") {
			t.Errorf("%d failed attempts (want 1, on an IPv4 fake address):\n%s", n, errOut)
		}
	})

	t.Run("private address", func(t *testing.T) {
		// Tor refuses a private destination at once: 0x01 general failure
		// -> ECONNREFUSED.
		errOut, code, _ := curlUnderTor(t, "http://10.1.2.3/", torRunBound)
		if code == 0 {
			t.Errorf("curl succeeded")
		}
		if !regexp.MustCompile(`(?m)^chainrun: curl\[\d+\] tcp 10\.1\.2\.3:80 via socks5h://127\.0\.0\.1:9050 failed: hop 1 \(socks5h://127\.0\.0\.1:9050\): socks5: general SOCKS server failure -> ECONNREFUSED`).MatchString(errOut) {
			t.Errorf("no line saying tor refused 10.1.2.3:80 with a general failure -> ECONNREFUSED in:\n%s", errOut)
		}
	})

	t.Run("check", func(t *testing.T) {
		start := time.Now()
		out, errOut, code := tor.Run(t, 60*time.Second, env, bin, "check", "-p", "tor")
		t.Logf("chainrun check -p tor: exit %d after %v\n%s%s", code, time.Since(start).Round(time.Millisecond), out, errOut)
		if code != 0 {
			t.Errorf("exit %d, want 0", code)
		}
		if !strings.HasPrefix(out, "chain socks5h://127.0.0.1:9050 (profile tor, strict, isolate run)\n") {
			t.Errorf("first line of %q", out)
		}
		if !regexp.MustCompile(`(?m)^hop 1 +socks5h://127\.0\.0\.1:9050 +ok +\d+\.\dms +TCP connect to 127\.0\.0\.1:9050 in \d+\.\dms; SOCKS5 greeting \d+\.\dms: isolation credentials accepted \(user chainrun-[0-9a-f]+\)$`).MatchString(out) {
			t.Errorf("hop 1 is not ok with the run's credentials accepted:\n%s", out)
		}

		out, errOut, code = tor.Run(t, 60*time.Second, env, bin, "check", "-p", "tor", "--target", torInvalidOnion+":80")
		t.Logf("chainrun check -p tor --target %s:80: exit %d\n%s%s", torInvalidOnion, code, out, errOut)
		if code != exitCheckFailed {
			t.Errorf("exit %d, want %d", code, exitCheckFailed)
		}
		if !regexp.MustCompile(`(?m)^target +` + regexp.QuoteMeta(torInvalidOnion) + `:80 +FAILED +\d+\.\dms +hop 1 \(socks5h://127\.0\.0\.1:9050\): socks5: onion service invalid address \(Tor extended error 0xf6\) -> EINVAL$`).MatchString(out) {
			t.Errorf("the target line does not show tor's 0xF6 in words:\n%s", out)
		}
	})
}

// TestIsolationCredentials counts the usernames a last hop sees under
// each --isolate mode, for a command that makes 4 connections from 2
// processes to 2 destinations. Tor does not show them: a recording SOCKS5
// server (any credentials accepted, every CONNECT refused) does.
func TestIsolationCredentials(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests are not short")
	}
	ns := testnet.LoopbackNS(t, "iso")
	rec := testnet.StartRecordingSOCKS5(t, ns, "127.0.0.1:1080")
	bin := buildChainrun(t)
	env := torEnv(t)
	// Two curl processes, each to two destinations (IP literals: no
	// lookups, one address each, one connect each).
	script := "curl -s --max-time 5 http://10.1.0.1/ http://10.1.0.2/; curl -s --max-time 5 http://10.1.0.1/ http://10.1.0.2/; true"
	runIDs := map[string]string{}
	for _, c := range []struct {
		mode    string
		users   int    // distinct usernames
		pattern string // every username's form
	}{
		{"none", 0, ""},
		{"run", 1, `^chainrun-[0-9a-f]+$`},
		{"process", 2, `^chainrun-[0-9a-f]+-p\d+$`},
		{"connection", 4, `^chainrun-[0-9a-f]+-c\d+$`},
		{"destination", 2, `^chainrun-[0-9a-f]+-d[0-9a-f]+$`},
	} {
		t.Run(c.mode, func(t *testing.T) {
			before := len(rec.Records())
			_, errOut, code := testnet.RunIn(t, 60*time.Second, ns, env,
				bin, "-x", "socks5://127.0.0.1:1080", "--isolate", c.mode, "sh", "-c", script)
			if code != 0 {
				t.Errorf("exit %d:\n%s", code, errOut)
			}
			if !rec.Wait(before+4, 5*time.Second) {
				t.Fatalf("the hop saw %d connections, want 4:\n%v", len(rec.Records())-before, rec.Records()[before:])
			}
			time.Sleep(100 * time.Millisecond) // a fifth would show now
			recs := rec.Records()[before:]
			users := map[string]bool{}
			targets := map[string]int{}
			for _, r := range recs {
				t.Logf("%v", r)
				if r.Err != "" || r.Command != 1 {
					t.Errorf("the exchange did not end with a CONNECT: %v", r)
				}
				targets[r.Target]++
				if c.mode == "none" {
					if r.UserPass || string(r.Methods) != "\x00" {
						t.Errorf("--isolate none offered %v", r)
					}
					continue
				}
				if !r.UserPass || !regexp.MustCompile(c.pattern).MatchString(r.User) {
					t.Errorf("username %q (user/pass %v), want one like %s", r.User, r.UserPass, c.pattern)
				}
				users[r.User] = true
				runIDs[c.mode] = strings.SplitN(r.User, "-", 3)[1]
			}
			if len(recs) != 4 || targets["10.1.0.1:80"] != 2 || targets["10.1.0.2:80"] != 2 {
				t.Errorf("connections %v, want 2 to each destination", targets)
			}
			if len(users) != c.users {
				t.Errorf("%d distinct usernames %v, want %d", len(users), slices.Sorted(maps.Keys(users)), c.users)
			}
		})
	}
	// Every run has an identity of its own.
	if len(runIDs) == 4 && (runIDs["run"] == runIDs["process"] || runIDs["process"] == runIDs["connection"]) {
		t.Errorf("two runs share an identity: %v", runIDs)
	}
}
