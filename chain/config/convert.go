package config

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Convert renders f as proxychains.toml text: commented, deterministic
// (map entries in natural order of their names, the default profile
// first), and such that toml.Decode of the text into a File gives back f,
// nil and empty slices and maps kept apart. It fails on what TOML cannot
// hold: text that is not UTF-8, a nil profile.
func Convert(f *File) ([]byte, error) {
	if f == nil {
		return nil, errors.New("convert: nil File")
	}
	w := &cvWriter{}
	w.line("# chainrun configuration (proxychains.toml format).")
	w.line("# Run a program through it: chainrun -f THIS_FILE COMMAND [ARGS…]")
	if f.DefaultProfile != "" {
		w.blank()
		w.line("# The profile used when neither -p, nor $CHAINRUN_PROFILE, nor a profile's")
		w.line("# commands pick one.")
		w.str("default_profile", f.DefaultProfile)
	}
	if f.Proxies != nil {
		w.blank()
		w.line("# The hops, as proxy URLs: socks5, socks5h (the proxy resolves names),")
		w.line("# socks4, socks4a (the proxy resolves names) or http (CONNECT).")
		w.table("proxies")
		for _, name := range cvSorted(f.Proxies) {
			w.str(w.key(name), f.Proxies[name])
		}
	}
	if f.ProxiesAuth != nil {
		names := cvSorted(f.ProxiesAuth)
		if len(names) == 0 {
			w.blank()
			w.table("proxies_auth")
		}
		for i, name := range names {
			w.blank()
			if i == 0 {
				w.line("# Passwords of hops, kept out of this file.")
			}
			w.table("proxies_auth." + w.key(name))
			a := f.ProxiesAuth[name]
			w.optStr("password_env", a.PasswordEnv)
			w.optStr("password_file", a.PasswordFile)
		}
	}
	if f.Profiles != nil {
		names := cvSorted(f.Profiles)
		if i := slices.Index(names, f.DefaultProfile); i > 0 {
			names = slices.Insert(slices.Delete(names, i, i+1), 0, f.DefaultProfile)
		}
		if len(names) == 0 {
			w.blank()
			w.table("profiles")
		}
		for _, name := range names {
			pf := f.Profiles[name]
			if pf == nil {
				return nil, fmt.Errorf("convert: profile %q is nil", name)
			}
			w.profile(name, pf)
		}
	}
	if w.err != nil {
		return nil, w.err
	}
	return []byte(w.b.String()), nil
}

func (w *cvWriter) profile(name string, pf *ProfileFile) {
	key := "profiles." + w.key(name)
	w.blank()
	w.table(key)
	if pf.Commands != nil {
		w.line("# Programs (base names) that pick this profile.")
		w.strs("commands", pf.Commands)
	}
	if pf.Chain != nil {
		w.line("# The hops, in order: names from [proxies].")
		w.strs("chain", pf.Chain)
	}
	if pf.Mode != "" {
		w.line("# strict: every hop, in order, or fail; dynamic: every hop that is up, in")
		w.line("# order; random, round-robin: chain_len hops.")
		w.str("mode", pf.Mode)
	}
	if pf.ChainLen != 0 {
		w.int("chain_len", pf.ChainLen)
	}
	if pf.ConnectTimeout != "" {
		w.line("# Bounds the TCP connect to the first hop.")
		w.str("connect_timeout", pf.ConnectTimeout)
	}
	if pf.ReadTimeout != "" {
		w.line("# Bounds each hop's handshake.")
		w.str("read_timeout", pf.ReadTimeout)
	}
	if pf.Timeout != "" {
		w.line("# Bounds a whole connection, retries included.")
		w.str("timeout", pf.Timeout)
	}
	if pf.DNS != "" {
		w.line("# remote: names are resolved by the proxies (no DNS leak); local: here.")
		w.str("dns", pf.DNS)
	}
	if pf.DNSServer != "" {
		w.line("# The resolver asked through the chain (dns = \"tunnel\", and record types remote DNS cannot fake).")
		w.str("dns_server", pf.DNSServer)
	}
	if pf.FakeIPv4 != "" {
		w.line("# The pools remote DNS takes fake addresses from.")
		w.str("fake_ipv4", pf.FakeIPv4)
	}
	if pf.FakeIPv6 != "" {
		w.str("fake_ipv6", pf.FakeIPv6)
	}
	if pf.UDP != "" {
		w.line("# block: datagrams to anywhere but loopback fail (DNS is answered here); direct: sent as they are.")
		w.str("udp", pf.UDP)
	}
	if pf.Leaks != "" {
		w.line("# block: raw and packet sockets and io_uring refused; allow: the escape hatch.")
		w.str("leaks", pf.Leaks)
	}
	if pf.Pipeline {
		w.line("# SOCKS5 hops asked in one round trip (for proxies that accept it; not microsocks).")
		w.line("pipeline = true")
	}
	if pf.Isolate != "" {
		w.line("# Keeps connections apart on the last hop with SOCKS5 credentials (Tor's IsolateSOCKSAuth).")
		w.str("isolate", pf.Isolate)
	}
	if pf.Quiet {
		w.line("# No warnings.")
		w.line("quiet = true")
	}
	if pf.Direct != nil {
		w.line("# Destinations reached without the chain.")
		w.strs("direct", pf.Direct)
	}
	if pf.Block != nil {
		w.line("# Destinations refused.")
		w.strs("block", pf.Block)
	}
	if pf.Rules != nil && len(pf.Rules) == 0 {
		w.line("rules = []")
	}
	if pf.DNAT != nil && len(pf.DNAT) == 0 {
		w.line("dnat = []")
	}
	for i, r := range pf.Rules {
		w.blank()
		if i == 0 {
			w.line("# Per-destination rules: the first that matches wins.")
		}
		w.arrayTable(key + ".rules")
		if r.Match != nil {
			w.strs("match", r.Match)
		}
		if r.Chain != nil {
			w.strs("chain", r.Chain)
		}
		w.optStr("action", r.Action)
	}
	for i, d := range pf.DNAT {
		w.blank()
		if i == 0 {
			w.line("# Destination rewrites, applied before routing: a connection to `from`")
			w.line("# goes to `to` instead, on the original port when `to` has none.")
		}
		w.arrayTable(key + ".dnat")
		w.str("from", d.From)
		w.str("to", d.To)
	}
}

// cvWriter accumulates TOML text and the first error.
type cvWriter struct {
	b   strings.Builder
	err error
}

func (w *cvWriter) line(s string) {
	w.b.WriteString(s)
	w.b.WriteByte('\n')
}

func (w *cvWriter) blank() { w.b.WriteByte('\n') }

func (w *cvWriter) table(key string)      { w.line("[" + key + "]") }
func (w *cvWriter) arrayTable(key string) { w.line("[[" + key + "]]") }

func (w *cvWriter) str(key, v string) { w.line(key + " = " + w.quote(v)) }

func (w *cvWriter) optStr(key, v string) {
	if v != "" {
		w.str(key, v)
	}
}

func (w *cvWriter) int(key string, v int) { w.line(key + " = " + strconv.Itoa(v)) }

// strs writes a list on one line when it fits in 80 columns, else one
// element a line.
func (w *cvWriter) strs(key string, vs []string) {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = w.quote(v)
	}
	one := key + " = [" + strings.Join(q, ", ") + "]"
	if len(q) < 2 || utf8.RuneCountInString(one) <= 80 {
		w.line(one)
		return
	}
	w.line(key + " = [")
	for _, e := range q {
		w.line("  " + e + ",")
	}
	w.line("]")
}

// quote is s as a TOML basic string.
func (w *cvWriter) quote(s string) string {
	if !utf8.ValidString(s) {
		if w.err == nil {
			w.err = fmt.Errorf("convert: %q is not UTF-8 text, which TOML requires", s)
		}
		return `""`
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\f':
			b.WriteString(`\f`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// key is name as a TOML key: bare when it can be, quoted otherwise.
func (w *cvWriter) key(name string) string {
	bare := name != ""
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			bare = false
			break
		}
	}
	if bare {
		return name
	}
	return w.quote(name)
}

// cvSorted is m's keys in natural order: "p2" before "p10".
func cvSorted[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // a fixed start: the result cannot depend on map order
	slices.SortStableFunc(keys, cvNaturalCompare)
	return keys
}

// cvNaturalCompare orders strings with runs of digits compared as numbers,
// falling back to byte order so that the order is total.
func cvNaturalCompare(a, b string) int {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		ca, cb := a[i], b[j]
		if cvDigit(ca) && cvDigit(cb) {
			si, sj := i, j
			for i < len(a) && cvDigit(a[i]) {
				i++
			}
			for j < len(b) && cvDigit(b[j]) {
				j++
			}
			na := strings.TrimLeft(a[si:i], "0")
			nb := strings.TrimLeft(b[sj:j], "0")
			if len(na) != len(nb) {
				return len(na) - len(nb)
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			continue
		}
		if ca != cb {
			return int(ca) - int(cb)
		}
		i++
		j++
	}
	if c := (len(a) - i) - (len(b) - j); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func cvDigit(c byte) bool { return '0' <= c && c <= '9' }
