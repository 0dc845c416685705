package config

import "testing"

func TestSelectBuiltinTor(t *testing.T) {
	cfg, err := Parse("proxychains.toml", []byte("[proxies]\na = \"socks5://10.0.0.1:1080\"\n[profiles.p]\nchain = [\"a\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	sel, err := cfg.Select("tor", "", "curl")
	if err != nil || sel.Profile.Name != "tor" || sel.Profile.Chain[0].String() != TorSocksPort || sel.Profile.Isolate != "run" {
		t.Fatalf("-p tor without a tor profile: %+v, %v; want the built-in", sel, err)
	}
	if !sel.Profile.NoFakeIPv6 {
		t.Error("the tor profile hands out fake IPv6 addresses")
	}
	if sel.Profile.Sources["chain"] != "built-in tor profile" {
		t.Errorf("sources %v", sel.Profile.Sources)
	}
	// A file's own tor profile wins.
	cfg, err = Parse("proxychains.toml", []byte("[proxies]\nt = \"socks5h://10.0.0.9:9150\"\n[profiles.tor]\nchain = [\"t\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if sel, err := cfg.Select("tor", "", "curl"); err != nil || sel.Profile.Chain[0].String() != "socks5h://10.0.0.9:9150" {
		t.Errorf("the file's tor profile: %+v, %v", sel, err)
	}
	// Only names chainrun knows are built in.
	if _, err := cfg.Select("tour", "", "curl"); err == nil {
		t.Error("-p tour was accepted")
	}
}
