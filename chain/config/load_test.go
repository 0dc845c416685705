package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chainrun/chainrun/chain"
)

// TestExampleConfig keeps the documented top-level proxychains.toml valid.
func TestExampleConfig(t *testing.T) {
	t.Setenv("CORP_PROXY_PASSWORD", "from-env")
	defer func() {
		// Without the variable, the file still loads: only corp needs it.
		os.Unsetenv("CORP_PROXY_PASSWORD")
		cfg, err := Load("../../proxychains.toml")
		if err != nil {
			t.Fatalf("without CORP_PROXY_PASSWORD: %v", err)
		}
		if _, err := cfg.Select("", "", "curl"); err != nil {
			t.Errorf("default profile without CORP_PROXY_PASSWORD: %v", err)
		}
	}()
	cfg, err := Load("../../proxychains.toml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DefaultProfile != "local" || strings.Join(cfg.Order, ",") != "local,corp,tor,git" {
		t.Fatalf("default %q order %v", cfg.DefaultProfile, cfg.Order)
	}
	corp := cfg.Profiles["corp"]
	if got := chain.Route(corp.Chain).String(); got != "http://alice:***@proxy.corp.example:3128 -> socks4a://10.0.0.5:1080" {
		t.Errorf("corp chain %s", got)
	}
	if corp.Chain[0].Auth.Password != "from-env" {
		t.Errorf("password_env not applied")
	}
	if corp.ConnectTimeout != 10*time.Second || corp.ReadTimeout != 15*time.Second || corp.Timeout != 30*time.Second || corp.ChainLen != 2 {
		t.Errorf("timeouts %v %v %v len %d", corp.ConnectTimeout, corp.ReadTimeout, corp.Timeout, corp.ChainLen)
	}
	if len(corp.Direct) != 5 || len(corp.Block) != 1 || len(corp.Rules) != 2 || len(corp.DNAT) != 1 {
		t.Errorf("direct %d block %d rules %d dnat %d", len(corp.Direct), len(corp.Block), len(corp.Rules), len(corp.DNAT))
	}
	if corp.Sources["mode"] != "proxychains.toml: profiles.corp.mode" || corp.Sources["dns"] == "" {
		t.Errorf("sources %v", corp.Sources)
	}
}

func write(t *testing.T, name, text string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

const base = `
[proxies]
jump = "socks4a://10.0.0.5:1080"
a = "socks5://10.77.0.1:1080"
`

// TestValidationErrors: every kind of mistake names file:line:col, the key
// and what is wrong, with a suggestion for typos.
func TestValidationErrors(t *testing.T) {
	cases := []struct {
		name, text, want string
	}{
		{"unknown proxy", base + "[profiles.corp]\nchain = [\"jmp\"]\n",
			`proxychains.toml:6:10: profiles.corp.chain: unknown proxy "jmp" (did you mean "jump"?)`},
		{"unknown key", base + "[profiles.corp]\nchian = [\"a\"]\n",
			`proxychains.toml:6:1: profiles.corp.chian: unknown key (did you mean "chain"?)`},
		{"unknown top key", "defualt_profile = \"x\"\n" + base,
			`proxychains.toml:1:1: defualt_profile: unknown key (did you mean "default_profile"?)`},
		{"bad URL", "[proxies]\nx = \"ftp://h:1\"\n[profiles.p]\nchain=[\"x\"]\n",
			`proxychains.toml:2:1: proxies.x: proxy "ftp://h:1": unsupported scheme "ftp"`},
		{"bad mode", base + "[profiles.p]\nchain=[\"a\"]\nmode = \"zigzag\"\n",
			`proxychains.toml:7:8: profiles.p.mode: unknown chain mode "zigzag"`},
		{"bad duration", base + "[profiles.p]\nchain=[\"a\"]\nread_timeout = \"4\"\n",
			`proxychains.toml:7:16: profiles.p.read_timeout: "4" is not a positive duration`},
		{"bad CIDR", base + "[profiles.p]\nchain=[\"a\"]\ndirect = [\"10.0.0.0/33\"]\n",
			`proxychains.toml:7:11: profiles.p.direct:`},
		{"chain_len too long", base + "[profiles.p]\nchain=[\"a\"]\nchain_len = 3\n",
			`proxychains.toml:7:1: profiles.p.chain_len: chain_len 3: want 1 to 1`},
		{"no chain", base + "[profiles.p]\nmode = \"strict\"\n",
			`proxychains.toml:5:1: profiles.p: no chain`},
		{"bad dns", base + "[profiles.p]\nchain=[\"a\"]\ndns = \"proxy\"\n",
			`proxychains.toml:7:7: profiles.p.dns: dns "proxy": want "remote", "local", "tunnel" or "tor-resolve"`},
		{"udp proxy not yet", base + "[profiles.p]\nchain=[\"a\"]\nudp = \"proxy\"\n",
			`proxychains.toml:7:7: profiles.p.udp: udp = "proxy" (UDP through SOCKS5 UDP ASSOCIATE) is not in this version`},
		{"bad udp", base + "[profiles.p]\nchain=[\"a\"]\nudp = \"drop\"\n",
			`proxychains.toml:7:7: profiles.p.udp: udp "drop": want "block" or "direct"`},
		{"bad leaks", base + "[profiles.p]\nchain=[\"a\"]\nleaks = \"yes\"\n",
			`proxychains.toml:7:9: profiles.p.leaks: leaks "yes": want "block" or "allow"`},
		{"bad isolate", base + "[profiles.p]\nchain=[\"a\"]\nisolate = \"tab\"\n",
			`proxychains.toml:7:11: profiles.p.isolate: isolate "tab": want "none", "run", "process", "connection" or "destination"`},
		{"tunnel without server", base + "[profiles.p]\nchain=[\"a\"]\ndns = \"tunnel\"\n",
			`proxychains.toml:7:7: profiles.p.dns: dns = "tunnel" needs dns_server`},
		{"bad dns_server", base + "[profiles.p]\nchain=[\"a\"]\ndns_server = \"ns.example\"\n",
			`proxychains.toml:7:14: profiles.p.dns_server: dns_server "ns.example": want an IP address`},
		{"fake_ipv4 too small", base + "[profiles.p]\nchain=[\"a\"]\nfake_ipv4 = \"198.18.0.0/30\"\n",
			`proxychains.toml:7:13: profiles.p.fake_ipv4: fake_ipv4 "198.18.0.0/30": want an IPv4 prefix of at least 16 addresses`},
		{"fake_ipv6 not v6", base + "[profiles.p]\nchain=[\"a\"]\nfake_ipv6 = \"198.18.0.0/15\"\n",
			`proxychains.toml:7:13: profiles.p.fake_ipv6: fake_ipv6 "198.18.0.0/15": want an IPv6 prefix`},
		{"unknown default profile", "default_profile = \"crop\"\n" + base + "[profiles.corp]\nchain=[\"a\"]\n",
			`proxychains.toml:1:19: default_profile: unknown profile "crop" (did you mean "corp"?)`},
		{"second rule unknown proxy", base + "[profiles.p]\nchain=[\"a\"]\n[[profiles.p.rules]]\nmatch=[\"*.x.example\"]\nchain=[\"a\"]\n[[profiles.p.rules]]\nmatch=[\"1.2.3.4\"]\nchain=[\"jum\"]\n",
			`proxychains.toml:12:8: profiles.p.rules[1].chain: unknown proxy "jum" (did you mean "jump"?)`},
		{"rule with action and chain", base + "[profiles.p]\nchain=[\"a\"]\n[[profiles.p.rules]]\nmatch=[\":25\"]\naction=\"block\"\nchain=[\"a\"]\n",
			`profiles.p.rules[0].chain: action "block" takes no chain`},
		{"bad dnat", base + "[profiles.p]\nchain=[\"a\"]\n[[profiles.p.dnat]]\nfrom=\"1.2.3\"\nto=\"1.2.3.4\"\n",
			`profiles.p.dnat[0].from: "1.2.3": want IP or IP:PORT`},
		{"auth for unknown proxy", base + "[proxies_auth.jmp]\npassword_env=\"X\"\n[profiles.p]\nchain=[\"a\"]\n",
			`proxychains.toml:5:1: proxies_auth.jmp: no proxy named "jmp" in [proxies] (did you mean "jump"?)`},
		{"syntax", "[proxies\n", `proxychains.toml:2:9: expected`},
		{"command with a path", base + "[profiles.p]\nchain=[\"a\"]\ncommands=[\"/usr/bin/git\"]\n",
			`profiles.p.commands: "/usr/bin/git": a command is a program's base name`},
		{"no profiles", base, `proxychains.toml: no profile`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(write(t, "proxychains.toml", c.text, 0o600))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.HasPrefix(err.Error(), c.want) && !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error\n %s\nwant it to start with or contain\n %s", err, c.want)
			}
		})
	}
}

func TestCredentials(t *testing.T) {
	secret := write(t, "secret", "pw-from-file\n", 0o600)
	text := `
[proxies]
e = "http://alice@10.0.0.1:3128"
f = "socks5://bob@10.0.0.2:1080"
inline = "socks5://carol:inline-pw@10.0.0.3:1080"
[proxies_auth.e]
password_env = "CHAINRUN_TEST_PW"
[proxies_auth.f]
password_file = "` + secret + `"
[profiles.p]
chain = ["e", "f", "inline"]
`
	t.Setenv("CHAINRUN_TEST_PW", "pw-from-env")
	private := write(t, "private.toml", text, 0o600)
	cfg, err := Load(private)
	if err != nil {
		t.Fatal(err)
	}
	hops := cfg.Profiles["p"].Chain
	if hops[0].Auth.Password != "pw-from-env" || hops[1].Auth.Password != "pw-from-file" {
		t.Fatalf("passwords %q %q", hops[0].Auth.Password, hops[1].Auth.Password)
	}
	if s := chain.Route(hops).String(); strings.Contains(s, "pw-") {
		t.Fatalf("a password is printed: %s", s)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("warnings for a private file: %v", cfg.Warnings)
	}
	shared := write(t, "shared.toml", text, 0o644)
	cfg, err = Load(shared)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], "other users can read it") {
		t.Errorf("no warning for a world-readable file with a password: %v", cfg.Warnings)
	}
	// An unset password_env stops only a run whose profile needs it.
	os.Unsetenv("CHAINRUN_TEST_PW")
	cfg, err = Load(write(t, "two.toml", text+"[profiles.other]\nchain = [\"inline\"]\n", 0o600))
	if err != nil {
		t.Fatalf("an unset password_env stopped the whole file: %v", err)
	}
	if len(cfg.Unusable) != 1 || !strings.Contains(cfg.Unusable[0], "CHAINRUN_TEST_PW is not set") {
		t.Errorf("unusable %v", cfg.Unusable)
	}
	if _, err := cfg.Select("other", "", "x"); err != nil {
		t.Errorf("a profile without that proxy: %v", err)
	}
	if _, err := cfg.Select("p", "", "x"); err == nil || !strings.Contains(err.Error(), "proxies_auth.e.password_env: the environment variable CHAINRUN_TEST_PW is not set") {
		t.Errorf("the profile that needs it: %v", err)
	}
}

const profilesText = `
default_profile = "main"
[proxies]
a = "socks5://10.77.0.1:1080"
b = "socks5://10.77.0.1:1086"
[profiles.main]
chain = ["a"]
[profiles.web]
chain = ["b"]
commands = ["curl", "wget"]
[profiles.also-curl]
chain = ["a"]
commands = ["curl"]
`

func TestSelect(t *testing.T) {
	cfg, err := Parse("p.toml", []byte(profilesText))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		flag, env, argv0 string
		want, why        string
	}{
		{"", "", "/usr/bin/curl", "web", "commands of profile web"},
		{"", "", "wget", "web", "commands of profile web"},
		{"", "", "git", "main", "default_profile"},
		{"", "web", "git", "web", "$CHAINRUN_PROFILE"},
		{"main", "web", "curl", "main", "-p"},
	}
	for _, c := range cases {
		sel, err := cfg.Select(c.flag, c.env, c.argv0)
		if err != nil || sel.Profile.Name != c.want || sel.Why != c.why {
			t.Errorf("Select(%q,%q,%q) = %v %q, %v; want %s %q", c.flag, c.env, c.argv0, sel.Profile, sel.Why, err, c.want, c.why)
		}
	}
	if _, err := cfg.Select("wbe", "", "x"); err == nil || !strings.Contains(err.Error(), `did you mean "web"`) {
		t.Errorf("unknown -p: %v", err)
	}
	one, _ := Parse("one.toml", []byte("[proxies]\na=\"socks5://h:1\"\n[profiles.only]\nchain=[\"a\"]\n"))
	if sel, err := one.Select("", "", "x"); err != nil || sel.Why != "the only profile" {
		t.Errorf("single profile: %v %v", sel, err)
	}
	two, _ := Parse("two.toml", []byte("[proxies]\na=\"socks5://h:1\"\n[profiles.x]\nchain=[\"a\"]\n[profiles.y]\nchain=[\"a\"]\n"))
	if _, err := two.Select("", "", "prog"); err == nil || !strings.Contains(err.Error(), "no profile for prog") {
		t.Errorf("no default: %v", err)
	}
}

func TestRouterPrecedenceAndOverrides(t *testing.T) {
	text := `
[proxies]
a = "socks5://10.77.0.1:1080"
b = "socks5://10.77.0.1:1086"
c = "http://10.77.0.1:3128"
[profiles.p]
chain = ["a", "b"]
mode = "dynamic"
read_timeout = "3s"
direct = ["127.0.0.0/8", "10.0.0.0/8"]
block = ["10.9.9.9/32", "169.254.169.254"]
[[profiles.p.rules]]
match = ["10.1.0.0/16:443"]
chain = ["c"]
[[profiles.p.rules]]
match = ["10.2.0.0/16"]
action = "block"
[[profiles.p.dnat]]
from = "192.0.2.1:80"
to = "198.51.100.7:8080"
[[profiles.p.dnat]]
from = "192.0.2.2"
to = "198.51.100.8"
`
	cfg, err := Parse("p.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Profiles["p"]
	r := p.Router(Overrides{})
	cases := []struct {
		dst    string
		action chain.Action
		rule   string
		route  string
	}{
		{"10.9.9.9:80", chain.ActionBlock, "block", ""},        // block beats direct
		{"169.254.169.254:80", chain.ActionBlock, "block", ""}, // a plain IP
		{"10.1.2.3:443", chain.ActionDirect, "direct", ""},     // direct beats rules
		{"127.0.0.1:22", chain.ActionDirect, "direct", ""},
		{"192.0.2.5:443", chain.ActionProxy, "default", "socks5://10.77.0.1:1080 -> socks5://10.77.0.1:1086"},
	}
	for _, c := range cases {
		ap := netip.MustParseAddrPort(c.dst)
		d := r.Decide(chain.Destination{Addr: ap.Addr(), Port: ap.Port()})
		if d.Action != c.action || d.Rule != c.rule || (c.route != "" && chain.Route(d.Dialer.Chain).String() != c.route) {
			t.Errorf("%s: %v %s; want %v %s %s", c.dst, d.Action, d.Rule, c.action, c.rule, c.route)
		}
	}
	// Rules come after direct; a profile without that direct entry uses them.
	p.Direct = nil
	r = p.Router(Overrides{})
	for dst, want := range map[string]string{"10.1.2.3:443": "rules[0]", "10.1.2.3:80": "default", "10.2.0.1:80": "rules[1]"} {
		ap := netip.MustParseAddrPort(dst)
		if d := r.Decide(chain.Destination{Addr: ap.Addr(), Port: ap.Port()}); d.Rule != want {
			t.Errorf("%s: rule %s, want %s", dst, d.Rule, want)
		}
	}
	d := r.Decide(chain.Destination{Addr: netip.MustParseAddr("10.1.2.3"), Port: 443})
	if d.Dialer.Mode != chain.Dynamic || d.Dialer.ReadTimeout != 3*time.Second || d.Dialer.Chain[0].Scheme != chain.HTTP {
		t.Errorf("rule dialer %+v", d.Dialer)
	}
	// -x replaces the chain; --chain and timeouts override.
	x, _ := chain.ParseProxy("socks5://10.77.0.9:1080")
	strict := chain.Strict
	r = p.Router(Overrides{Chain: []*chain.Proxy{x}, Mode: &strict, ReadTimeout: time.Second})
	if r.Default.Chain[0] != x || r.Default.Mode != chain.Strict || r.Default.ReadTimeout != time.Second {
		t.Errorf("overrides not applied: %+v", r.Default)
	}
	for in, want := range map[string]string{
		"192.0.2.1:80":          "198.51.100.7:8080",
		"192.0.2.1:81":          "192.0.2.1:81",
		"192.0.2.2:443":         "198.51.100.8:443",
		"[::ffff:192.0.2.2]:22": "198.51.100.8:22",
	} {
		if got := p.Rewrite(netip.MustParseAddrPort(in)); got.String() != want {
			t.Errorf("Rewrite(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if p, err := Find("", getenv); err != nil || p != "" {
		t.Fatalf("nothing there: %q %v", p, err)
	}
	xdg := filepath.Join(dir, "xdg")
	os.MkdirAll(filepath.Join(xdg, "chainrun"), 0o700)
	os.WriteFile(filepath.Join(xdg, "chainrun", "proxychains.toml"), nil, 0o600)
	env["XDG_CONFIG_HOME"] = xdg
	if p, _ := Find("", getenv); p != filepath.Join(xdg, "chainrun", "proxychains.toml") {
		t.Errorf("xdg: %q", p)
	}
	os.WriteFile("proxychains.toml", nil, 0o600)
	if p, _ := Find("", getenv); p != "proxychains.toml" {
		t.Errorf("cwd: %q", p)
	}
	env["CHAINRUN_CONFIG"] = "/env/path.toml"
	if p, _ := Find("", getenv); p != "/env/path.toml" {
		t.Errorf("env: %q", p)
	}
	if p, _ := Find("/flag/path", getenv); p != "/flag/path" {
		t.Errorf("flag: %q", p)
	}
}
