package chain

import (
	"strings"
	"testing"
)

func TestParseProxy(t *testing.T) {
	cases := []struct {
		in       string
		scheme   Scheme
		host     string
		port     uint16
		user     string
		pass     string
		str      string // String(): the password redacted
		firstHop string // the address Addrs gives for an IP literal
	}{
		{"socks5://127.0.0.1:1080", SOCKS5, "127.0.0.1", 1080, "", "", "socks5://127.0.0.1:1080", "127.0.0.1:1080"},
		{"socks5h://proxy.example:9050", SOCKS5H, "proxy.example", 9050, "", "", "socks5h://proxy.example:9050", ""},
		{"SOCKS5://10.0.0.1", SOCKS5, "10.0.0.1", 1080, "", "", "socks5://10.0.0.1:1080", "10.0.0.1:1080"},
		{"socks5://alice:s3cret@10.77.0.1:1081", SOCKS5, "10.77.0.1", 1081, "alice", "s3cret", "socks5://alice:***@10.77.0.1:1081", "10.77.0.1:1081"},
		{"socks5://alice@10.77.0.1:1081", SOCKS5, "10.77.0.1", 1081, "alice", "", "socks5://alice@10.77.0.1:1081", "10.77.0.1:1081"},
		{"socks5://a%40b:p%3Aw%2Fd@[fd77::1]:1080/", SOCKS5, "fd77::1", 1080, "a@b", "p:w/d", "socks5://a%40b:***@[fd77::1]:1080", "[fd77::1]:1080"},
		{"socks5://[::ffff:10.77.0.1]:1080", SOCKS5, "::ffff:10.77.0.1", 1080, "", "", "socks5://[::ffff:10.77.0.1]:1080", "10.77.0.1:1080"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			p, err := ParseProxy(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if p.Scheme != c.scheme || p.Host != c.host || p.Port != c.port {
				t.Errorf("got %s %s %d", p.Scheme, p.Host, p.Port)
			}
			user, pass := "", ""
			if p.Auth != nil {
				user, pass = p.Auth.Username, p.Auth.Password
			}
			if user != c.user || pass != c.pass {
				t.Errorf("credentials %q %q, want %q %q", user, pass, c.user, c.pass)
			}
			if got := p.String(); got != c.str {
				t.Errorf("String() = %q, want %q", got, c.str)
			}
			addrs := p.Addrs()
			if c.firstHop == "" && len(addrs) != 0 || c.firstHop != "" && (len(addrs) != 1 || addrs[0].String() != c.firstHop) {
				t.Errorf("Addrs() = %v, want %q", addrs, c.firstHop)
			}
		})
	}
}

func TestParseProxyErrors(t *testing.T) {
	long := strings.Repeat("u", 256)
	cases := []struct{ in, want string }{
		{"127.0.0.1:1080", "want scheme://host:port"},
		{"socks5://", "want scheme://host:port"},
		{"ftp://127.0.0.1:21", `unsupported scheme "ftp"`},
		{"socks5://127.0.0.1:0", "bad port"},
		{"socks5://127.0.0.1:70000", "bad port"},
		{"socks5://127.0.0.1:1080/path", "no path"},
		{"socks5://127.0.0.1:1080?x=1", "no path"},
		{"socks5://" + long + ":p@127.0.0.1:1080", "1–255 bytes"},
		{"socks5://:pw@127.0.0.1:1080", "1–255 bytes"},
		{"socks5://alice:topsecret@127.0.0.1:bad", "alice:***@"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			_, err := ParseProxy(c.in)
			if err == nil {
				t.Fatalf("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
			if strings.Contains(err.Error(), "topsecret") {
				t.Errorf("error shows the password: %q", err)
			}
		})
	}
}
