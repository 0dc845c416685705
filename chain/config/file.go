// Package config reads chainrun's configuration: proxychains.toml, and
// the proxychains.conf files of proxychains-ng, which it imports. It turns
// a file into validated profiles: each a chain of proxies, a chain mode,
// timeouts and routing rules.
package config

// File is a configuration file as written, before validation: the TOML
// schema of proxychains.toml. An imported proxychains.conf becomes one too.
type File struct {
	// DefaultProfile names the profile used when neither -p, nor
	// $CHAINRUN_PROFILE, nor a profile's commands pick one.
	DefaultProfile string `toml:"default_profile,omitempty"`
	// Proxies are the named hops, as proxy URLs.
	Proxies map[string]string `toml:"proxies,omitempty"`
	// ProxiesAuth gives passwords for named hops from outside the file.
	ProxiesAuth map[string]AuthFile `toml:"proxies_auth,omitempty"`
	// Profiles by name.
	Profiles map[string]*ProfileFile `toml:"profiles,omitempty"`
}

// AuthFile says where a hop's password comes from.
type AuthFile struct {
	PasswordEnv  string `toml:"password_env,omitempty"`
	PasswordFile string `toml:"password_file,omitempty"`
}

// ProfileFile is one [profiles.NAME] table.
type ProfileFile struct {
	// Commands are program names (basenames) that pick this profile.
	Commands []string `toml:"commands,omitempty"`
	// Chain is the default chain: names of [proxies] entries, in order.
	Chain []string `toml:"chain,omitempty"`
	// Mode is strict, dynamic, random or round-robin.
	Mode string `toml:"mode,omitempty"`
	// ChainLen is the number of hops for random and round-robin.
	ChainLen int `toml:"chain_len,omitempty"`
	// Timeouts, as Go durations ("10s", "500ms").
	ConnectTimeout string `toml:"connect_timeout,omitempty"`
	ReadTimeout    string `toml:"read_timeout,omitempty"`
	Timeout        string `toml:"timeout,omitempty"`
	// DNS is "remote", "local", "tunnel" or "tor-resolve".
	DNS string `toml:"dns,omitempty"`
	// DNSServer is the resolver (IP:PORT) that dns = "tunnel" asks over
	// DNS-over-TCP through the chain, and that answers the record types
	// remote DNS cannot fake (MX, TXT, SRV, …).
	DNSServer string `toml:"dns_server,omitempty"`
	// FakeIPv4 and FakeIPv6 are the pools of fake addresses remote DNS
	// hands out ("off" for FakeIPv6: no fake IPv6 answers).
	FakeIPv4 string `toml:"fake_ipv4,omitempty"`
	FakeIPv6 string `toml:"fake_ipv6,omitempty"`
	// UDP is "block" (the default: datagrams to anywhere but loopback fail
	// with EPERM) or "direct".
	UDP string `toml:"udp,omitempty"`
	// Leaks is "block" (the default: raw and packet sockets and io_uring
	// refused, TCP Fast Open through the chain) or "allow".
	Leaks string `toml:"leaks,omitempty"`
	// Isolate is how connections are kept apart on the last hop with SOCKS5
	// credentials (Tor's IsolateSOCKSAuth): "none", "run", "process",
	// "connection" or "destination".
	Isolate string `toml:"isolate,omitempty"`
	// Pipeline asks SOCKS5 hops in one round trip (greeting, credentials
	// and CONNECT in one write): for proxies that accept it.
	Pipeline bool `toml:"pipeline,omitempty"`
	// Quiet is proxychains' quiet_mode: no warnings.
	Quiet bool `toml:"quiet,omitempty"`
	// Direct and Block are destination patterns that bypass the chain or
	// are refused.
	Direct []string `toml:"direct,omitempty"`
	Block  []string `toml:"block,omitempty"`
	// Rules choose a chain per destination; the first match wins.
	Rules []RuleFile `toml:"rules,omitempty"`
	// DNAT rewrites destinations before routing (proxychains' dnat).
	DNAT []DNATFile `toml:"dnat,omitempty"`
}

// RuleFile is one [[profiles.NAME.rules]] entry.
type RuleFile struct {
	// Match lists destination patterns.
	Match []string `toml:"match"`
	// Chain names the proxies for matching destinations; empty with
	// Action "direct" or "block".
	Chain []string `toml:"chain,omitempty"`
	// Action is "proxy" (the default when Chain is set), "direct" or "block".
	Action string `toml:"action,omitempty"`
}

// DNATFile is one destination rewrite: connections to From go to To.
// From is "IP" or "IP:PORT"; To is "IP" or "IP:PORT" (a missing port keeps
// the original one).
type DNATFile struct {
	From string `toml:"from"`
	To   string `toml:"to"`
}
