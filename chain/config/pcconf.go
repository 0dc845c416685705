package config

// Import of proxychains-ng 4.17's proxychains.conf, read the way its
// get_chain_data (src/libproxychains.c) reads it: lines are trimmed of C
// white space, a '#' starts a comment only at the start of a line, the
// directives come first and every line after [ProxyList] is a proxy.
// Where proxychains silently ignores a line we say so in a Warning; where it
// refuses to start (or would fail every connection) we return an *Error
// naming the line.

import (
	"fmt"
	"math"
	"math/bits"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
)

// ProxychainsProfile is the name of the one profile an imported
// proxychains.conf becomes; it is also the file's default profile.
const ProxychainsProfile = "proxychains"

// Warning is a non-fatal remark about an imported file, naming its line.
type Warning struct {
	File string
	Line int // 1-based; 0 for the file as a whole
	Msg  string
}

// String reads like `proxychains4.conf:12: unknown directive "foo" (ignored)`.
func (w Warning) String() string {
	if w.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", w.File, w.Line, w.Msg)
	}
	return w.File + ": " + w.Msg
}

// proxychains' defaults (get_chain_data).
const (
	pcDefaultReadMS    = 4000
	pcDefaultConnectMS = 10000
	pcMaxProxies       = 512 // MAX_CHAIN: proxychains stops reading after it
	pcMaxCred          = 255 // user and password limits of SOCKS5 and proxychains
)

// The directives proxychains-ng 4.17 knows. Flag directives must be alone
// on their line (proxychains compares the whole line).
var (
	pcFlagDirectives  = []string{"strict_chain", "dynamic_chain", "random_chain", "round_robin_chain", "quiet_mode", "proxy_dns", "proxy_dns_old"}
	pcValueDirectives = []string{"tcp_read_time_out", "tcp_connect_time_out", "remote_dns_subnet", "localnet", "dnat", "proxy_dns_daemon"}
	pcProxyTypes      = []string{"socks4", "socks5", "http", "raw"}
)

// pcMode is the chain mode a proxychains mode directive names.
func pcMode(directive string) (string, bool) {
	switch directive {
	case "strict_chain":
		return "strict", true
	case "dynamic_chain":
		return "dynamic", true
	case "random_chain":
		return "random", true
	case "round_robin_chain":
		return "round-robin", true
	}
	return "", false
}

// pcSpace is C's isspace in the C locale.
const pcSpace = " \t\n\v\f\r"

func pcIsSpace(r rune) bool { return strings.ContainsRune(pcSpace, r) }

func pcFields(s string) []string { return strings.FieldsFunc(s, pcIsSpace) }

// LooksLikeProxychainsConf reports whether data is a proxychains.conf rather
// than TOML: it has a [ProxyList] line or a proxychains directive at the
// start of a line (strict_chain, proxy_dns, tcp_read_time_out 8000, …), and
// it is not valid TOML with chainrun's top-level keys.
func LooksLikeProxychainsConf(data []byte) bool {
	// The line scan is cheap and rules out nearly every chainrun file:
	// only a file with a proxychains line is decoded as TOML too.
	if !hasProxychainsLine(data) {
		return false
	}
	var top map[string]any
	if _, err := toml.Decode(string(data), &top); err == nil {
		for _, k := range []string{"default_profile", "proxies", "proxies_auth", "profiles"} {
			if _, ok := top[k]; ok {
				return false
			}
		}
	}
	return true
}

// hasProxychainsLine reports whether data has a [ProxyList] line or a
// proxychains directive at the start of a line.
func hasProxychainsLine(data []byte) bool {
	for raw := range strings.SplitSeq(string(data), "\n") {
		line := strings.Trim(raw, pcSpace)
		if line == "[ProxyList]" {
			return true
		}
		f := pcFields(line)
		if len(f) == 0 {
			continue
		}
		switch {
		case len(f) == 1 && slices.Contains(pcFlagDirectives, f[0]):
			return true
		// "localnet 10.0.0.0/8" but not TOML's "dnat = …". chain_len is left
		// out: "chain_len = 2" is TOML too.
		case len(f) >= 2 && slices.Contains(pcValueDirectives, f[0]) && f[1][0] != '=':
			return true
		}
	}
	return false
}

// pcShort cuts text from the file that goes into a message.
func pcShort(s string) string {
	const maxLen = 60
	if len(s) <= maxLen {
		return s
	}
	cut := maxLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// pcProxy is one [ProxyList] entry as read.
type pcProxy struct {
	typ        string // socks4, socks5 or http
	host       string // an IP literal (unbracketed) or a host name
	port       int
	user, pass string
}

// pcParser holds what get_chain_data would have set.
type pcParser struct {
	name  string
	warns []Warning

	mode                   string // "" until a chain directive
	chainLen, chainLenLine int
	quiet                  bool
	dnsRemote              bool
	readMS, connectMS      int
	direct                 []string
	dnat                   []DNATFile
	listLine               int // the [ProxyList] line, 0 before it
	proxies                []pcProxy
	full, fullWarned       bool // MAX_CHAIN proxies read; said so
}

func (p *pcParser) errorf(line int, format string, args ...any) error {
	return &Error{File: p.name, Line: line, Msg: fmt.Sprintf(format, args...)}
}

func (p *pcParser) warnf(line int, format string, args ...any) {
	p.warns = append(p.warns, Warning{File: p.name, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// extra warns about words after a directive's arguments, which proxychains
// ignores.
func (p *pcParser) extra(line int, directive string, rest []string) {
	if len(rest) > 0 {
		p.warnf(line, "%s: extra text %q (ignored)", directive, pcShort(strings.Join(rest, " ")))
	}
}

// ParseProxychainsConf reads a proxychains-ng 4.17 configuration and returns
// the equivalent File, with one profile named "proxychains" (also its
// DefaultProfile) whose chain is the [ProxyList], named "p1", "p2", … in
// order. name is the file's name for messages. Errors are *Error values
// naming the line ("proxychains4.conf:12: …").
func ParseProxychainsConf(name string, data []byte) (*File, []Warning, error) {
	p := &pcParser{name: name, readMS: pcDefaultReadMS, connectMS: pcDefaultConnectMS}
	for i, raw := range strings.Split(string(data), "\n") {
		n := i + 1
		line := strings.Trim(raw, pcSpace)
		if line == "" || line[0] == '#' {
			continue
		}
		var err error
		if p.listLine > 0 {
			err = p.proxyLine(n, line)
		} else {
			err = p.directive(n, line)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	f, err := p.file()
	if err != nil {
		return nil, nil, err
	}
	return f, p.warns, nil
}

// directive reads one line before [ProxyList].
func (p *pcParser) directive(n int, line string) error {
	if line == "[ProxyList]" {
		p.listLine = n
		return nil
	}
	// proxychains matches chain_len as a prefix and takes the number after
	// the first '=': "chain_len = 2", "chain_len=2".
	if rest, ok := strings.CutPrefix(line, "chain_len"); ok && (rest == "" || rest[0] == '=' || pcIsSpace(rune(rest[0]))) {
		return p.chainLenDirective(n, rest)
	}
	f := pcFields(line)
	d, args := f[0], f[1:]
	if mode, ok := pcMode(d); ok || slices.Contains(pcFlagDirectives, d) {
		if len(args) > 0 {
			p.warnf(n, "%s takes no value; proxychains ignores the whole line, and so does chainrun", d)
			return nil
		}
		switch d {
		case "quiet_mode":
			p.quiet = true
		case "proxy_dns":
			p.dnsRemote = true
		case "proxy_dns_old":
			p.dnsRemote = true
			p.warnf(n, "proxy_dns_old: chainrun resolves names through the proxies with its own remote DNS (dns = \"remote\"), not with proxyresolv")
		default:
			p.mode = mode
		}
		return nil
	}
	switch d {
	case "tcp_read_time_out", "tcp_connect_time_out":
		if len(args) == 0 {
			return p.errorf(n, "%s: missing value (milliseconds, e.g. 8000)", d)
		}
		ms, err := strconv.Atoi(args[0])
		if err != nil || ms <= 0 || ms > math.MaxInt32 {
			return p.errorf(n, "%s %q: want a positive number of milliseconds", d, pcShort(args[0]))
		}
		if d == "tcp_read_time_out" {
			p.readMS = ms
		} else {
			p.connectMS = ms
		}
		p.extra(n, d, args[1:])
	case "remote_dns_subnet":
		if len(args) == 0 {
			return p.errorf(n, "remote_dns_subnet: missing value (0 to 255)")
		}
		v, err := strconv.Atoi(args[0])
		if err != nil || v < 0 || v > 255 {
			return p.errorf(n, "remote_dns_subnet %q: want a number from 0 to 255", pcShort(args[0]))
		}
		p.warnf(n, "remote_dns_subnet %d: chainrun hands out fake addresses for remote DNS from its own reserved range (ignored)", v)
		p.extra(n, d, args[1:])
	case "localnet":
		if len(args) != 1 {
			return p.errorf(n, "localnet: want ADDRESS[:PORT]/MASK, e.g. 192.168.0.0/255.255.0.0, 10.0.0.0:80/8 or [fd00::]:443/8")
		}
		pat, err := pcLocalnet(args[0])
		if err != nil {
			return p.errorf(n, "localnet %s: %v", pcShort(args[0]), err)
		}
		p.direct = append(p.direct, pat)
	case "dnat":
		if len(args) < 2 {
			return p.errorf(n, "dnat: want \"dnat FROM TO\", each IPv4 or IPv4:PORT, e.g. dnat 1.1.1.1:1234 1.1.1.2:443")
		}
		from, err := pcDNATAddr(args[0])
		if err != nil {
			return p.errorf(n, "dnat %s: %v", pcShort(args[0]), err)
		}
		to, err := pcDNATAddr(args[1])
		if err != nil {
			return p.errorf(n, "dnat %s: %v", pcShort(args[1]), err)
		}
		p.dnat = append(p.dnat, DNATFile{From: from, To: to})
		p.extra(n, d, args[2:])
	case "proxy_dns_daemon":
		if len(args) == 0 {
			return p.errorf(n, "proxy_dns_daemon: want IPv4:PORT, e.g. 127.0.0.1:1053")
		}
		ap, err := netip.ParseAddrPort(args[0])
		if err != nil || !ap.Addr().Is4() || ap.Port() == 0 {
			return p.errorf(n, "proxy_dns_daemon %q: want IPv4:PORT, e.g. 127.0.0.1:1053", pcShort(args[0]))
		}
		p.dnsRemote = true
		p.warnf(n, "proxy_dns_daemon %s: chainrun resolves names through the proxies with its own remote DNS (dns = \"remote\"); proxychains4-daemon is not used", ap)
		p.extra(n, d, args[1:])
	default:
		switch {
		case slices.Contains(pcProxyTypes, d) || strings.Contains(d, "://"):
			p.warnf(n, "proxy %q before [ProxyList] (ignored, as proxychains does)", pcShort(d))
		default:
			hint := ""
			if len(d) <= 40 { // longer is no typo, and costly to compare
				hint = suggest(d, append(append([]string{"[ProxyList]", "chain_len"}, pcFlagDirectives...), pcValueDirectives...))
			}
			p.warnf(n, "unknown directive %q (ignored)%s", pcShort(d), hint)
		}
	}
	return nil
}

// chainLenDirective reads chain_len's "= N" (rest is the text after "chain_len").
func (p *pcParser) chainLenDirective(n int, rest string) error {
	rest = strings.TrimLeft(rest, pcSpace)
	if !strings.HasPrefix(rest, "=") {
		return p.errorf(n, "chain_len: missing '=' (write chain_len = N; proxychains refuses this line too)")
	}
	f := pcFields(rest[1:])
	if len(f) == 0 {
		return p.errorf(n, "chain_len: missing value")
	}
	v, err := strconv.Atoi(f[0])
	if err != nil || v < 0 {
		return p.errorf(n, "chain_len %q: want a number of proxies", pcShort(f[0]))
	}
	if v == 0 {
		v = 1 // as proxychains
	}
	p.chainLen, p.chainLenLine = v, n
	p.extra(n, "chain_len", f[1:])
	return nil
}

// proxyLine reads one line after [ProxyList]: "TYPE HOST PORT [USER PASS]"
// or a URL (socks5://user:pass@host:port).
func (p *pcParser) proxyLine(n int, line string) error {
	if p.full {
		if !p.fullWarned {
			p.fullWarned = true
			p.warnf(n, "proxychains reads at most %d proxies: this line and the ones after it are ignored", pcMaxProxies)
		}
		return nil
	}
	f := pcFields(line)
	var (
		px  pcProxy
		err error
	)
	switch {
	case line == "[ProxyList]":
		return p.errorf(n, "a second [ProxyList]")
	case slices.Contains(pcFlagDirectives, f[0]) || slices.Contains(pcValueDirectives, f[0]) || strings.HasPrefix(f[0], "chain_len"):
		return p.errorf(n, "%s after [ProxyList]: proxychains reads every line there as a proxy; move it above [ProxyList]", pcShort(f[0]))
	case strings.Contains(f[0], "://"):
		px, err = pcProxyURL(f[0])
		if err != nil {
			return p.errorf(n, "%v", err)
		}
		p.extra(n, "proxy", f[1:])
	case len(f) < 3:
		return p.errorf(n, "want \"TYPE HOST PORT [USER PASS]\" or a URL, e.g. socks5 127.0.0.1 1080 or socks5://127.0.0.1:1080")
	default:
		px, err = pcProxyFields(f)
		if err != nil {
			return p.errorf(n, "%v", err)
		}
		if len(f) > 5 {
			p.warnf(n, "proxy: extra text %q after the password (ignored)", pcShort(strings.Join(f[5:], " ")))
		}
	}
	if strings.HasPrefix(px.user, "#") {
		p.warnf(n, "a '#' starts a comment only at the start of a line: proxychains reads %q as the proxy's user name, and so does chainrun", pcShort(px.user))
	}
	switch {
	case px.typ == "http" && strings.HasPrefix(px.user, ":"):
		return p.errorf(n, "an HTTP proxy user name cannot start with ':'")
	case px.user == "" && px.pass != "":
		p.warnf(n, "proxy: a password without a user name: no authentication, as in proxychains")
		px.pass = ""
	case px.typ == "socks4" && px.pass != "":
		p.warnf(n, "socks4 sends only the user name (as its USERID): the password is ignored, as in proxychains")
		px.pass = ""
	}
	p.proxies = append(p.proxies, px)
	p.full = len(p.proxies) == pcMaxProxies
	return nil
}

// pcProxyFields reads "TYPE HOST PORT [USER [PASS]]".
func pcProxyFields(f []string) (pcProxy, error) {
	px := pcProxy{typ: f[0]}
	switch px.typ {
	case "socks4", "socks5", "http":
	case "raw":
		return px, fmt.Errorf("raw proxy %s: chainrun has no raw hop (a bare TCP connect to a forwarder); if %s forwards to the next proxy, list that proxy with this address instead", pcShort(net.JoinHostPort(f[1], f[2])), pcShort(f[1]))
	default:
		hint := ""
		if l := strings.ToLower(px.typ); l != px.typ && slices.Contains(pcProxyTypes, l) {
			hint = fmt.Sprintf("; proxychains takes %q in lower case", l)
		}
		return px, fmt.Errorf("unknown proxy type %q (want socks4, socks5 or http)%s", pcShort(px.typ), hint)
	}
	var err error
	if px.host, err = pcHost(f[1]); err != nil {
		return px, err
	}
	if px.port, err = pcPort(f[2]); err != nil {
		return px, err
	}
	if len(f) > 3 {
		px.user = f[3]
	}
	if len(f) > 4 {
		px.pass = f[4]
	}
	return px, pcCredLen(px.user, px.pass)
}

// pcProxyURL reads proxychains' URL form (proxy_from_string): socks5:// and
// http:// with an optional user:password@ (both, split at the first ':'
// and the last '@', not percent-encoded), socks4:// without one, and an
// obligatory port.
func pcProxyURL(s string) (pcProxy, error) {
	var px pcProxy
	var rest string
	switch {
	case strings.HasPrefix(s, "socks5://"):
		px.typ, rest = "socks5", s[len("socks5://"):]
	case strings.HasPrefix(s, "socks4://"):
		px.typ, rest = "socks4", s[len("socks4://"):]
	case strings.HasPrefix(s, "http://"):
		px.typ, rest = "http", s[len("http://"):]
	default:
		scheme, _, _ := strings.Cut(s, "://")
		return px, fmt.Errorf("proxy URL scheme %q: proxychains takes socks4://, socks5:// and http://", pcShort(scheme))
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if px.typ == "socks4" {
			return px, fmt.Errorf("a socks4:// proxy URL takes no user:password@ (proxychains refuses it)")
		}
		colon := strings.Index(rest, ":")
		if colon < 0 || colon > at {
			return px, fmt.Errorf("proxy URL: want user:password@ before the host (proxychains needs both)")
		}
		px.user, px.pass, rest = rest[:colon], rest[colon+1:at], rest[at+1:]
	}
	host, port, ok := strings.Cut(rest, ":")
	if strings.HasPrefix(host, "[") {
		return px, fmt.Errorf("proxy URL host %q: proxychains takes no IPv6 address in a URL; write \"%s ADDRESS PORT\"", pcShort(host), px.typ)
	}
	if !ok {
		return px, fmt.Errorf("proxy URL: no port (want %s://host:port)", px.typ)
	}
	var err error
	if px.host, err = pcHost(host); err != nil {
		return px, err
	}
	if px.port, err = pcPort(strings.TrimSuffix(port, "/")); err != nil {
		return px, err
	}
	return px, pcCredLen(px.user, px.pass)
}

func pcCredLen(user, pass string) error {
	if len(user) > pcMaxCred {
		return fmt.Errorf("the proxy's user name is %d bytes long; at most %d are allowed", len(user), pcMaxCred)
	}
	if len(pass) > pcMaxCred {
		return fmt.Errorf("the proxy's password is %d bytes long; at most %d are allowed", len(pass), pcMaxCred)
	}
	return nil
}

// pcHost checks a proxy host: an IPv4 or IPv6 literal as inet_pton takes
// it, or a host name (which proxychains takes only in some cases and
// chainrun always).
func pcHost(h string) (string, error) {
	if h == "" {
		return "", fmt.Errorf("missing proxy host")
	}
	if strings.Contains(h, ":") {
		a, err := netip.ParseAddr(h)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", fmt.Errorf("bad IPv6 address %q", pcShort(h))
		}
		return a.String(), nil
	}
	if strings.Trim(h, "0123456789.") == "" {
		a, err := netip.ParseAddr(h)
		if err != nil || !a.Is4() {
			return "", fmt.Errorf("bad IPv4 address %q", pcShort(h))
		}
		return a.String(), nil
	}
	if len(h) > pcMaxCred || strings.HasPrefix(h, ".") || strings.Contains(h, "..") {
		return "", fmt.Errorf("bad host %q: want an IP address or a host name", pcShort(h))
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return "", fmt.Errorf("bad host %q: want an IP address or a host name", pcShort(h))
		}
	}
	return h, nil
}

func pcPort(s string) (int, error) {
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 || v > 65535 || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("bad port %q (want 1 to 65535)", pcShort(s))
	}
	return v, nil
}

// pcLocalnet turns a localnet argument into a chainrun destination pattern.
// proxychains takes, before the '/' of the mask: IPv4[:PORT], [IPv6][:PORT]
// or a bare IPv6; after it: a dotted IPv4 mask or a prefix length.
func pcLocalnet(arg string) (string, error) {
	addrPort, mask, ok := strings.Cut(arg, "/")
	if !ok || mask == "" || strings.Contains(mask, "/") {
		return "", fmt.Errorf("want ADDRESS[:PORT]/MASK, e.g. 192.168.0.0/255.255.0.0, 10.0.0.0:80/8 or [fd00::]:443/8")
	}
	var addrText, portText string
	v6 := true
	switch {
	case strings.HasPrefix(addrPort, "["):
		inner, after, ok := strings.Cut(addrPort[1:], "]")
		if !ok || strings.ContainsAny(inner, "[]") {
			return "", fmt.Errorf("bad address %q", pcShort(addrPort))
		}
		addrText = inner
		if after != "" {
			p, ok := strings.CutPrefix(after, ":")
			if !ok {
				return "", fmt.Errorf("bad address %q: want [IPv6]:PORT", pcShort(addrPort))
			}
			portText = p
		}
	case strings.Count(addrPort, ":") >= 2:
		addrText = addrPort
	default:
		v6 = false
		addrText, portText, ok = strings.Cut(addrPort, ":")
		if ok && portText == "" {
			return "", fmt.Errorf("bad port \"\" (want 1 to 65535)")
		}
	}
	addr, err := netip.ParseAddr(addrText)
	switch {
	case v6 && (err != nil || !addr.Is6() || addr.Zone() != ""):
		return "", fmt.Errorf("bad IPv6 address %q", pcShort(addrText))
	case !v6 && (err != nil || !addr.Is4()):
		return "", fmt.Errorf("bad IPv4 address %q", pcShort(addrText))
	}
	port := 0
	if portText != "" {
		if port, err = pcPort(portText); err != nil {
			return "", err
		}
	}
	bitsLen := -1
	if !v6 && strings.Contains(mask, ".") {
		m, err := netip.ParseAddr(mask)
		if err != nil || !m.Is4() {
			return "", fmt.Errorf("bad netmask %q", pcShort(mask))
		}
		b := m.As4()
		u := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		ones := bits.LeadingZeros32(^u)
		if ones < 32 && u<<ones != 0 {
			return "", fmt.Errorf("netmask %s is not contiguous; chainrun takes address ranges as prefixes (e.g. /16)", pcShort(mask))
		}
		bitsLen = ones
	} else {
		v, err := strconv.Atoi(mask)
		if err != nil || v < 0 || v > addr.BitLen() || mask[0] == '+' || mask[0] == '-' {
			return "", fmt.Errorf("bad netmask %q (want a prefix length from 0 to %d)", pcShort(mask), addr.BitLen())
		}
		bitsLen = v
	}
	prefix := netip.PrefixFrom(addr, bitsLen).Masked()
	switch {
	case port == 0:
		return prefix.String(), nil
	case v6:
		return fmt.Sprintf("[%s]:%d", prefix, port), nil
	default:
		return fmt.Sprintf("%s:%d", prefix, port), nil
	}
}

// pcDNATAddr checks one side of a dnat: IPv4 or IPv4:PORT.
func pcDNATAddr(s string) (string, error) {
	addrText, portText, hasPort := strings.Cut(s, ":")
	addr, err := netip.ParseAddr(addrText)
	if err != nil || !addr.Is4() {
		return "", fmt.Errorf("want IPv4 or IPv4:PORT (proxychains' dnat takes IPv4 only)")
	}
	if !hasPort {
		return addr.String(), nil
	}
	port, err := pcPort(portText)
	if err != nil {
		return "", err
	}
	return netip.AddrPortFrom(addr, uint16(port)).String(), nil
}

// file builds the File once every line is read.
func (p *pcParser) file() (*File, error) {
	if p.listLine == 0 {
		return nil, &Error{File: p.name, Msg: "no [ProxyList] section: this is not a proxychains.conf chainrun can use"}
	}
	if len(p.proxies) == 0 {
		return nil, p.errorf(p.listLine, "[ProxyList] lists no proxy")
	}
	pf := &ProfileFile{
		Mode:           p.mode,
		ConnectTimeout: fmt.Sprintf("%dms", p.connectMS),
		ReadTimeout:    fmt.Sprintf("%dms", p.readMS),
		DNS:            "local",
		Quiet:          p.quiet,
		Direct:         p.direct,
		DNAT:           p.dnat,
	}
	if pf.Mode == "" {
		pf.Mode = "dynamic" // proxychains' default
	}
	if p.dnsRemote {
		pf.DNS = "remote"
	}
	switch pf.Mode {
	case "random", "round-robin":
		pf.ChainLen = max(p.chainLen, 1) // proxychains' default is 1
		if pf.ChainLen > len(p.proxies) {
			return nil, p.errorf(p.chainLenLine, "chain_len %d: the [ProxyList] has only %d proxies", pf.ChainLen, len(p.proxies))
		}
	default:
		if p.chainLenLine > 0 {
			p.warnf(p.chainLenLine, "chain_len applies to random_chain and round_robin_chain only (ignored, as proxychains does)")
		}
	}
	f := &File{
		DefaultProfile: ProxychainsProfile,
		Proxies:        map[string]string{},
		Profiles:       map[string]*ProfileFile{ProxychainsProfile: pf},
	}
	for i, px := range p.proxies {
		// proxychains' socks4 and socks5 clients hand the proxy a host
		// name whenever they have one: with remote DNS, and for a next hop
		// given by name. That is chainrun's socks4a and socks5h.
		names := p.dnsRemote || (i+1 < len(p.proxies) && !pcIsIP(p.proxies[i+1].host))
		name := fmt.Sprintf("p%d", i+1)
		f.Proxies[name] = px.url(names)
		pf.Chain = append(pf.Chain, name)
	}
	return f, nil
}

func pcIsIP(h string) bool {
	_, err := netip.ParseAddr(h)
	return err == nil
}

// url is the hop as a chainrun proxy URL.
func (px pcProxy) url(names bool) string {
	scheme := px.typ
	switch {
	case names && px.typ == "socks5":
		scheme = "socks5h"
	case names && px.typ == "socks4":
		scheme = "socks4a"
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(px.host, strconv.Itoa(px.port))}
	user, pass := px.user, px.pass
	if px.typ == "http" {
		// Basic auth sends "user:pass": a ':' in the user name moves the
		// rest into the password, which sends the same header.
		if u1, p1, ok := strings.Cut(user, ":"); ok {
			user, pass = u1, p1+":"+pass
		}
	}
	switch {
	case user == "":
	case pass == "":
		u.User = url.User(user)
	default:
		u.User = url.UserPassword(user, pass)
	}
	return u.String()
}
