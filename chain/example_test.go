package chain

import (
	"testing"

	"github.com/BurntSushi/toml"
)

// TestExampleConfigParses keeps the documented example config from rotting:
// it must be valid TOML with no unknown keys, and every proxy in it must be
// a URL chainrun accepts.
func TestExampleConfigParses(t *testing.T) {
	var cfg struct {
		DefaultProfile string            `toml:"default_profile"`
		Proxies        map[string]string `toml:"proxies"`
		Profiles       map[string]struct {
			Chain            []string `toml:"chain"`
			ConnectTimeout   string   `toml:"connect_timeout"`
			HandshakeTimeout string   `toml:"handshake_timeout"`
		} `toml:"profiles"`
	}
	md, err := toml.DecodeFile("../proxychains.toml", &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if un := md.Undecoded(); len(un) > 0 {
		t.Fatalf("keys this test does not know: %v", un)
	}
	if _, ok := cfg.Profiles[cfg.DefaultProfile]; !ok {
		t.Errorf("default_profile %q is not a profile", cfg.DefaultProfile)
	}
	for name, raw := range cfg.Proxies {
		if _, err := ParseProxy(raw); err != nil {
			t.Errorf("proxy %s: %v", name, err)
		}
	}
	for name, p := range cfg.Profiles {
		if len(p.Chain) == 0 {
			t.Errorf("profile %s has no chain", name)
		}
		for _, hop := range p.Chain {
			if _, ok := cfg.Proxies[hop]; !ok {
				t.Errorf("profile %s: unknown proxy %q", name, hop)
			}
		}
	}
}
