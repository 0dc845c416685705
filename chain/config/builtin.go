package config

import (
	"github.com/chainrun/chainrun/chain"
)

// TorSocksPort is where the built-in tor profile finds Tor: its default
// SocksPort. -x replaces it; so does a profile named tor in a file.
const TorSocksPort = "socks5h://127.0.0.1:9050"

// builtinSource is what `config show` says a built-in setting comes from.
const builtinSource = "built-in tor profile"

// Builtin returns the profile chainrun knows by name without a
// configuration file, or nil. A file's profile of the same name wins.
//
// tor: everything through Tor's SocksPort, names resolved by Tor (remote
// DNS; .onion works; fake IPv4 addresses only), UDP and every other way
// around the chain refused, and each run on circuits of its own (isolate =
// "run", through Tor's IsolateSOCKSAuth).
func Builtin(name string) *Profile {
	if name != "tor" {
		return nil
	}
	hop, err := chain.ParseProxy(TorSocksPort)
	if err != nil {
		return nil // a constant: cannot happen
	}
	p := &Profile{
		Name: "tor", Chain: []*chain.Proxy{hop}, ChainNames: []string{"tor"}, Mode: chain.Strict,
		DNS: "remote", UDP: "block", Leaks: "block", Isolate: "run",
		// Tor resolves the name at the exit, whichever family the program
		// asked for: one fake address per name is enough, and a program
		// trying both families would wait for Tor twice.
		NoFakeIPv6: true,
		Sources:    map[string]string{},
	}
	for _, k := range []string{"chain", "mode", "dns", "udp", "leaks", "isolate", "fake_ipv6"} {
		p.Sources[k] = builtinSource
	}
	return p
}
