package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chainrun/chainrun/internal/testnet"
)

const (
	cfgHopA      = 1080
	cfgHopB      = 1086
	cfgLocalPort = 9000 // an HTTP server on the client's own loopback
)

// TestConfigEndToEnd: profiles picked by command name, -p and
// $CHAINRUN_PROFILE route programs through different hops; direct and
// block rules; -x over a profile; an imported proxychains.conf; config
// errors with their place.
func TestConfigEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests are not short")
	}
	tp := testnet.New(t)
	e := &e2e{tp: tp, bin: buildChainrun(t), progs: testnet.SharedPrograms()}
	tp.StartHTTPTarget(t, targetPort, 0)
	tp.StartMicrosocks(t, cfgHopA, "", "")
	tp.StartMicrosocks(t, cfgHopB, "", "")
	// A page only the client itself can reach: the proxy's 127.0.0.1 is
	// another host.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("client-local-page\n"), 0o644)
	local := net.JoinHostPort("127.0.0.1", strconv.Itoa(cfgLocalPort))
	tp.Start(t, tp.Client, e.progs.Path(t, "target"), "-dir", dir, "-listen", local)
	tp.WaitListen(t, tp.Client, local)

	hopA := "socks5://10.77.0.1:" + strconv.Itoa(cfgHopA)
	hopB := "socks5://10.77.0.1:" + strconv.Itoa(cfgHopB)
	conf := filepath.Join(t.TempDir(), "proxychains.toml")
	os.WriteFile(conf, []byte(`
default_profile = "via-a"
[proxies]
a = "`+hopA+`"
b = "`+hopB+`"
[profiles.via-a]
chain = ["a"]
direct = ["127.0.0.0/8"]
block = ["10.78.0.2:9"]
[profiles.via-b]
chain = ["b"]
commands = ["wget"]
`), 0o600)
	url := "http://" + e.target() + "/index.html"
	page := testnet.TargetPage
	run := func(t *testing.T, env []string, args ...string) (string, string, int) {
		t.Helper()
		return tp.Run(t, commandTimeout, tp.Client, env, append([]string{e.bin}, args...)...)
	}

	cases := []struct {
		name   string
		env    []string
		args   []string
		code   int
		stdout string
		stderr []string
	}{
		{"default profile", nil, []string{"-v", "-f", conf, "curl", "-sS", url}, 0, page,
			[]string{"profile via-a (default_profile", "via " + hopA + " ok"}},
		{"profile by command name", nil, []string{"-v", "-f", conf, "wget", "-qO-", url}, 0, page,
			[]string{"profile via-b (commands of profile via-b", "via " + hopB + " ok"}},
		{"-p", nil, []string{"-v", "-f", conf, "-p", "via-b", "curl", "-sS", url}, 0, page,
			[]string{"profile via-b (-p", "via " + hopB + " ok"}},
		{"--dns over the profile", nil, []string{"-v", "-f", conf, "--dns", "local", "curl", "-sS", url}, 0, page,
			[]string{"profile via-a (default_profile, " + conf + "; dns local)"}},
		{"$CHAINRUN_PROFILE", []string{"CHAINRUN_PROFILE=via-b"}, []string{"-v", "-f", conf, "curl", "-sS", url}, 0, page,
			[]string{"profile via-b ($CHAINRUN_PROFILE", "via " + hopB + " ok"}},
		{"$CHAINRUN_CONFIG", []string{"CHAINRUN_CONFIG=" + conf}, []string{"-v", "wget", "-qO-", url}, 0, page,
			[]string{"via " + hopB + " ok"}},
		{"-x replaces the profile's chain", nil, []string{"-v", "-f", conf, "-x", hopB, "curl", "-sS", url}, 0, page,
			[]string{"profile via-a", "via " + hopB + " ok"}},
		{"direct rule reaches the client's own loopback", nil, []string{"-v", "-f", conf, "curl", "-sS", "http://" + local + "/index.html"}, 0, "client-local-page",
			[]string{"direct (rule direct: 127.0.0.0/8)"}},
		{"without the direct rule the same page is out of reach", nil, []string{"-f", conf, "-p", "via-b", "curl", "-sS", "http://" + local + "/index.html"}, 7, "",
			nil},
		{"block rule", nil, []string{"-f", conf, e.progs.Path(t, "connect_block"), "10.78.0.2", "9"}, 3, "connect: ECONNREFUSED",
			[]string{"blocked by rule block (10.78.0.2:9)"}},
		{"a program another profile claims", nil, []string{"-v", "-f", conf, "sh", "-c", "wget -qO- " + url}, 0, page,
			[]string{"wget[", "runs under profile via-a, not via-b which claims it", "via " + hopA + " ok"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, code := run(t, c.env, c.args...)
			if code != c.code || !strings.Contains(out, c.stdout) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, c.code, out, errOut)
			}
			for _, w := range c.stderr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}

	t.Run("imported proxychains.conf", func(t *testing.T) {
		pc := filepath.Join(t.TempDir(), "proxychains4.conf")
		os.WriteFile(pc, []byte("strict_chain\nquiet_mode\ntcp_read_time_out 15000\ntcp_connect_time_out 8000\nlocalnet 127.0.0.0/255.0.0.0\n[ProxyList]\nsocks5 10.77.0.1 "+strconv.Itoa(cfgHopB)+"\n"), 0o644)
		out, errOut, code := run(t, nil, "-v", "-f", pc, "curl", "-sS", url)
		if code != 0 || !strings.Contains(out, page) || !strings.Contains(errOut, "via "+hopB+" ok") {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		out, errOut, code = run(t, nil, "-v", "-f", pc, "curl", "-sS", "http://"+local+"/index.html")
		if code != 0 || !strings.Contains(out, "client-local-page") || !strings.Contains(errOut, "direct (rule direct: 127.0.0.0/8)") {
			t.Fatalf("localnet: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
	})

	t.Run("a bad configuration names its place", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "proxychains.toml")
		os.WriteFile(bad, []byte("[proxies]\njump = \"socks5://10.77.0.1:1080\"\n[profiles.p]\nchain = [\"jmp\"]\n"), 0o600)
		_, errOut, code := run(t, nil, "-f", bad, "true")
		want := `proxychains.toml:4:10: profiles.p.chain: unknown proxy "jmp" (did you mean "jump"?)`
		if code != 125 || !strings.Contains(errOut, want) {
			t.Fatalf("exit %d, stderr %q; want 125 and %q", code, errOut, want)
		}
	})

	t.Run("config show and route", func(t *testing.T) {
		out, errOut, code := run(t, nil, "config", "show", "-f", conf, "wget")
		if code != 0 || !strings.Contains(out, "profile    via-b  (commands of profile via-b") || !strings.Contains(out, hopB) {
			t.Fatalf("show: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		for dst, want := range map[string]string{
			"10.78.0.2:8080": "via " + hopA + ", strict (no rule matches) [profile via-a]",
			"127.0.0.1:22":   "direct (rule direct matches 127.0.0.0/8)",
			"10.78.0.2:9":    "blocked (rule block matches 10.78.0.2:9)",
		} {
			out, errOut, code := run(t, nil, "route", "-f", conf, dst)
			if code != 0 || !strings.Contains(out, want) {
				t.Errorf("route %s: exit %d\nstdout: %s\nstderr: %s\nwant %q", dst, code, out, errOut, want)
			}
		}
		out, _, code = run(t, nil, "config", "check", "-f", conf)
		if code != 0 || !strings.Contains(out, "ok, 2 profile(s): via-a, via-b") {
			t.Errorf("check: exit %d %s", code, out)
		}
	})
}
