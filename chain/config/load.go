package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/chainrun/chainrun/chain"
)

// Config is a validated configuration.
type Config struct {
	// Path is the file it came from.
	Path string
	// DefaultProfile names the profile used when nothing else picks one.
	DefaultProfile string
	// Profiles by name; Order lists their names in file order.
	Profiles map[string]*Profile
	Order    []string
	// Warnings are remarks that do not stop chainrun (an unknown
	// proxychains.conf directive, a world-readable file with a password).
	Warnings []string
	// Imported is true for a proxychains.conf.
	Imported bool
	// Unusable lists passwords that could not be read, each of which stops
	// the profiles using its proxy (`config check` shows them; a run of
	// another profile does not care).
	Unusable []string
	// missing holds the password errors of proxies (see builder.missing).
	missing map[*chain.Proxy]error
}

// Usable reports the first password error of a proxy the profile uses.
func (c *Config) Usable(p *Profile) error {
	for _, hop := range allHops(p) {
		if err := c.missing[hop]; err != nil {
			return err
		}
	}
	return nil
}

// Profile is one validated profile.
type Profile struct {
	Name     string
	Commands []string
	// Chain is the default chain; ChainNames its [proxies] names.
	Chain      []*chain.Proxy
	ChainNames []string
	Mode       chain.Mode
	ChainLen   int
	// Timeouts; zero means chain's defaults.
	ConnectTimeout, ReadTimeout, Timeout time.Duration
	DNS                                  string // "remote", "local", "tunnel" or "tor-resolve"
	// DNSServer is the resolver dns = "tunnel" asks through the chain;
	// invalid when none is set.
	DNSServer netip.AddrPort
	// FakeIPv4 and FakeIPv6 are remote DNS's pools; zero means the
	// defaults. NoFakeIPv6 is fake_ipv6 = "off".
	FakeIPv4, FakeIPv6 netip.Prefix
	NoFakeIPv6         bool
	// UDP is "block" or "direct"; Leaks "block" or "allow"; Isolate
	// "none", "run", "process", "connection" or "destination".
	UDP, Leaks, Isolate string
	// Pipeline asks SOCKS5 hops in one round trip.
	Pipeline      bool
	Quiet         bool
	Direct, Block []chain.Pattern
	Rules         []Rule
	DNAT          []DNAT
	// Sources says where each setting came from, for `config show`:
	// "mode" → "proxychains.toml: profiles.corp.mode".
	Sources map[string]string
}

// Rule is one validated per-destination rule.
type Rule struct {
	Patterns   []chain.Pattern
	Action     chain.Action
	Chain      []*chain.Proxy
	ChainNames []string
}

// DNAT rewrites connections to From (port 0: any port) to To (port 0:
// the original port).
type DNAT struct {
	From, To netip.AddrPort
}

// Load reads a configuration file: a proxychains.toml, or a
// proxychains.conf (recognised by its content), which it imports.
func Load(path string) (*Config, error) {
	data, perm, err := readConfig(path)
	if err != nil {
		return nil, fmt.Errorf("reading the configuration: %w", err)
	}
	cfg, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	if perm&0o044 != 0 && holdsPassword(cfg) {
		cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("%s holds a password and other users can read it (chmod 600 %s)", path, path))
	}
	return cfg, nil
}

// readConfig reads the file at path, and gives its permission bits from the
// same open file (0 if they cannot be had): no second lookup of the path.
func readConfig(path string) ([]byte, fs.FileMode, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	var perm fs.FileMode
	if fi, err := f.Stat(); err == nil {
		perm = fi.Mode().Perm()
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, 0, err
	}
	return data, perm, nil
}

// Parse reads configuration text; name is used in messages.
func Parse(name string, data []byte) (*Config, error) {
	base := filepath.Base(name)
	if LooksLikeProxychainsConf(data) {
		f, warns, err := ParseProxychainsConf(base, data)
		if err != nil {
			return nil, err
		}
		cfg, err := build(base, "", f, nil)
		if err != nil {
			return nil, err
		}
		cfg.Path, cfg.Imported = name, true
		for _, w := range warns {
			cfg.Warnings = append(cfg.Warnings, w.String())
		}
		return cfg, nil
	}
	text := string(data)
	var f File
	md, err := toml.Decode(text, &f)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &Error{File: base, Line: pe.Position.Line, Col: pe.Position.Col, Key: pe.LastKey, Msg: pe.Message}
		}
		return nil, &Error{File: base, Msg: err.Error()}
	}
	if un := md.Undecoded(); len(un) > 0 {
		return nil, unknownKey(base, text, un[0])
	}
	cfg, err := build(base, text, &f, md.Keys())
	if err != nil {
		return nil, err
	}
	cfg.Path = name
	return cfg, nil
}

// knownKeys are the keys a table of the schema takes, for suggestions: a
// switch rather than a map, so that package initialisation builds nothing.
func knownKeys(kind string) []string {
	switch kind {
	case "":
		return []string{"default_profile", "proxies", "proxies_auth", "profiles"}
	case "profile":
		return []string{"commands", "chain", "mode", "chain_len", "connect_timeout", "read_timeout", "timeout", "dns", "dns_server", "fake_ipv4", "fake_ipv6", "udp", "leaks", "isolate", "pipeline", "quiet", "direct", "block", "rules", "dnat"}
	case "rule":
		return []string{"match", "chain", "action"}
	case "dnat":
		return []string{"from", "to"}
	case "auth":
		return []string{"password_env", "password_file"}
	}
	return nil
}

func unknownKey(file, text string, k toml.Key) error {
	kind := ""
	switch {
	case len(k) == 2 && k[0] == "proxies_auth":
		kind = "auth"
	case len(k) == 3 && k[0] == "profiles":
		kind = "profile"
	case len(k) == 4 && k[0] == "profiles" && k[2] == "rules":
		kind = "rule"
	case len(k) == 4 && k[0] == "profiles" && k[2] == "dnat":
		kind = "dnat"
	case len(k) == 3 && k[0] == "proxies_auth":
		kind = "auth"
	}
	last := k[len(k)-1]
	line, col := locate(text, k.String(), "", 0)
	return &Error{File: file, Line: line, Col: col, Key: k.String(), Msg: "unknown key" + suggest(last, knownKeys(kind))}
}

// builder validates a File into a Config.
type builder struct {
	file    string
	text    string
	proxies map[string]*chain.Proxy
	names   []string
	// missing are passwords that could not be read (an unset variable,
	// an unreadable file): an error only for a run whose profile uses the
	// proxy, so one profile's secret does not stop the others.
	missing map[*chain.Proxy]error
}

func (b *builder) errAt(key, needle string, nth int, format string, args ...any) error {
	line, col := locate(b.text, key, needle, nth)
	return &Error{File: b.file, Line: line, Col: col, Key: key, Msg: fmt.Sprintf(format, args...)}
}

func build(file, text string, f *File, keys []toml.Key) (*Config, error) {
	b := &builder{file: file, text: text, proxies: map[string]*chain.Proxy{}, missing: map[*chain.Proxy]error{}}
	for _, name := range sortedKeys(f.Proxies) {
		p, err := chain.ParseProxy(f.Proxies[name])
		if err != nil {
			return nil, b.errAt("proxies."+name, "", 0, "%v", err)
		}
		b.proxies[name] = p
		b.names = append(b.names, name)
	}
	for _, name := range sortedKeys(f.ProxiesAuth) {
		if err := b.auth(name, f.ProxiesAuth[name]); err != nil {
			return nil, err
		}
	}
	cfg := &Config{DefaultProfile: f.DefaultProfile, Profiles: map[string]*Profile{}}
	cfg.Order = profileOrder(f, keys)
	for _, name := range cfg.Order {
		p, err := b.profile(name, f.Profiles[name])
		if err != nil {
			return nil, err
		}
		cfg.Profiles[name] = p
	}
	if len(cfg.Profiles) == 0 {
		return nil, &Error{File: file, Msg: "no profile: add a [profiles.NAME] table with a chain"}
	}
	cfg.missing = b.missing
	for _, name := range b.names {
		if err := b.missing[b.proxies[name]]; err != nil {
			cfg.Unusable = append(cfg.Unusable, err.Error()+" (profiles that use proxy "+name+" cannot run)")
		}
	}
	if cfg.DefaultProfile != "" && cfg.Profiles[cfg.DefaultProfile] == nil {
		return nil, b.errAt("default_profile", strconv.Quote(cfg.DefaultProfile), 0, "unknown profile %q%s", cfg.DefaultProfile, suggest(cfg.DefaultProfile, cfg.Order))
	}
	return cfg, nil
}

// profileOrder lists profile names in the order the file defines them.
func profileOrder(f *File, keys []toml.Key) []string {
	var order []string
	seen := map[string]bool{}
	for _, k := range keys {
		if len(k) >= 2 && k[0] == "profiles" && !seen[k[1]] && f.Profiles[k[1]] != nil {
			seen[k[1]] = true
			order = append(order, k[1])
		}
	}
	for _, name := range sortedKeys(f.Profiles) { // imported files have no keys
		if !seen[name] {
			order = append(order, name)
		}
	}
	return order
}

// auth fills in a named hop's password from the environment or a file.
func (b *builder) auth(name string, a AuthFile) error {
	key := "proxies_auth." + name
	p := b.proxies[name]
	switch {
	case p == nil:
		return b.errAt(key, "", 0, "no proxy named %q in [proxies]%s", name, suggest(name, b.names))
	case (a.PasswordEnv == "") == (a.PasswordFile == ""):
		return b.errAt(key, "", 0, "give exactly one of password_env and password_file")
	case p.Auth == nil || p.Auth.Username == "":
		return b.errAt(key, "", 0, "proxy %q has no user name in its URL (write scheme://USER@host:port)", name)
	case p.Auth.Password != "":
		return b.errAt(key, "", 0, "proxy %q already has a password in its URL", name)
	}
	if a.PasswordEnv != "" {
		v, ok := os.LookupEnv(a.PasswordEnv)
		if !ok {
			b.missing[p] = b.errAt(key+".password_env", "", 0, "the environment variable %s is not set", a.PasswordEnv)
			return nil
		}
		p.Auth.Password = v
		return nil
	}
	data, err := os.ReadFile(a.PasswordFile)
	if err != nil {
		b.missing[p] = b.errAt(key+".password_file", "", 0, "%v", err)
		return nil
	}
	p.Auth.Password = strings.TrimRight(string(data), "\r\n")
	return nil
}

func (b *builder) profile(name string, pf *ProfileFile) (*Profile, error) {
	key := "profiles." + name
	src := func(k string) string { return b.file + ": " + key + "." + k }
	if pf == nil {
		return nil, b.errAt(key, "", 0, "empty profile")
	}
	p := &Profile{Name: name, Commands: pf.Commands, DNS: "remote", Quiet: pf.Quiet, Sources: map[string]string{},
		UDP: "block", Leaks: "block", Isolate: "none", Pipeline: pf.Pipeline}
	if pf.Pipeline {
		p.Sources["pipeline"] = src("pipeline")
	}
	var err error
	if p.Chain, err = b.refs(key+".chain", pf.Chain, 0); err != nil {
		return nil, err
	}
	p.ChainNames = pf.Chain
	if len(p.Chain) == 0 {
		return nil, b.errAt(key, "", 0, "no chain: add chain = [\"NAME\", …] naming [proxies] entries")
	}
	p.Sources["chain"] = src("chain")
	if pf.Mode != "" {
		if p.Mode, err = chain.ParseMode(pf.Mode); err != nil {
			return nil, b.errAt(key+".mode", strconv.Quote(pf.Mode), 0, "%v", err)
		}
		p.Sources["mode"] = src("mode")
	}
	if pf.ChainLen != 0 {
		if pf.ChainLen < 0 || pf.ChainLen > len(p.Chain) {
			return nil, b.errAt(key+".chain_len", "", 0, "chain_len %d: want 1 to %d (the length of chain)", pf.ChainLen, len(p.Chain))
		}
		p.ChainLen = pf.ChainLen
		p.Sources["chain_len"] = src("chain_len")
	}
	for _, d := range []struct {
		name string
		val  string
		dst  *time.Duration
	}{{"connect_timeout", pf.ConnectTimeout, &p.ConnectTimeout}, {"read_timeout", pf.ReadTimeout, &p.ReadTimeout}, {"timeout", pf.Timeout, &p.Timeout}} {
		if d.val == "" {
			continue
		}
		v, err := time.ParseDuration(d.val)
		if err != nil || v <= 0 {
			return nil, b.errAt(key+"."+d.name, strconv.Quote(d.val), 0, "%q is not a positive duration such as \"10s\" or \"500ms\"", d.val)
		}
		*d.dst = v
		p.Sources[d.name] = src(d.name)
	}
	switch pf.DNS {
	case "":
	case "remote", "local", "tunnel", "tor-resolve":
		p.DNS = pf.DNS
		p.Sources["dns"] = src("dns")
	default:
		return nil, b.errAt(key+".dns", strconv.Quote(pf.DNS), 0, "dns %q: want \"remote\", \"local\", \"tunnel\" or \"tor-resolve\"", pf.DNS)
	}
	if err := b.dnsSettings(key, pf, p, src); err != nil {
		return nil, err
	}
	if err := b.leakSettings(key, pf, p, src); err != nil {
		return nil, err
	}
	if p.Direct, err = b.patterns(key+".direct", pf.Direct, 0); err != nil {
		return nil, err
	}
	if p.Block, err = b.patterns(key+".block", pf.Block, 0); err != nil {
		return nil, err
	}
	for i, r := range pf.Rules {
		rule, err := b.rule(key, i, r)
		if err != nil {
			return nil, err
		}
		p.Rules = append(p.Rules, rule)
	}
	for i, d := range pf.DNAT {
		dn, err := b.dnat(key, i, d)
		if err != nil {
			return nil, err
		}
		p.DNAT = append(p.DNAT, dn)
	}
	for _, c := range pf.Commands {
		if c == "" || strings.Contains(c, "/") {
			return nil, b.errAt(key+".commands", strconv.Quote(c), 0, "%q: a command is a program's base name, e.g. \"git\"", c)
		}
	}
	return p, nil
}

// refs resolves proxy names.
func (b *builder) refs(key string, names []string, nth int) ([]*chain.Proxy, error) {
	var out []*chain.Proxy
	for _, n := range names {
		p := b.proxies[n]
		if p == nil {
			return nil, b.errAt(key, strconv.Quote(n), nth, "unknown proxy %q%s", n, suggest(n, b.names))
		}
		out = append(out, p)
	}
	return out, nil
}

func (b *builder) patterns(key string, list []string, nth int) ([]chain.Pattern, error) {
	var out []chain.Pattern
	for _, s := range list {
		p, err := chain.ParsePattern(s)
		if err != nil {
			return nil, b.errAt(key, strconv.Quote(s), nth, "%v", err)
		}
		out = append(out, p)
	}
	return out, nil
}

func (b *builder) rule(profileKey string, i int, r RuleFile) (Rule, error) {
	key := profileKey + ".rules"
	label := fmt.Sprintf("%s[%d]", key, i)
	var rule Rule
	var err error
	if len(r.Match) == 0 {
		return rule, relabel(b.errAt(key, "", i, "a rule needs match = [\"PATTERN\", …]"), label)
	}
	if rule.Patterns, err = b.patterns(key+".match", r.Match, i); err != nil {
		return rule, relabel(err, label+".match")
	}
	switch r.Action {
	case "", "proxy":
		if len(r.Chain) == 0 {
			return rule, relabel(b.errAt(key, "", i, "a proxy rule needs chain = [\"NAME\", …] (or action = \"direct\" or \"block\")"), label)
		}
		rule.Action = chain.ActionProxy
	case "direct", "block":
		if len(r.Chain) > 0 {
			return rule, relabel(b.errAt(key+".chain", "", i, "action %q takes no chain", r.Action), label+".chain")
		}
		rule.Action = chain.ActionDirect
		if r.Action == "block" {
			rule.Action = chain.ActionBlock
		}
	default:
		return rule, relabel(b.errAt(key+".action", strconv.Quote(r.Action), i, "action %q: want \"proxy\", \"direct\" or \"block\"", r.Action), label+".action")
	}
	if rule.Chain, err = b.refs(key+".chain", r.Chain, i); err != nil {
		return rule, relabel(err, label+".chain")
	}
	rule.ChainNames = r.Chain
	return rule, nil
}

func (b *builder) dnat(profileKey string, i int, d DNATFile) (DNAT, error) {
	key := profileKey + ".dnat"
	parse := func(field, s string) (netip.AddrPort, error) {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
		}
		if a, err := netip.ParseAddr(s); err == nil {
			return netip.AddrPortFrom(a.Unmap(), 0), nil
		}
		return netip.AddrPort{}, relabel(b.errAt(key+"."+field, strconv.Quote(s), i, "%q: want IP or IP:PORT", s), fmt.Sprintf("%s[%d].%s", key, i, field))
	}
	from, err := parse("from", d.From)
	if err != nil {
		return DNAT{}, err
	}
	to, err := parse("to", d.To)
	if err != nil {
		return DNAT{}, err
	}
	return DNAT{From: from, To: to}, nil
}

// relabel names an element of an array of tables in an error's key.
func relabel(err error, key string) error {
	var e *Error
	if errors.As(err, &e) {
		e.Key = key
	}
	return err
}

func holdsPassword(cfg *Config) bool {
	for _, p := range cfg.Profiles {
		for _, hop := range allHops(p) {
			if hop.Auth != nil && hop.Auth.Password != "" {
				return true
			}
		}
	}
	return false
}

// allHops lists every hop a profile may use.
func allHops(p *Profile) []*chain.Proxy {
	hops := slices.Clone(p.Chain)
	for _, r := range p.Rules {
		hops = append(hops, r.Chain...)
	}
	return hops
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Find returns the configuration file to use: flagPath when given, else
// $CHAINRUN_CONFIG, ./proxychains.toml, $XDG_CONFIG_HOME/chainrun/proxychains.toml
// (~/.config by default), /etc/chainrun/proxychains.toml — the first that
// exists. It returns "" when there is none. getenv is os.Getenv in chainrun.
func Find(flagPath string, getenv func(string) string) (string, error) {
	if flagPath != "" {
		return flagPath, nil
	}
	if p := getenv("CHAINRUN_CONFIG"); p != "" {
		return p, nil
	}
	var candidates []string
	candidates = append(candidates, "proxychains.toml")
	xdg := getenv("XDG_CONFIG_HOME")
	if xdg == "" {
		if home := getenv("HOME"); home != "" {
			xdg = filepath.Join(home, ".config")
		}
	}
	if xdg != "" {
		candidates = append(candidates, filepath.Join(xdg, "chainrun", "proxychains.toml"))
	}
	candidates = append(candidates, "/etc/chainrun/proxychains.toml")
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return c, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("configuration %s: %w", c, err)
		}
	}
	return "", nil
}

// dnsSettings validates a profile's dns_server, fake_ipv4 and fake_ipv6.
func (b *builder) dnsSettings(key string, pf *ProfileFile, p *Profile, src func(string) string) error {
	if pf.DNSServer != "" {
		ap, err := netip.ParseAddrPort(pf.DNSServer)
		if err != nil {
			if a, aerr := netip.ParseAddr(pf.DNSServer); aerr == nil {
				ap, err = netip.AddrPortFrom(a, 53), nil
			}
		}
		if err != nil || ap.Port() == 0 {
			return b.errAt(key+".dns_server", strconv.Quote(pf.DNSServer), 0, "dns_server %q: want an IP address, with a port if not 53 (\"10.0.0.53\", \"[fd00::53]:5353\")", pf.DNSServer)
		}
		p.DNSServer = ap
		p.Sources["dns_server"] = src("dns_server")
	}
	if p.DNS == "tunnel" && !p.DNSServer.IsValid() {
		return b.errAt(key+".dns", strconv.Quote(p.DNS), 0, "dns = \"tunnel\" needs dns_server, the resolver to ask through the chain")
	}
	if pf.FakeIPv4 != "" {
		pfx, err := netip.ParsePrefix(pf.FakeIPv4)
		if err != nil || !pfx.Addr().Is4() || pfx.Bits() > 28 || pfx.Addr().IsMulticast() || pfx.Addr().IsLoopback() {
			return b.errAt(key+".fake_ipv4", strconv.Quote(pf.FakeIPv4), 0, "fake_ipv4 %q: want an IPv4 prefix of at least 16 addresses that is not loopback or multicast, such as \"198.18.0.0/15\"", pf.FakeIPv4)
		}
		p.FakeIPv4 = pfx.Masked()
		p.Sources["fake_ipv4"] = src("fake_ipv4")
	}
	switch pf.FakeIPv6 {
	case "":
	case "off":
		p.NoFakeIPv6 = true
		p.Sources["fake_ipv6"] = src("fake_ipv6")
	default:
		pfx, err := netip.ParsePrefix(pf.FakeIPv6)
		if err != nil || !pfx.Addr().Is6() || pfx.Addr().Is4In6() || pfx.Bits() > 120 || pfx.Addr().IsMulticast() || pfx.Addr().IsLoopback() {
			return b.errAt(key+".fake_ipv6", strconv.Quote(pf.FakeIPv6), 0, "fake_ipv6 %q: want an IPv6 prefix such as \"fd63:6861:696e::/64\" (not multicast), or \"off\"", pf.FakeIPv6)
		}
		p.FakeIPv6 = pfx.Masked()
		p.Sources["fake_ipv6"] = src("fake_ipv6")
	}
	return nil
}

// The values of a profile's udp, leaks and isolate.
var (
	UDPModes     = []string{"block", "direct"}
	LeaksModes   = []string{"block", "allow"}
	IsolateModes = []string{"none", "run", "process", "connection", "destination"}
)

// leakSettings validates a profile's udp, leaks and isolate.
func (b *builder) leakSettings(key string, pf *ProfileFile, p *Profile, src func(string) string) error {
	if pf.UDP == "proxy" {
		return b.errAt(key+".udp", strconv.Quote(pf.UDP), 0, "udp = \"proxy\" (UDP through SOCKS5 UDP ASSOCIATE) is not in this version: use \"block\" or \"direct\"")
	}
	for _, s := range []struct {
		name, val string
		allowed   []string
		dst       *string
	}{{"udp", pf.UDP, UDPModes, &p.UDP}, {"leaks", pf.Leaks, LeaksModes, &p.Leaks}, {"isolate", pf.Isolate, IsolateModes, &p.Isolate}} {
		if s.val == "" {
			continue
		}
		if !slices.Contains(s.allowed, s.val) {
			return b.errAt(key+"."+s.name, strconv.Quote(s.val), 0, "%s %q: want %s", s.name, s.val, quoteList(s.allowed))
		}
		*s.dst = s.val
		p.Sources[s.name] = src(s.name)
	}
	return nil
}

// quoteList writes `"a", "b" or "c"`.
func quoteList(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = strconv.Quote(v)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
