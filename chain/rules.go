package chain

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Destination is what a routing decision looks at.
//
// When the program resolved a name through chainrun's remote DNS, Addr is
// the fake address it was handed and Host the name it asked for: keeping
// the name next to the address is what lets name and glob patterns see
// connections made to fake addresses.
type Destination struct {
	// Addr is the IP the program connects to; it may be invalid (the zero
	// netip.Addr) when only a name is known.
	Addr netip.Addr
	// Host is the host name the program asked for, when known (remote DNS,
	// a SOCKS request); "" otherwise.
	Host string
	// Port is the destination port.
	Port uint16
}

// String is the destination for logs: "10.0.0.1:80", "[::1]:22",
// "example.com:443" when only the name is known, "example.com(10.0.0.1):443"
// when both are, and "?:443" when neither is.
func (d Destination) String() string {
	port := strconv.FormatUint(uint64(d.Port), 10)
	switch {
	case d.Host != "" && d.Addr.IsValid():
		return d.Host + "(" + d.Addr.String() + "):" + port
	case d.Host != "":
		return d.Host + ":" + port
	case d.Addr.IsValid():
		return netip.AddrPortFrom(d.Addr, d.Port).String()
	}
	return "?:" + port
}

// patNorm is d as the matchers want it: an IPv4-mapped address as IPv4,
// no IPv6 zone, no trailing dot on the name. When only a literal IP is
// known, as the host of a SOCKS request, it is taken as the address. It
// does not allocate.
func patNorm(d Destination) Destination {
	d.Host = strings.TrimSuffix(d.Host, ".")
	if !d.Addr.IsValid() && patLooksLikeIP(d.Host) {
		// Only strings that can be IP literals are parsed: a failed
		// netip parse allocates its error.
		if a, err := netip.ParseAddr(d.Host); err == nil {
			d.Addr = a
		}
	}
	d.Addr = d.Addr.Unmap()
	if d.Addr.Is6() {
		d.Addr = d.Addr.WithZone("")
	}
	return d
}

// patLooksLikeIP reports whether s is made of digits and dots (at least
// one digit), or has a colon: the only strings worth handing to netip.ParseAddr.
func patLooksLikeIP(s string) bool {
	if s == "" {
		return false
	}
	if strings.IndexByte(s, ':') >= 0 {
		return true
	}
	digits := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			digits = true
		case c != '.':
			return false
		}
	}
	return digits
}

// patKind says what part of a Destination a Pattern looks at.
type patKind uint8

const (
	patNone   patKind = iota // the zero Pattern: matches nothing
	patAny                   // every destination (on the pattern's ports)
	patPrefix                // Destination.Addr within prefix
	patName                  // Destination.Host equal to name
	patGlob                  // Destination.Host ending in name (".corp.example")
)

// Pattern matches destinations. ParsePattern reads one from the forms a
// proxychains.toml takes in direct, block and rules:
//
//	IP or CIDR, v4 or v6:     "10.0.0.0/8", "192.168.1.5", "::1", "fd00::/8"
//	with a port or range:     "10.0.0.0/8:443", "1.2.3.4:80-90", "[fd00::/8]:443", "[::1]:22"
//	a host name:              "localhost", "example.com"
//	a domain glob:            "*.corp.example"
//	a name or glob on ports:  "*.corp.example:443", "example.com:8000-8100"
//	ports alone:              ":53", ":1-1023"
//	every destination:        "*"
//
// IP and CIDR patterns match only Destination.Addr. An IPv4-mapped IPv6
// address, in a destination or in a pattern, is taken as the IPv4 address
// it carries: "10.0.0.0/8" matches a program that connects to
// ::ffff:10.1.2.3, and "::ffff:10.0.0.0/104" is the pattern "10.0.0.0/8".
// Other IPv6 patterns ("::/0" included) never match IPv4 destinations.
// Host bits of a CIDR are dropped ("10.1.2.3/8" is "10.0.0.0/8"); an IPv6
// zone in the destination is ignored.
//
// Name and glob patterns match only Destination.Host, without regard to
// ASCII case or a trailing dot; a destination whose name is unknown never
// matches one. A glob "*.corp.example" matches every name that ends in
// ".corp.example", at any depth, but not "corp.example" itself: write
// both patterns to get both. "*" alone matches every destination, its
// name known or not ("*:443" is the same as ":443").
//
// An unbracketed IPv6 address that also reads as an address and a port
// ("::1:22": ::1:22, or ::1 port 22?) is refused; write "[::1:22]" or
// "[::1]:22". String brackets such addresses for the same reason.
//
// The zero Pattern matches nothing. Patterns are comparable with ==; two
// patterns are equal when their String forms are.
type Pattern struct {
	kind   patKind
	prefix netip.Prefix // patPrefix
	name   string       // patName: "example.com"; patGlob: ".corp.example"; lower case
	lo, hi uint16       // ports lo..hi; lo 0 (hi 65535) means any port
	canon  string       // String(), made once by ParsePattern
}

// ParsePattern reads a destination pattern (see Pattern for the forms).
// Surrounding white space is ignored. The error names the pattern and
// what is wrong with it.
func ParsePattern(s string) (Pattern, error) {
	p, why := patParse(strings.TrimSpace(s))
	if why != "" {
		return Pattern{}, fmt.Errorf("pattern %q: %s", s, why)
	}
	p.canon = p.format()
	return p, nil
}

// patParse parses s, already trimmed; why says what is wrong when it is
// not "".
func patParse(s string) (p Pattern, why string) {
	if s == "" {
		return p, "empty pattern"
	}
	p.lo, p.hi = 0, 65535

	// [IPv6 or IPv6 CIDR] with an optional :port.
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return p, `missing "]"`
		}
		inner, rest := s[1:end], s[end+1:]
		if inner == "" {
			return p, "empty brackets"
		}
		if rest != "" {
			if rest[0] != ':' {
				return p, `want ":port" after "]"`
			}
			if why := p.parsePorts(rest[1:]); why != "" {
				return p, why
			}
		}
		if !strings.Contains(inner, ":") {
			return p, "brackets are only for IPv6 addresses (write " + strconv.Quote(inner+rest) + ")"
		}
		return p, p.parseIP(inner)
	}

	// More than one colon: an IPv6 address or CIDR without a port.
	if strings.Count(s, ":") > 1 {
		head, tail, asPort := patV6Port(s)
		whole := (&Pattern{}).parseIP(s) == ""
		switch {
		case whole && asPort:
			return p, fmt.Sprintf("ambiguous IPv6 address: write %q for the address, or %q for port %s",
				"["+s+"]", "["+head+"]:"+tail, tail)
		case asPort:
			return p, fmt.Sprintf("an IPv6 address with a port must be in brackets: write %q", "["+head+"]:"+tail)
		case whole:
			return p, p.parseIP(s)
		}
		// Starting like an IPv6 address ("fe80:", "::"): say what is
		// wrong with it as one.
		if first, _, _ := strings.Cut(s, ":"); len(first) <= 4 && strings.Trim(first, "0123456789abcdefABCDEF") == "" {
			return p, p.parseIP(s)
		}
		return p, "more than one ':' (a host and its port are separated by one ':'; an IPv6 address with a port goes in brackets, as in \"[::1]:22\")"
	}

	host := s
	if i := strings.IndexByte(s, ':'); i >= 0 {
		host = s[:i]
		if why := p.parsePorts(s[i+1:]); why != "" {
			return p, why
		}
	}
	switch {
	case host == "":
		// ":53": ports alone (s != "", so there was a colon).
		p.kind = patAny
		return p, ""
	case host == "*":
		p.kind = patAny
		return p, ""
	case strings.Contains(host, "/") || patLooksLikeIP(host):
		return p, p.parseIP(host)
	case strings.HasPrefix(host, "*."):
		if host == "*." {
			return p, `no domain after "*."`
		}
		if strings.Contains(host[2:], "*") {
			return p, `"*" is allowed only as a leading "*." (as in "*.example.com")`
		}
		name, why := patHostName(host[2:])
		if why != "" {
			return p, why
		}
		p.kind, p.name = patGlob, "."+name
		return p, ""
	case strings.Contains(host, "*"):
		return p, `"*" is allowed only as a leading "*." (as in "*.example.com")`
	}
	name, why := patHostName(host)
	if why != "" {
		return p, why
	}
	p.kind, p.name = patName, name
	return p, ""
}

// patV6Port reports whether s, an IPv6 address or CIDR without brackets,
// also reads as head, an address or CIDR, with tail its port or range.
func patV6Port(s string) (head, tail string, ok bool) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", "", false
	}
	head, tail = s[:i], s[i+1:]
	ok = tail != "" && strings.Trim(tail, "0123456789-") == "" &&
		(&Pattern{}).parsePorts(tail) == "" && (&Pattern{}).parseIP(head) == ""
	return head, tail, ok
}

// parseIP reads an IP address or CIDR (no port, no brackets) into p.
func (p *Pattern) parseIP(s string) (why string) {
	var prefix netip.Prefix
	if strings.Contains(s, "/") {
		pr, err := netip.ParsePrefix(s)
		if err != nil {
			addr, _, _ := strings.Cut(s, "/")
			return "bad CIDR: " + patReason(err, "netip.ParsePrefix("+strconv.Quote(s)+"): ", "ParseAddr("+strconv.Quote(addr)+"): ")
		}
		prefix = pr.Masked()
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return "bad IP address: " + patReason(err, "ParseAddr("+strconv.Quote(s)+"): ")
		}
		if a.Zone() != "" {
			return "IPv6 zones (%" + a.Zone() + ") are not supported in patterns"
		}
		prefix = netip.PrefixFrom(a, a.BitLen())
	}
	if a := prefix.Addr(); a.Is4In6() && prefix.Bits() >= 96 {
		prefix = netip.PrefixFrom(a.Unmap(), prefix.Bits()-96)
	}
	p.kind, p.prefix = patPrefix, prefix
	return ""
}

// patReason is the reason in a netip parse error, without the leading
// function names and inputs it repeats (prefixes, in order).
func patReason(err error, prefixes ...string) string {
	msg := err.Error()
	for _, p := range prefixes {
		msg = strings.TrimPrefix(msg, p)
	}
	return msg
}

// parsePorts reads "80" or "8000-8100" into p.
func (p *Pattern) parsePorts(s string) (why string) {
	if s == "" {
		return `missing port after ":"`
	}
	los, his, isRange := strings.Cut(s, "-")
	if !isRange {
		his = los
	}
	lo, why := patPort(los, s)
	if why != "" {
		return why
	}
	hi, why := patPort(his, s)
	if why != "" {
		return why
	}
	if lo > hi {
		return fmt.Sprintf("bad port range %q: the first port is above the last", s)
	}
	p.lo, p.hi = lo, hi
	return ""
}

// patPort reads one port of the port part all.
func patPort(s, all string) (uint16, string) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Sprintf("bad port %q: want a port 1-65535 or a range such as 8000-8100", all)
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Sprintf("bad port %q: ports are 1-65535", all)
	}
	return uint16(n), ""
}

// patHostName checks a host name and returns it in lower case, without a
// trailing dot.
func patHostName(s string) (string, string) {
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return "", "empty host name"
	}
	if len(s) > 253 {
		return "", fmt.Sprintf("host name is %d bytes long, more than 253", len(s))
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '-' || r == '_' || r == '.' ||
			'0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z':
		case r >= utf8.RuneSelf:
			return "", fmt.Sprintf("invalid character %q in host name (write international names in their xn-- form)", r)
		default:
			return "", fmt.Sprintf("invalid character %q in host name", r)
		}
		i += size
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" {
			return "", "empty label in host name"
		}
		if len(label) > 63 {
			return "", fmt.Sprintf("label %q is %d bytes long, more than 63", label, len(label))
		}
	}
	return strings.ToLower(s), ""
}

// format is the canonical form of p.
func (p Pattern) format() string {
	ports := ""
	if p.lo != 0 {
		ports = ":" + strconv.FormatUint(uint64(p.lo), 10)
		if p.hi != p.lo {
			ports += "-" + strconv.FormatUint(uint64(p.hi), 10)
		}
	}
	switch p.kind {
	case patAny:
		if ports == "" {
			return "*"
		}
		return ports
	case patPrefix:
		s := p.prefix.String()
		if p.prefix.IsSingleIP() {
			s = p.prefix.Addr().String()
		}
		if p.prefix.Addr().Is6() {
			// "::100:1" would read as "::100" port 1.
			if _, _, ambiguous := patV6Port(s); ports != "" || ambiguous {
				s = "[" + s + "]"
			}
		}
		return s + ports
	case patName:
		return p.name + ports
	case patGlob:
		return "*" + p.name + ports
	}
	return ""
}

// String is the pattern's canonical form, which ParsePattern reads back
// to an equal Pattern: "10.0.0.0/8:443", "[::1]:22", "*.corp.example",
// ":1-1023". It is "" for the zero Pattern.
func (p Pattern) String() string { return p.canon }

// Match reports whether d is one of the destinations p stands for.
func (p Pattern) Match(d Destination) bool { return p.match(patNorm(d)) }

// match is Match on a destination already through patNorm.
func (p *Pattern) match(d Destination) bool {
	if d.Port < p.lo || d.Port > p.hi {
		return false
	}
	switch p.kind {
	case patAny:
		return true
	case patPrefix:
		return p.prefix.Contains(d.Addr)
	case patName:
		return len(d.Host) == len(p.name) && patFold(d.Host, p.name)
	case patGlob:
		return len(d.Host) > len(p.name) && patFold(d.Host[len(d.Host)-len(p.name):], p.name)
	}
	return false
}

// patFold reports whether s equals lower, a lower-case string of the same
// length, ignoring ASCII case only (strings.EqualFold would also fold the
// Kelvin sign into "k").
func patFold(s, lower string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// Action is what a route does with a connection.
type Action int

// The actions.
const (
	ActionProxy  Action = iota // through a chain
	ActionDirect               // straight to the destination, no proxy
	ActionBlock                // refused
)

// String is the action's name as the config writes it: "proxy",
// "direct", "block".
func (a Action) String() string {
	switch a {
	case ActionProxy:
		return "proxy"
	case ActionDirect:
		return "direct"
	case ActionBlock:
		return "block"
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// RouteRule is one routing rule: destinations matching any of Patterns get
// Action (and, for ActionProxy, go through Dialer; a nil Dialer means the
// router's default).
type RouteRule struct {
	// Name is the rule for logs and `chainrun route`: "block", "direct",
	// "rules[2]".
	Name string
	// Patterns are the destinations the rule applies to.
	Patterns []Pattern
	// Action is what happens to them.
	Action Action
	// Dialer is the chain for ActionProxy; nil means Router.Default.
	Dialer *Dialer
}

// Router decides the route of each connection: the first rule with a
// matching pattern wins; with none, ActionProxy through Default. A Router
// is read-only once built, and then safe for concurrent use.
type Router struct {
	// Rules, in order of precedence.
	Rules []RouteRule
	// Default is the chain for connections no rule matches, and for
	// ActionProxy rules without a Dialer of their own.
	Default *Dialer
}

// Decision is a Router's answer.
type Decision struct {
	// Action is what to do with the connection.
	Action Action
	// Dialer is the chain, for ActionProxy; nil otherwise.
	Dialer *Dialer
	// Rule is the Name of the rule that matched, or "default".
	Rule string
	// Pattern is the canonical form of the pattern that matched ("" for
	// the default).
	Pattern string
}

// Decide routes d: the first rule, in order, with a pattern that matches
// d gives the decision; with none, d is proxied through Default. A nil
// Router proxies everything through a nil Dialer. Decide does not
// allocate.
func (r *Router) Decide(d Destination) Decision {
	if r == nil {
		return Decision{Action: ActionProxy, Rule: "default"}
	}
	d = patNorm(d)
	for i := range r.Rules {
		rule := &r.Rules[i]
		for j := range rule.Patterns {
			p := &rule.Patterns[j]
			if !p.match(d) {
				continue
			}
			dec := Decision{Action: rule.Action, Rule: rule.Name, Pattern: p.canon}
			if rule.Action == ActionProxy {
				dec.Dialer = rule.Dialer
				if dec.Dialer == nil {
					dec.Dialer = r.Default
				}
			}
			return dec
		}
	}
	return Decision{Action: ActionProxy, Dialer: r.Default, Rule: "default"}
}
