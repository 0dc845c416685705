package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/chainrun/chainrun/chain"
)

const pcTestdata = "testdata/proxychains"

// pcCase is what one file of testdata/proxychains must give.
type pcCase struct {
	file string
	// On success: the URLs of p1, p2, … and the profile (its Chain is
	// filled in from urls).
	urls    []string
	profile ProfileFile
	warns   []string
	// On failure: the whole error.
	err string
}

func pcProfile(mode string, chainLen int, connect, read, dns string) ProfileFile {
	return ProfileFile{Mode: mode, ChainLen: chainLen, ConnectTimeout: connect, ReadTimeout: read, DNS: dns}
}

var pcCases = []pcCase{
	{
		file:    "debian-proxychains4.conf",
		urls:    []string{"socks4a://127.0.0.1:9050"},
		profile: pcProfile("strict", 0, "8000ms", "15000ms", "remote"),
		warns:   []string{`debian-proxychains4.conf:89: remote_dns_subnet 224: chainrun hands out fake addresses for remote DNS from its own reserved range (ignored)`},
	},
	{
		file:    "strict.conf",
		urls:    []string{"socks5://192.168.67.78:1080", "http://192.168.89.3:8080"},
		profile: pcProfile("strict", 0, "8000ms", "15000ms", "local"),
	},
	{
		file:    "dynamic.conf",
		urls:    []string{"socks5://10.0.0.1:1080", "socks4://10.0.0.2:1080"},
		profile: pcProfile("dynamic", 0, "10000ms", "4000ms", "local"),
		warns:   []string{`dynamic.conf:3: chain_len applies to random_chain and round_robin_chain only (ignored, as proxychains does)`},
	},
	{
		file:    "random.conf",
		urls:    []string{"socks5h://10.0.0.1:1080", "socks5h://10.0.0.2:1080", "socks5h://10.0.0.3:1080"},
		profile: pcProfile("random", 2, "10000ms", "4000ms", "remote"),
	},
	{
		file:    "round-robin.conf",
		urls:    []string{"socks5://10.0.0.1:1080", "socks5://10.0.0.2:1080", "socks5://10.0.0.3:1080", "socks5://10.0.0.4:1080"},
		profile: pcProfile("round-robin", 3, "10000ms", "4000ms", "local"),
	},
	{
		file:    "default-mode.conf",
		urls:    []string{"http://127.0.0.1:3128"},
		profile: pcProfile("dynamic", 0, "10000ms", "4000ms", "local"),
	},
	{
		file:    "random-default-len.conf",
		urls:    []string{"socks5://10.0.0.1:1080", "socks5://10.0.0.2:1080"},
		profile: pcProfile("random", 1, "10000ms", "4000ms", "local"),
	},
	{
		file: "localnet.conf",
		urls: []string{"socks5://127.0.0.1:1080"},
		profile: func() ProfileFile {
			p := pcProfile("strict", 0, "10000ms", "4000ms", "local")
			p.Direct = []string{
				"127.0.0.0/8", "10.0.0.0/8", "192.168.1.0/24:80", "0.0.0.0/0:80", "172.16.0.0/12", "10.1.2.3/32",
				"::1/128", "fd00::/8", "fe80::/10", "[::/0]:80", "[2001:db8::/64]:443",
			}
			return p
		}(),
	},
	{
		file: "dnat.conf",
		urls: []string{"socks5://127.0.0.1:1080"},
		profile: func() ProfileFile {
			p := pcProfile("strict", 0, "10000ms", "4000ms", "local")
			p.DNAT = []DNATFile{
				{From: "1.1.1.1:1234", To: "1.1.1.2:443"},
				{From: "1.1.1.2:443", To: "1.1.1.2"},
				{From: "1.1.1.1", To: "1.1.1.2:443"},
				{From: "1.1.1.1", To: "1.1.1.2"},
			}
			return p
		}(),
	},
	{
		file: "url-proxies.conf",
		urls: []string{
			"socks5://127.0.0.1:1080",
			"socks5://alice:s3cret@10.0.0.1:1080",
			"socks4://10.0.0.2:1080",
			"http://bob:p%40ss%3Aw%2Frd@10.0.0.3:8080",
			"http://proxy.example.com:3128",
		},
		profile: pcProfile("strict", 0, "10000ms", "4000ms", "local"),
	},
	{
		file: "auth.conf",
		urls: []string{
			"socks5://lamer:secret@192.168.67.78:1080",
			"http://justu:hidden@192.168.89.3:8080",
			"socks5://us%25er:p%40ss%3Aw%2Frd%23%3F@10.0.0.1:1080",
			"socks5://onlyuser@10.0.0.2:1080",
			"socks4://ident@10.0.0.3:1080",
			"http://a:b%3Ac@10.0.0.4:8080",
		},
		profile: pcProfile("strict", 0, "10000ms", "4000ms", "local"),
		warns:   []string{`auth.conf:12: socks4 sends only the user name (as its USERID): the password is ignored, as in proxychains`},
	},
	{
		file: "quiet.conf",
		urls: []string{"socks5://127.0.0.1:9050"},
		profile: func() ProfileFile {
			p := pcProfile("strict", 0, "10000ms", "4000ms", "local")
			p.Quiet = true
			return p
		}(),
	},
	{
		file:    "dns-local.conf",
		urls:    []string{"socks4://127.0.0.1:9050", "socks5://127.0.0.1:9051"},
		profile: pcProfile("strict", 0, "10000ms", "4000ms", "local"),
	},
	{
		file:    "dns-old.conf",
		urls:    []string{"socks4a://127.0.0.1:9050"},
		profile: pcProfile("strict", 0, "10000ms", "4000ms", "remote"),
		warns:   []string{`dns-old.conf:2: proxy_dns_old: chainrun resolves names through the proxies with its own remote DNS (dns = "remote"), not with proxyresolv`},
	},
	{
		file:    "dns-daemon.conf",
		urls:    []string{"socks5h://127.0.0.1:9050"},
		profile: pcProfile("strict", 0, "10000ms", "4000ms", "remote"),
		warns: []string{
			`dns-daemon.conf:2: proxy_dns_daemon 127.0.0.1:1053: chainrun resolves names through the proxies with its own remote DNS (dns = "remote"); proxychains4-daemon is not used`,
			`dns-daemon.conf:3: remote_dns_subnet 10: chainrun hands out fake addresses for remote DNS from its own reserved range (ignored)`,
		},
	},
	{
		file:    "hosts.conf",
		urls:    []string{"socks5h://[::1]:1080", "socks4://proxy.example.com:1080", "http://[2001:db8::8]:3128", "socks5://gw-2.example.net:1080"},
		profile: pcProfile("strict", 0, "10000ms", "4000ms", "local"),
	},
	{
		file:    "unknown.conf",
		urls:    []string{"socks5://%23:tor@127.0.0.1:9050", "socks5://user:pass@127.0.0.1:9051"},
		profile: pcProfile("strict", 0, "10000ms", "9000ms", "local"),
		warns: []string{
			`unknown.conf:3: unknown directive "bogus_directive" (ignored)`,
			`unknown.conf:4: unknown directive "stict_chain" (ignored) (did you mean "strict_chain"?)`,
			`unknown.conf:5: random_chain takes no value; proxychains ignores the whole line, and so does chainrun`,
			`unknown.conf:6: proxy "socks5" before [ProxyList] (ignored, as proxychains does)`,
			`unknown.conf:7: tcp_read_time_out: extra text "ms" (ignored)`,
			`unknown.conf:8: unknown directive "[proxylist]" (ignored) (did you mean "[ProxyList]"?)`,
			`unknown.conf:11: a '#' starts a comment only at the start of a line: proxychains reads "#" as the proxy's user name, and so does chainrun`,
			`unknown.conf:12: proxy: extra text "extra words" after the password (ignored)`,
		},
	},
	{
		file:    "whitespace.conf",
		urls:    []string{"socks5://127.0.0.1:1080"},
		profile: pcProfile("strict", 0, "5000ms", "4000ms", "local"),
	},

	{file: "bad-port.conf", err: `bad-port.conf:3: bad port "70000" (want 1 to 65535)`},
	{file: "bad-port-zero.conf", err: `bad-port-zero.conf:4: bad port "0" (want 1 to 65535)`},
	{file: "bad-missing-fields.conf", err: `bad-missing-fields.conf:3: want "TYPE HOST PORT [USER PASS]" or a URL, e.g. socks5 127.0.0.1 1080 or socks5://127.0.0.1:1080`},
	{file: "bad-ip.conf", err: `bad-ip.conf:3: bad IPv4 address "1.2.3.256"`},
	{file: "bad-ipv6.conf", err: `bad-ipv6.conf:3: bad IPv6 address "fe80::1%eth0"`},
	{file: "bad-type.conf", err: `bad-type.conf:3: unknown proxy type "SOCKS5" (want socks4, socks5 or http); proxychains takes "socks5" in lower case`},
	{file: "bad-raw.conf", err: `bad-raw.conf:3: raw proxy 10.0.0.1:8080: chainrun has no raw hop (a bare TCP connect to a forwarder); if 10.0.0.1 forwards to the next proxy, list that proxy with this address instead`},
	{file: "bad-empty-proxylist.conf", err: `bad-empty-proxylist.conf:4: [ProxyList] lists no proxy`},
	{file: "bad-no-proxylist.conf", err: `bad-no-proxylist.conf: no [ProxyList] section: this is not a proxychains.conf chainrun can use`},
	{file: "bad-localnet-mask.conf", err: `bad-localnet-mask.conf:2: localnet 10.0.0.0/255.0.255.0: netmask 255.0.255.0 is not contiguous; chainrun takes address ranges as prefixes (e.g. /16)`},
	{file: "bad-localnet-prefix.conf", err: `bad-localnet-prefix.conf:2: localnet 10.0.0.0/33: bad netmask "33" (want a prefix length from 0 to 32)`},
	{file: "bad-localnet-addr.conf", err: `bad-localnet-addr.conf:2: localnet 10.0.0/8: bad IPv4 address "10.0.0"`},
	{file: "bad-localnet-port.conf", err: `bad-localnet-port.conf:2: localnet 10.0.0.0:http/8: bad port "http" (want 1 to 65535)`},
	{file: "bad-localnet-format.conf", err: `bad-localnet-format.conf:2: localnet 10.0.0.0: want ADDRESS[:PORT]/MASK, e.g. 192.168.0.0/255.255.0.0, 10.0.0.0:80/8 or [fd00::]:443/8`},
	{file: "bad-dnat.conf", err: `bad-dnat.conf:2: dnat: want "dnat FROM TO", each IPv4 or IPv4:PORT, e.g. dnat 1.1.1.1:1234 1.1.1.2:443`},
	{file: "bad-dnat-v6.conf", err: `bad-dnat-v6.conf:2: dnat [::1]:80: want IPv4 or IPv4:PORT (proxychains' dnat takes IPv4 only)`},
	{file: "bad-chain-len-equals.conf", err: `bad-chain-len-equals.conf:2: chain_len: missing '=' (write chain_len = N; proxychains refuses this line too)`},
	{file: "bad-chain-len-long.conf", err: `bad-chain-len-long.conf:2: chain_len 3: the [ProxyList] has only 2 proxies`},
	{file: "bad-timeout.conf", err: `bad-timeout.conf:2: tcp_read_time_out "15s": want a positive number of milliseconds`},
	{file: "bad-directive-in-list.conf", err: `bad-directive-in-list.conf:3: proxy_dns after [ProxyList]: proxychains reads every line there as a proxy; move it above [ProxyList]`},
	{file: "bad-url-no-pass.conf", err: `bad-url-no-pass.conf:3: proxy URL: want user:password@ before the host (proxychains needs both)`},
	{file: "bad-url-scheme.conf", err: `bad-url-scheme.conf:3: proxy URL scheme "socks5h": proxychains takes socks4://, socks5:// and http://`},
	{file: "bad-url-socks4-auth.conf", err: `bad-url-socks4-auth.conf:3: a socks4:// proxy URL takes no user:password@ (proxychains refuses it)`},
	{file: "bad-remote-dns-subnet.conf", err: `bad-remote-dns-subnet.conf:2: remote_dns_subnet "256": want a number from 0 to 255`},
	{file: "bad-dns-daemon.conf", err: `bad-dns-daemon.conf:1: proxy_dns_daemon "localhost:1053": want IPv4:PORT, e.g. 127.0.0.1:1053`},
}

func readPC(t testing.TB, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(pcTestdata, file))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseProxychainsConf(t *testing.T) {
	for _, c := range pcCases {
		t.Run(c.file, func(t *testing.T) {
			f, warns, err := ParseProxychainsConf(c.file, readPC(t, c.file))
			if c.err != "" {
				var ce *Error
				if err == nil || err.Error() != c.err || !errors.As(err, &ce) {
					t.Fatalf("error:\n got %v\nwant %s (an *Error)", err, c.err)
				}
				if f != nil || warns != nil {
					t.Errorf("a failed parse returned %v, %v", f, warns)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var gotWarns []string
			for _, w := range warns {
				gotWarns = append(gotWarns, w.String())
			}
			if !slices.Equal(gotWarns, c.warns) {
				t.Errorf("warnings:\n got %q\nwant %q", gotWarns, c.warns)
			}
			want := &File{DefaultProfile: "proxychains", Proxies: map[string]string{}, Profiles: map[string]*ProfileFile{"proxychains": &c.profile}}
			c.profile.Chain = nil
			for i, u := range c.urls {
				name := fmt.Sprintf("p%d", i+1)
				want.Proxies[name] = u
				c.profile.Chain = append(c.profile.Chain, name)
			}
			if !reflect.DeepEqual(f, want) {
				t.Errorf("File:\n got %s\nwant %s", pcDump(f), pcDump(want))
			}
			checkPCFile(t, f)
		})
	}
}

// checkPCFile checks that what an import gives is valid for chainrun: every
// proxy URL and pattern parses, and the lead's validation takes the File.
func checkPCFile(t *testing.T, f *File) {
	t.Helper()
	for name, u := range f.Proxies {
		p, err := chain.ParseProxy(u)
		if err != nil {
			t.Errorf("proxy %s: %v", name, err)
			continue
		}
		if p.String() == "" {
			t.Errorf("proxy %s: empty String", name)
		}
	}
	pf := f.Profiles[ProxychainsProfile]
	for _, s := range pf.Direct {
		if _, err := chain.ParsePattern(s); err != nil {
			t.Errorf("direct: %v", err)
		}
	}
	if _, err := build("test.conf", "", f, nil); err != nil {
		t.Errorf("validating the import: %v", err)
	}
}

// TestParseProxychainsConfCredentials checks that user names and
// passwords survive the trip through a chainrun URL byte for byte.
func TestParseProxychainsConfCredentials(t *testing.T) {
	for _, c := range []struct {
		line, user, pass string
	}{
		{"socks5 1.2.3.4 1080 lamer secret", "lamer", "secret"},
		{"socks5 1.2.3.4 1080 us%er p@ss:w/rd#?", "us%er", "p@ss:w/rd#?"},
		{"socks5 1.2.3.4 1080 \xff\xfe é", "\xff\xfe", "é"},
		{"socks5://a@b:c:d@1.2.3.4:1080", "a@b", "c:d"},
		{"http://u:p@ss@1.2.3.4:8080", "u", "p@ss"},
		{"http 1.2.3.4 8080 a:b c", "a", "b:c"},
		{"http 1.2.3.4 8080 a: ", "a", ":"},
		{"socks4 1.2.3.4 1080 ident", "ident", ""},
	} {
		data := "strict_chain\n[ProxyList]\n" + c.line + "\n"
		f, _, err := ParseProxychainsConf("t.conf", []byte(data))
		if err != nil {
			t.Errorf("%q: %v", c.line, err)
			continue
		}
		p, err := chain.ParseProxy(f.Proxies["p1"])
		if err != nil {
			t.Errorf("%q: %s: %v", c.line, f.Proxies["p1"], err)
			continue
		}
		if p.Auth == nil || p.Auth.Username != c.user || p.Auth.Password != c.pass {
			t.Errorf("%q: auth %+v, want %q %q", c.line, p.Auth, c.user, c.pass)
		}
	}
}

// TestParseProxychainsConfLines checks single lines that need no file of
// their own.
func TestParseProxychainsConfLines(t *testing.T) {
	for _, c := range []struct {
		lines string
		err   string // "" for success
		check func(*File) bool
	}{
		{lines: "chain_len = 0\nrandom_chain", check: func(f *File) bool { return f.Profiles["proxychains"].ChainLen == 1 }},
		{lines: "chain_len =", err: "t.conf:1: chain_len: missing value"},
		{lines: "chain_len = -1", err: `t.conf:1: chain_len "-1": want a number of proxies`},
		{lines: "tcp_connect_time_out", err: "t.conf:1: tcp_connect_time_out: missing value (milliseconds, e.g. 8000)"},
		{lines: "tcp_connect_time_out 0", err: `t.conf:1: tcp_connect_time_out "0": want a positive number of milliseconds`},
		{lines: "localnet 10.0.0.0:/8", err: `t.conf:1: localnet 10.0.0.0:/8: bad port "" (want 1 to 65535)`},
		{lines: "localnet [::1]:0/128", err: `t.conf:1: localnet [::1]:0/128: bad port "0" (want 1 to 65535)`},
		{lines: "localnet [::1]x/128", err: `t.conf:1: localnet [::1]x/128: bad address "[::1]x": want [IPv6]:PORT`},
		{lines: "localnet [10.0.0.1]/32", err: `t.conf:1: localnet [10.0.0.1]/32: bad IPv6 address "10.0.0.1"`},
		{lines: "localnet ::1/255.255.255.255", err: `t.conf:1: localnet ::1/255.255.255.255: bad netmask "255.255.255.255" (want a prefix length from 0 to 128)`},
		{lines: "localnet 10.0.0.0/255.255.0.0 extra", err: "t.conf:1: localnet: want ADDRESS[:PORT]/MASK, e.g. 192.168.0.0/255.255.0.0, 10.0.0.0:80/8 or [fd00::]:443/8"},
		{lines: "dnat 1.1.1.1:0 1.1.1.2", err: `t.conf:1: dnat 1.1.1.1:0: bad port "0" (want 1 to 65535)`},
		{lines: "[ProxyList]\nsocks5 1.2.3.4 1080\n[ProxyList]", err: "t.conf:3: a second [ProxyList]"},
		{lines: "[ProxyList]\nsocks5 1.2.3.4 1080\nchain_len = 2", err: "t.conf:3: chain_len after [ProxyList]: proxychains reads every line there as a proxy; move it above [ProxyList]"},
		{lines: "[ProxyList]\nsocks5 bad_host! 1080", err: `t.conf:2: bad host "bad_host!": want an IP address or a host name`},
		{lines: "[ProxyList]\nsocks5 1.2.3.4 +80", err: `t.conf:2: bad port "+80" (want 1 to 65535)`},
		{lines: "[ProxyList]\nsocks5://[::1]:1080", err: `t.conf:2: proxy URL host "[": proxychains takes no IPv6 address in a URL; write "socks5 ADDRESS PORT"`},
		{lines: "[ProxyList]\nsocks5://1.2.3.4", err: "t.conf:2: proxy URL: no port (want socks5://host:port)"},
		{lines: "[ProxyList]\nsocks5://:1080", err: "t.conf:2: missing proxy host"},
		{lines: "[ProxyList]\nhttp 1.2.3.4 8080 :u p", err: "t.conf:2: an HTTP proxy user name cannot start with ':'"},
		{lines: "[ProxyList]\nsocks5 1.2.3.4 1080 " + strings.Repeat("u", 256), err: "t.conf:2: the proxy's user name is 256 bytes long; at most 255 are allowed"},
		{lines: "[ProxyList]\nsocks5://1.2.3.4:1080/", check: func(f *File) bool { return f.Proxies["p1"] == "socks5://1.2.3.4:1080" }},
		{lines: "[ProxyList]\nsocks5://:pw@1.2.3.4:1080", check: func(f *File) bool { return f.Proxies["p1"] == "socks5://1.2.3.4:1080" }},
		{lines: "[ProxyList]\nsocks5 ::ffff:1.2.3.4 1080", check: func(f *File) bool { return f.Proxies["p1"] == "socks5://[::ffff:1.2.3.4]:1080" }},
		{lines: "\ufeffstrict_chain\n[ProxyList]\nsocks5 1.2.3.4 1080", check: func(f *File) bool { return f.Profiles["proxychains"].Mode == "dynamic" }},
	} {
		data := c.lines
		if !strings.Contains(data, "[ProxyList]") {
			data += "\n[ProxyList]\nsocks5 1.2.3.4 1080\n"
		}
		f, _, err := ParseProxychainsConf("t.conf", []byte(data))
		switch {
		case c.err != "":
			if err == nil || err.Error() != c.err {
				t.Errorf("%q: error\n got %v\nwant %s", c.lines, err, c.err)
			}
		case err != nil:
			t.Errorf("%q: %v", c.lines, err)
		case !c.check(f):
			t.Errorf("%q: got %s", c.lines, pcDump(f))
		}
	}
}

func TestParseProxychainsConfMaxProxies(t *testing.T) {
	var b strings.Builder
	b.WriteString("[ProxyList]\n")
	for i := range 600 {
		fmt.Fprintf(&b, "socks5 10.0.%d.%d 1080\n", i/256, i%256)
	}
	b.WriteString("this line is never read\n")
	f, warns, err := ParseProxychainsConf("t.conf", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Proxies) != 512 || len(f.Profiles["proxychains"].Chain) != 512 {
		t.Errorf("%d proxies, want 512", len(f.Proxies))
	}
	if len(warns) != 1 || warns[0].Line != 514 {
		t.Errorf("warnings %v", warns)
	}
}

func TestWarningString(t *testing.T) {
	w := Warning{File: "proxychains4.conf", Line: 12, Msg: `unknown directive "foo" (ignored)`}
	if got, want := w.String(), `proxychains4.conf:12: unknown directive "foo" (ignored)`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	w.Line = 0
	if got, want := w.String(), `proxychains4.conf: unknown directive "foo" (ignored)`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestProxychainsTestdataCovered keeps pcCases and the directory in step.
func TestProxychainsTestdataCovered(t *testing.T) {
	confs, err := filepath.Glob(filepath.Join(pcTestdata, "*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, c := range pcCases {
		listed[c.file] = true
	}
	for _, p := range confs {
		if !listed[filepath.Base(p)] {
			t.Errorf("%s has no entry in pcCases", p)
		}
		delete(listed, filepath.Base(p))
	}
	for f := range listed {
		t.Errorf("pcCases lists %s, which is not in %s", f, pcTestdata)
	}
}

func TestLooksLikeProxychainsConf(t *testing.T) {
	for _, c := range pcCases {
		if !LooksLikeProxychainsConf(readPC(t, c.file)) {
			t.Errorf("%s: not recognised as a proxychains.conf", c.file)
		}
	}
	toml, err := os.ReadFile("../../proxychains.toml")
	if err != nil {
		t.Fatal(err)
	}
	if LooksLikeProxychainsConf(toml) {
		t.Error("../../proxychains.toml taken for a proxychains.conf")
	}
	for _, c := range []struct {
		text string
		want bool
	}{
		{"", false},
		{"# just a comment\n", false},
		{"[ProxyList]\n", true},
		{"  strict_chain  \n", true},
		{"proxy_dns\n", true},
		{"tcp_read_time_out 8000\n", true},
		{"localnet 10.0.0.0/8\n", true},
		// TOML that happens to use proxychains words.
		{"chain_len = 2\n", false},
		{"dnat = 1\n", false},
		{"[profiles.x]\nchain = [\"a\"]\ndnat = [{from = \"1.1.1.1\", to = \"1.1.1.2\"}]\n", false},
		// chainrun keys win even next to a proxychains-looking table.
		{"default_profile = \"x\"\n[ProxyList]\n", false},
		// Broken TOML with no proxychains line stays TOML, for its errors.
		{"[profiles.x]\nchain = [\n", false},
	} {
		if got := LooksLikeProxychainsConf([]byte(c.text)); got != c.want {
			t.Errorf("%q: %v, want %v", c.text, got, c.want)
		}
	}
}

// TestProxychainsParseViaLoad checks that the lead's Parse takes every good
// testdata file as a proxychains.conf.
func TestProxychainsParseViaLoad(t *testing.T) {
	for _, c := range pcCases {
		cfg, err := Parse(c.file, readPC(t, c.file))
		if c.err != "" {
			if err == nil {
				t.Errorf("%s: Parse accepted it", c.file)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.file, err)
			continue
		}
		if !cfg.Imported {
			t.Errorf("%s: not Imported", c.file)
		}
		for _, w := range c.warns {
			if !slices.Contains(cfg.Warnings, w) {
				t.Errorf("%s: warning %q missing from %q", c.file, w, cfg.Warnings)
			}
		}
	}
}

func FuzzParseProxychainsConf(f *testing.F) {
	for _, c := range pcCases {
		f.Add(readPC(f, c.file))
	}
	f.Add([]byte("[ProxyList]\nsocks5://a:b@c:1\n"))
	f.Add([]byte("localnet [::]:80/0\nlocalnet 0.0.0.0:80/0.0.0.0\n[ProxyList]\nhttp ::1 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		LooksLikeProxychainsConf(data)
		file, warns, err := ParseProxychainsConf("fuzz.conf", data)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), "fuzz.conf") {
				t.Fatalf("error %v is not an *Error naming the file", err)
			}
			return
		}
		lines := strings.Count(string(data), "\n") + 1
		for _, w := range warns {
			if w.Line < 1 || w.Line > lines {
				t.Fatalf("warning %s: line out of range", w)
			}
		}
		pf := file.Profiles[ProxychainsProfile]
		if pf == nil || file.DefaultProfile != ProxychainsProfile || len(pf.Chain) == 0 || len(pf.Chain) != len(file.Proxies) {
			t.Fatalf("bad File %s", pcDump(file))
		}
		for name, u := range file.Proxies {
			if _, err := chain.ParseProxy(u); err != nil {
				t.Fatalf("proxy %s = %q: %v", name, u, err)
			}
		}
		for _, s := range pf.Direct {
			if _, err := chain.ParsePattern(s); err != nil {
				t.Fatalf("direct %q: %v", s, err)
			}
		}
		text, err := Convert(file)
		if err != nil {
			t.Fatal(err)
		}
		back := decodeFile(t, text)
		if !reflect.DeepEqual(back, file) {
			t.Fatalf("round trip:\n got %s\nwant %s", pcDump(back), pcDump(file))
		}
	})
}

// pcDump shows a File with its profiles, for failure messages.
func pcDump(f *File) string {
	if f == nil {
		return "<nil>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%+v", *f)
	for _, name := range sortedKeys(f.Profiles) {
		fmt.Fprintf(&b, "\n  %s: %+v", name, f.Profiles[name])
	}
	return b.String()
}
