package chain

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

func mustPattern(t testing.TB, s string) Pattern {
	t.Helper()
	p, err := ParsePattern(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustPatterns(t testing.TB, ss ...string) []Pattern {
	t.Helper()
	ps := make([]Pattern, len(ss))
	for i, s := range ss {
		ps[i] = mustPattern(t, s)
	}
	return ps
}

// rdst builds a Destination from "addr", "host" and port; either may be "".
func rdst(addr, host string, port uint16) Destination {
	d := Destination{Host: host, Port: port}
	if addr != "" {
		d.Addr = netip.MustParseAddr(addr)
	}
	return d
}

func TestParsePattern(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		// IPv4 and IPv4 CIDR.
		{"192.168.1.5", "192.168.1.5"},
		{"192.168.1.5/32", "192.168.1.5"},
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"10.1.2.3/8", "10.0.0.0/8"}, // host bits dropped
		{"0.0.0.0/0", "0.0.0.0/0"},
		// IPv6 and IPv6 CIDR.
		{"::1", "::1"},
		{"::1/128", "::1"},
		{"fd00::/8", "fd00::/8"},
		{"FD00:0::/8", "fd00::/8"},
		{"::/0", "::/0"},
		{"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"},
		{"2001:db8::1", "2001:db8::1"},
		{"::ffff:1.2.3.4", "1.2.3.4"}, // IPv4-mapped is IPv4
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"::ffff:0:0/96", "0.0.0.0/0"},
		{"[::1]", "::1"},
		{"[fd00::/8]", "fd00::/8"},
		{"[::1:22]", "[::1:22]"},   // brackets kept: "::1:22" is ambiguous
		{"::1.0.0.1", "[::100:1]"}, // so would "::100:1" be
		{"[fe80::1:2]", "[fe80::1:2]"},
		{"2001:db8::a", "2001:db8::a"},
		// With ports.
		{"10.0.0.0/8:443", "10.0.0.0/8:443"},
		{"1.2.3.4:80-90", "1.2.3.4:80-90"},
		{"1.2.3.4:80-80", "1.2.3.4:80"},
		{"1.2.3.4:080", "1.2.3.4:80"},
		{"1.2.3.4:65535", "1.2.3.4:65535"},
		{"[fd00::/8]:443", "[fd00::/8]:443"},
		{"[::1]:22", "[::1]:22"},
		{"[::1]:1-1023", "[::1]:1-1023"},
		{"[::ffff:1.2.3.4]:80", "1.2.3.4:80"},
		// Names.
		{"localhost", "localhost"},
		{"example.com", "example.com"},
		{"Example.COM.", "example.com"},
		{"_srv.my-host.example", "_srv.my-host.example"},
		{"1password.com", "1password.com"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{strings.Repeat("a", 63) + ".com", strings.Repeat("a", 63) + ".com"},
		{strings.Repeat("a.", 127), strings.Repeat("a.", 126) + "a"}, // 253 bytes and a trailing dot
		// Globs.
		{"*.corp.example", "*.corp.example"},
		{"*.Corp.Example.", "*.corp.example"},
		{"*.com", "*.com"},
		// Names and globs with ports.
		{"*.corp.example:443", "*.corp.example:443"},
		{"example.com:8000-8100", "example.com:8000-8100"},
		{"localhost:22", "localhost:22"},
		// Ports alone.
		{":53", ":53"},
		{":1-1023", ":1-1023"},
		{":1-65535", ":1-65535"},
		{"*:443", ":443"},
		// Everything.
		{"*", "*"},
		// White space around.
		{"  10.0.0.0/8\t", "10.0.0.0/8"},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.in)
		if err != nil {
			t.Errorf("ParsePattern(%q): %v", tt.in, err)
			continue
		}
		if got := p.String(); got != tt.want {
			t.Errorf("ParsePattern(%q).String() = %q, want %q", tt.in, got, tt.want)
		}
		again, err := ParsePattern(p.String())
		if err != nil || again != p {
			t.Errorf("ParsePattern(%q) = %#v, %v; want %#v", p.String(), again, err, p)
		}
	}
}

func TestParsePatternEqual(t *testing.T) {
	for _, pair := range [][2]string{
		{"192.168.1.5/32", "192.168.1.5"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"Example.COM.", "example.com"},
		{"*:443", ":443"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"1.2.3.4:80-80", "1.2.3.4:80"},
	} {
		if a, b := mustPattern(t, pair[0]), mustPattern(t, pair[1]); a != b {
			t.Errorf("%q and %q parse to different patterns %#v, %#v", pair[0], pair[1], a, b)
		}
	}
	for _, pair := range [][2]string{
		{"example.com", "*.example.com"},
		{"10.0.0.0/8", "10.0.0.0/8:443"},
		{":1-65535", "*"},
		{"::/0", "0.0.0.0/0"},
	} {
		if a, b := mustPattern(t, pair[0]), mustPattern(t, pair[1]); a == b {
			t.Errorf("%q and %q parse to the same pattern", pair[0], pair[1])
		}
	}
}

func TestParsePatternErrors(t *testing.T) {
	long := strings.Repeat("a", 64)
	tests := []struct {
		in, want string
	}{
		{"", `pattern "": empty pattern`},
		{"   ", `pattern "   ": empty pattern`},
		// Bad IPs and CIDRs.
		{"10.0.0.256", `pattern "10.0.0.256": bad IP address: IPv4 field has value >255`},
		{"1.2.3", `pattern "1.2.3": bad IP address: IPv4 address too short`},
		{"10.0.0.0/33", `pattern "10.0.0.0/33": bad CIDR: prefix length out of range`},
		{"10.0.0.0/", `pattern "10.0.0.0/": bad CIDR: bad bits after slash: ""`},
		{"fd00::/129", `pattern "fd00::/129": bad CIDR: prefix length out of range`},
		{"example.com/8", `pattern "example.com/8": bad CIDR: unexpected character (at "example.com")`},
		{"::1::2", `pattern "::1::2": bad IP address: multiple :: in address (at ":2")`},
		{"fe80::1%eth0", `pattern "fe80::1%eth0": IPv6 zones (%eth0) are not supported in patterns`},
		{"[fe80::1%eth0]:22", `pattern "[fe80::1%eth0]:22": IPv6 zones (%eth0) are not supported in patterns`},
		// Bad ports.
		{"1.2.3.4:0", `pattern "1.2.3.4:0": bad port "0": ports are 1-65535`},
		{":0", `pattern ":0": bad port "0": ports are 1-65535`},
		{":0-10", `pattern ":0-10": bad port "0-10": ports are 1-65535`},
		{"1.2.3.4:65536", `pattern "1.2.3.4:65536": bad port "65536": ports are 1-65535`},
		{"x.example:70000", `pattern "x.example:70000": bad port "70000": ports are 1-65535`},
		{"1.2.3.4:90-80", `pattern "1.2.3.4:90-80": bad port range "90-80": the first port is above the last`},
		{":90-80", `pattern ":90-80": bad port range "90-80": the first port is above the last`},
		{"1.2.3.4:http", `pattern "1.2.3.4:http": bad port "http": want a port 1-65535 or a range such as 8000-8100`},
		{"1.2.3.4:80-", `pattern "1.2.3.4:80-": bad port "80-": want a port 1-65535 or a range such as 8000-8100`},
		{"1.2.3.4:-80", `pattern "1.2.3.4:-80": bad port "-80": want a port 1-65535 or a range such as 8000-8100`},
		{"1.2.3.4:1-2-3", `pattern "1.2.3.4:1-2-3": bad port "1-2-3": want a port 1-65535 or a range such as 8000-8100`},
		{"1.2.3.4:+80", `pattern "1.2.3.4:+80": bad port "+80": want a port 1-65535 or a range such as 8000-8100`},
		{"1.2.3.4:", `pattern "1.2.3.4:": missing port after ":"`},
		{":", `pattern ":": missing port after ":"`},
		{"[::1]:", `pattern "[::1]:": missing port after ":"`},
		{"[::1]:0", `pattern "[::1]:0": bad port "0": ports are 1-65535`},
		// Globs.
		{"corp.*", `pattern "corp.*": "*" is allowed only as a leading "*." (as in "*.example.com")`},
		{"*corp.example", `pattern "*corp.example": "*" is allowed only as a leading "*." (as in "*.example.com")`},
		{"a.*.example", `pattern "a.*.example": "*" is allowed only as a leading "*." (as in "*.example.com")`},
		{"*.*.example", `pattern "*.*.example": "*" is allowed only as a leading "*." (as in "*.example.com")`},
		{"**", `pattern "**": "*" is allowed only as a leading "*." (as in "*.example.com")`},
		{"*.", `pattern "*.": no domain after "*."`},
		{"*..example", `pattern "*..example": empty label in host name`},
		// Names.
		{"exa mple.com", `pattern "exa mple.com": invalid character ' ' in host name`},
		{"example.com/", `pattern "example.com/": bad CIDR: unexpected character (at "example.com")`},
		{"ex@mple.com", `pattern "ex@mple.com": invalid character '@' in host name`},
		{"bücher.example", `pattern "bücher.example": invalid character 'ü' in host name (write international names in their xn-- form)`},
		{"a..b", `pattern "a..b": empty label in host name`},
		{".example.com", `pattern ".example.com": empty label in host name`},
		{"example.com..", `pattern "example.com..": empty label in host name`},
		{".", `pattern ".": empty host name`},
		{long + ".com", `pattern "` + long + `.com": label "` + long + `" is 64 bytes long, more than 63`},
		{strings.Repeat("ab.", 84) + "ab", `pattern "` + strings.Repeat("ab.", 84) + `ab": host name is 254 bytes long, more than 253`},
		// IPv6 and ports.
		{"::1:22", `pattern "::1:22": ambiguous IPv6 address: write "[::1:22]" for the address, or "[::1]:22" for port 22`},
		{"fe80::1:2", `pattern "fe80::1:2": ambiguous IPv6 address: write "[fe80::1:2]" for the address, or "[fe80::1]:2" for port 2`},
		{"fd00::/8:443", `pattern "fd00::/8:443": an IPv6 address with a port must be in brackets: write "[fd00::/8]:443"`},
		{"::1:80-90", `pattern "::1:80-90": an IPv6 address with a port must be in brackets: write "[::1]:80-90"`},
		{"1.2.3.4:80:90", `pattern "1.2.3.4:80:90": more than one ':' (a host and its port are separated by one ':'; an IPv6 address with a port goes in brackets, as in "[::1]:22")`},
		{"example.com:80:90", `pattern "example.com:80:90": more than one ':' (a host and its port are separated by one ':'; an IPv6 address with a port goes in brackets, as in "[::1]:22")`},
		{"[::1", `pattern "[::1": missing "]"`},
		{"[::1]x", `pattern "[::1]x": want ":port" after "]"`},
		{"[]", `pattern "[]": empty brackets`},
		{"[1.2.3.4]:80", `pattern "[1.2.3.4]:80": brackets are only for IPv6 addresses (write "1.2.3.4:80")`},
		{"[example.com]", `pattern "[example.com]": brackets are only for IPv6 addresses (write "example.com")`},
		{"[::1]:22:33", `pattern "[::1]:22:33": bad port "22:33": want a port 1-65535 or a range such as 8000-8100`},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.in)
		if err == nil {
			t.Errorf("ParsePattern(%q) = %q, want error %q", tt.in, p, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("ParsePattern(%q) error\n got %s\nwant %s", tt.in, err, tt.want)
		}
		if p != (Pattern{}) {
			t.Errorf("ParsePattern(%q) returned %#v with its error", tt.in, p)
		}
	}
}

func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern string
		d       Destination
		want    bool
	}{
		// IPv4 addresses and CIDR edges.
		{"192.168.1.5", rdst("192.168.1.5", "", 80), true},
		{"192.168.1.5", rdst("192.168.1.6", "", 80), false},
		{"10.0.0.0/8", rdst("10.0.0.0", "", 80), true},
		{"10.0.0.0/8", rdst("10.255.255.255", "", 80), true},
		{"10.0.0.0/8", rdst("11.0.0.0", "", 80), false},
		{"10.0.0.0/8", rdst("9.255.255.255", "", 80), false},
		{"172.16.0.0/12", rdst("172.31.255.255", "", 1), true},
		{"172.16.0.0/12", rdst("172.32.0.0", "", 1), false},
		{"0.0.0.0/0", rdst("203.0.113.9", "", 1), true},
		{"0.0.0.0/0", rdst("::1", "", 1), false},
		// IPv6.
		{"::1", rdst("::1", "", 22), true},
		{"::1", rdst("::2", "", 22), false},
		{"fd00::/8", rdst("fd12:3456::1", "", 443), true},
		{"fd00::/8", rdst("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "", 443), true},
		{"fd00::/8", rdst("fe00::", "", 443), false},
		{"fd00::/8", rdst("fc00::1", "", 443), false},
		{"[::1:22]", rdst("::1:22", "", 80), true},
		{"[::1:22]", rdst("::1", "", 22), false},
		{"fe80::/10", rdst("fe80::1%eth0", "", 22), true}, // zone ignored
		{"::/0", rdst("2001:db8::1", "", 1), true},
		{"::/0", rdst("10.0.0.1", "", 1), false},
		// IPv4-mapped destinations match IPv4 patterns, and only those.
		{"10.0.0.0/8", rdst("::ffff:10.1.2.3", "", 80), true},
		{"10.1.2.3", rdst("::ffff:10.1.2.3", "", 80), true},
		{"10.0.0.0/8:80", rdst("::ffff:10.1.2.3", "", 80), true},
		{"10.0.0.0/8", rdst("::ffff:11.1.2.3", "", 80), false},
		{"::/0", rdst("::ffff:10.1.2.3", "", 80), false},
		{"::ffff:10.0.0.0/104", rdst("10.1.2.3", "", 80), true},
		{"::ffff:10.0.0.0/104", rdst("::ffff:10.1.2.3", "", 80), true},
		// Ports and ranges.
		{"10.0.0.0/8:443", rdst("10.0.0.1", "", 443), true},
		{"10.0.0.0/8:443", rdst("10.0.0.1", "", 444), false},
		{"10.0.0.0/8:443", rdst("11.0.0.1", "", 443), false},
		{"1.2.3.4:80-90", rdst("1.2.3.4", "", 79), false},
		{"1.2.3.4:80-90", rdst("1.2.3.4", "", 80), true},
		{"1.2.3.4:80-90", rdst("1.2.3.4", "", 85), true},
		{"1.2.3.4:80-90", rdst("1.2.3.4", "", 90), true},
		{"1.2.3.4:80-90", rdst("1.2.3.4", "", 91), false},
		{"[::1]:22", rdst("::1", "", 22), true},
		{"[::1]:22", rdst("::1", "", 23), false},
		{"[fd00::/8]:443", rdst("fd00::5", "", 443), true},
		{"[fd00::/8]:443", rdst("fd00::5", "", 80), false},
		{"1.2.3.4:65535", rdst("1.2.3.4", "", 65535), true},
		{":1-65535", rdst("1.2.3.4", "", 0), false},
		{"1.2.3.4", rdst("1.2.3.4", "", 0), true},
		// Names: case and trailing dot, on either side.
		{"example.com", rdst("", "example.com", 443), true},
		{"example.com", rdst("", "EXAMPLE.Com", 443), true},
		{"example.com", rdst("", "example.com.", 443), true},
		{"Example.COM.", rdst("", "example.com", 443), true},
		{"example.com", rdst("", "www.example.com", 443), false},
		{"example.com", rdst("", "example.co", 443), false},
		{"example.com", rdst("", "example.comm", 443), false},
		{"example.com", rdst("", "example.com..", 443), false},
		{"k.example", rdst("", "\u212a.example", 443), false}, // the Kelvin sign is not a "k"
		{"localhost", rdst("", "localhost", 22), true},
		{"localhost", rdst("127.0.0.1", "", 22), false}, // names never match addresses
		{"example.com:8000-8100", rdst("", "example.com", 8000), true},
		{"example.com:8000-8100", rdst("", "example.com", 8101), false},
		// Globs.
		{"*.corp.example", rdst("", "sub.corp.example", 80), true},
		{"*.corp.example", rdst("", "a.b.corp.example", 80), true},
		{"*.corp.example", rdst("", "SUB.Corp.Example.", 80), true},
		{"*.corp.example", rdst("", "corp.example", 80), false},
		{"*.corp.example", rdst("", "xcorp.example", 80), false},
		{"*.corp.example", rdst("", "a.xcorp.example", 80), false},
		{"*.corp.example", rdst("", "axcorp.example", 80), false},
		{"*.corp.example", rdst("", "corp.example.com", 80), false},
		{"*.corp.example", rdst("", ".corp.example", 80), false},
		{"*.corp.example", rdst("10.0.0.1", "", 80), false},
		{"*.corp.example:443", rdst("", "git.corp.example", 443), true},
		{"*.corp.example:443", rdst("", "git.corp.example", 80), false},
		// Ports alone.
		{":53", rdst("8.8.8.8", "", 53), true},
		{":53", rdst("::1", "", 53), true},
		{":53", rdst("", "dns.example", 53), true},
		{":53", rdst("", "", 53), true},
		{":53", rdst("8.8.8.8", "", 54), false},
		{":1-1023", rdst("1.1.1.1", "", 1023), true},
		{":1-1023", rdst("1.1.1.1", "", 1024), false},
		// Everything.
		{"*", rdst("1.1.1.1", "", 1), true},
		{"*", rdst("", "example.com", 65535), true},
		{"*", rdst("", "", 0), true},
		{"*:443", rdst("", "example.com", 443), true},
		{"*:443", rdst("", "example.com", 80), false},
		// Name and address both known: each kind looks at its own part.
		{"example.com", rdst("198.18.0.5", "example.com", 443), true},
		{"*.example.com", rdst("198.18.0.5", "www.example.com", 443), true},
		{"198.18.0.0/15", rdst("198.18.0.5", "example.com", 443), true},
		{"10.0.0.0/8", rdst("198.18.0.5", "example.com", 443), false},
		{"other.example", rdst("198.18.0.5", "example.com", 443), false},
		// Only a name known, the name an IP literal (a SOCKS request).
		{"10.0.0.0/8", rdst("", "10.1.2.3", 80), true},
		{"[::1]:22", rdst("", "::1", 22), true},
		{"10.0.0.0/8", rdst("", "11.1.2.3", 80), false},
		// Only an address known, no name patterns match.
		{"example.com", rdst("93.184.215.14", "", 443), false},
	}
	for _, tt := range tests {
		p := mustPattern(t, tt.pattern)
		if got := p.Match(tt.d); got != tt.want {
			t.Errorf("ParsePattern(%q).Match(%v) = %v, want %v", tt.pattern, tt.d, got, tt.want)
		}
	}
}

func TestPatternZero(t *testing.T) {
	var p Pattern
	for _, d := range []Destination{rdst("1.2.3.4", "", 80), rdst("", "example.com", 80), {}} {
		if p.Match(d) {
			t.Errorf("the zero Pattern matches %v", d)
		}
	}
	if p.String() != "" {
		t.Errorf("Pattern{}.String() = %q, want \"\"", p.String())
	}
}

func TestDestinationString(t *testing.T) {
	tests := []struct {
		d    Destination
		want string
	}{
		{rdst("10.0.0.1", "", 80), "10.0.0.1:80"},
		{rdst("::1", "", 22), "[::1]:22"},
		{rdst("10.0.0.1", "example.com", 443), "example.com(10.0.0.1):443"},
		{rdst("fd00::1", "example.com", 443), "example.com(fd00::1):443"},
		{rdst("", "example.com", 443), "example.com:443"},
		{rdst("", "", 443), "?:443"},
	}
	for _, tt := range tests {
		if got := tt.d.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestActionString(t *testing.T) {
	for a, want := range map[Action]string{
		ActionProxy:  "proxy",
		ActionDirect: "direct",
		ActionBlock:  "block",
		Action(7):    "action(7)",
	} {
		if got := a.String(); got != want {
			t.Errorf("Action(%d).String() = %q, want %q", int(a), got, want)
		}
	}
}

func TestRouterDecide(t *testing.T) {
	def, corp, other := &Dialer{}, &Dialer{}, &Dialer{}
	r := &Router{
		Default: def,
		Rules: []RouteRule{
			{Name: "block", Action: ActionBlock, Patterns: mustPatterns(t, "10.66.0.0/16", "*.ads.example")},
			{Name: "direct", Action: ActionDirect, Patterns: mustPatterns(t, "127.0.0.0/8", "::1", "localhost", "10.0.0.0/8")},
			{Name: "rules[0]", Action: ActionProxy, Dialer: corp, Patterns: mustPatterns(t, "*.corp.example", "corp.example", "172.16.0.0/12:443")},
			{Name: "rules[1]", Action: ActionProxy, Patterns: mustPatterns(t, ":22")}, // nil Dialer: the default
			{Name: "rules[2]", Action: ActionProxy, Dialer: other, Patterns: mustPatterns(t, "172.16.0.0/12")},
			{Name: "rules[3]", Action: ActionDirect, Dialer: other, Patterns: mustPatterns(t, "*.lan")}, // Dialer ignored
		},
	}
	tests := []struct {
		d    Destination
		want Decision
	}{
		// Block comes first, even for addresses "direct" also covers.
		{rdst("10.66.1.1", "", 80), Decision{ActionBlock, nil, "block", "10.66.0.0/16"}},
		{rdst("10.1.1.1", "", 80), Decision{ActionDirect, nil, "direct", "10.0.0.0/8"}},
		{rdst("198.18.0.7", "x.ads.example", 443), Decision{ActionBlock, nil, "block", "*.ads.example"}},
		{rdst("::ffff:127.0.0.1", "", 8080), Decision{ActionDirect, nil, "direct", "127.0.0.0/8"}},
		{rdst("::1", "", 8080), Decision{ActionDirect, nil, "direct", "::1"}},
		{rdst("", "LOCALHOST.", 8080), Decision{ActionDirect, nil, "direct", "localhost"}},
		{rdst("198.18.0.9", "git.corp.example", 443), Decision{ActionProxy, corp, "rules[0]", "*.corp.example"}},
		{rdst("198.18.0.9", "corp.example", 443), Decision{ActionProxy, corp, "rules[0]", "corp.example"}},
		// The first matching rule wins: 172.16/12 on 443 is rules[0], on 22 rules[1], else rules[2].
		{rdst("172.20.0.1", "", 443), Decision{ActionProxy, corp, "rules[0]", "172.16.0.0/12:443"}},
		{rdst("172.20.0.1", "", 22), Decision{ActionProxy, def, "rules[1]", ":22"}},
		{rdst("172.20.0.1", "", 80), Decision{ActionProxy, other, "rules[2]", "172.16.0.0/12"}},
		{rdst("", "nas.lan", 445), Decision{ActionDirect, nil, "rules[3]", "*.lan"}},
		// No rule: the default.
		{rdst("93.184.215.14", "", 443), Decision{ActionProxy, def, "default", ""}},
		{rdst("", "example.com", 443), Decision{ActionProxy, def, "default", ""}},
		{rdst("", "", 443), Decision{ActionProxy, def, "default", ""}},
	}
	for _, tt := range tests {
		if got := r.Decide(tt.d); got != tt.want {
			t.Errorf("Decide(%v) = %+v, want %+v", tt.d, got, tt.want)
		}
	}

	if got, want := (&Router{}).Decide(rdst("1.2.3.4", "", 1)), (Decision{ActionProxy, nil, "default", ""}); got != want {
		t.Errorf("empty Router: Decide = %+v, want %+v", got, want)
	}
	if got, want := (*Router)(nil).Decide(rdst("1.2.3.4", "", 1)), (Decision{ActionProxy, nil, "default", ""}); got != want {
		t.Errorf("nil Router: Decide = %+v, want %+v", got, want)
	}
}

// TestRouterDecideConcurrent is for the race detector: a built Router is
// read-only and safe to share.
func TestRouterDecideConcurrent(t *testing.T) {
	r := benchRouter(t)
	dests := benchDestinations()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				r.Decide(dests[(g+i)%len(dests)])
			}
		})
	}
	wg.Wait()
}

func TestRouterDecideAllocs(t *testing.T) {
	r := benchRouter(t)
	for _, d := range benchDestinations() {
		if n := testing.AllocsPerRun(100, func() { r.Decide(d) }); n != 0 {
			t.Errorf("Decide(%v) allocates %v times", d, n)
		}
	}
}

// benchRouter is a profile of 20 rules of mixed kinds.
func benchRouter(t testing.TB) *Router {
	def, corp, lab := &Dialer{}, &Dialer{}, &Dialer{}
	var rules []RouteRule
	rules = append(rules,
		RouteRule{Name: "block", Action: ActionBlock, Patterns: mustPatterns(t, "*.ads.example", "*.tracker.example", "10.66.0.0/16", ":25")},
		RouteRule{Name: "direct", Action: ActionDirect, Patterns: mustPatterns(t, "127.0.0.0/8", "::1", "localhost", "10.0.0.0/8", "192.168.0.0/16", "fd00::/8", "*.local", "*.lan")},
	)
	for i, pats := range [][]string{
		{"*.corp.example", "corp.example", "172.16.0.0/12:443"},
		{"*.git.example:22", "git.example:22"},
		{"[2001:db8::/32]:443", "198.51.100.0/24:8000-8100"},
		{"build.example", "*.ci.example"},
		{"203.0.113.0/24"},
		{"*.internal.example:1-1023"},
		{"lab1.example", "lab2.example", "lab3.example"},
		{"100.64.0.0/10"},
		{"*.vpn.example", "vpn.example"},
		{"*.mirror.example:80"},
		{"[fd12::/16]:22"},
		{"archive.example:21"},
		{"*.staging.example"},
		{"*.dev.example"},
		{"192.0.2.0/24:443"},
		{"metrics.example:9090-9100"},
		{"*.eu.example", "*.us.example"},
		{":5432"},
	} {
		d := corp
		if i%2 == 1 {
			d = lab
		}
		rules = append(rules, RouteRule{Name: fmt.Sprintf("rules[%d]", i), Action: ActionProxy, Dialer: d, Patterns: mustPatterns(t, pats...)})
	}
	return &Router{Rules: rules, Default: def}
}

func benchDestinations() []Destination {
	return []Destination{
		rdst("93.184.215.14", "", 443),                  // no rule: the default, after every pattern
		rdst("198.18.3.4", "www.example.org", 443),      // remote DNS, no rule
		rdst("198.18.3.5", "git.corp.example", 443),     // remote DNS, rules[0]
		rdst("::ffff:10.1.2.3", "", 80),                 // direct, v4-mapped
		rdst("2001:db8::5", "", 443),                    // v6 CIDR with a port
		rdst("", "Metrics.Example.", 9095),              // name only, range
		rdst("127.0.0.1", "", 8080),                     // direct, first rules
		rdst("fe80::1%eth0", "", 22),                    // zone, no rule
		rdst("", "10.66.1.1", 80),                       // IP literal as the name
		rdst("198.18.3.6", "db.prod.example.com", 5432), // last rule
	}
}

func BenchmarkDecide(b *testing.B) {
	r := benchRouter(b)
	dests := benchDestinations()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Decide(dests[i%len(dests)])
		i++
	}
}

func BenchmarkDecideDefault(b *testing.B) {
	r := benchRouter(b)
	d := rdst("198.18.3.4", "www.example.org", 443)
	b.ReportAllocs()
	for b.Loop() {
		r.Decide(d)
	}
}

func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{
		"10.0.0.0/8", "192.168.1.5", "::1", "fd00::/8", "10.0.0.0/8:443", "1.2.3.4:80-90",
		"[fd00::/8]:443", "[::1]:22", "localhost", "Example.COM.", "*.corp.example", "*",
		"*.corp.example:443", "example.com:8000-8100", ":53", ":1-1023", "*:443",
		"::ffff:10.0.0.0/104", "::1:22", "fe80::1%eth0", "[1.2.3.4]:80", "1.2.3.4:90-80",
		"", "[", "[]:", "*.", "::1.0.0.1", "[::1:22]", "a..b", "bücher.example", ":0", "10.1.2.3/8",
	} {
		f.Add(s)
	}
	d := []Destination{
		rdst("10.1.2.3", "sub.corp.example", 443), rdst("::1", "", 22), rdst("", "example.com", 8000), {},
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePattern(s)
		if err != nil {
			if p != (Pattern{}) {
				t.Fatalf("ParsePattern(%q) returned %#v with error %v", s, p, err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", s)) {
				t.Fatalf("ParsePattern(%q) error %q does not name the pattern", s, err)
			}
			return
		}
		again, err := ParsePattern(p.String())
		if err != nil {
			t.Fatalf("ParsePattern(%q) = %q, which does not parse: %v", s, p, err)
		}
		if again != p {
			t.Fatalf("ParsePattern(%q) = %#v, but its String %q parses to %#v", s, p, p.String(), again)
		}
		if again.String() != p.String() {
			t.Fatalf("String not stable: %q then %q", p, again)
		}
		for _, d := range d {
			p.Match(d) // must not panic
		}
	})
}

func ExampleRouter_Decide() {
	corp := &Dialer{}
	mustParse := func(ss ...string) []Pattern {
		var ps []Pattern
		for _, s := range ss {
			p, err := ParsePattern(s)
			if err != nil {
				panic(err)
			}
			ps = append(ps, p)
		}
		return ps
	}
	r := &Router{
		Default: &Dialer{},
		Rules: []RouteRule{
			{Name: "block", Action: ActionBlock, Patterns: mustParse("*.ads.example")},
			{Name: "direct", Action: ActionDirect, Patterns: mustParse("10.0.0.0/8", "localhost")},
			{Name: "rules[0]", Action: ActionProxy, Dialer: corp, Patterns: mustParse("*.corp.example:443")},
		},
	}
	for _, d := range []Destination{
		{Addr: netip.MustParseAddr("10.1.2.3"), Port: 80},
		{Addr: netip.MustParseAddr("198.18.0.4"), Host: "git.corp.example", Port: 443},
		{Host: "x.ads.example", Port: 443},
		{Addr: netip.MustParseAddr("93.184.215.14"), Port: 443},
	} {
		dec := r.Decide(d)
		fmt.Printf("%s: %s by %s %s\n", d, dec.Action, dec.Rule, dec.Pattern)
	}
	// Output:
	// 10.1.2.3:80: direct by direct 10.0.0.0/8
	// git.corp.example(198.18.0.4):443: proxy by rules[0] *.corp.example:443
	// x.ads.example:443: block by block *.ads.example
	// 93.184.215.14:443: proxy by default
}
