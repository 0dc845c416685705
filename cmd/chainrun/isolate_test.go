package main

import (
	"io"
	"log"
	"strings"
	"testing"
)

func TestIsolatorModes(t *testing.T) {
	if newIsolator("none") != nil || newIsolator("") != nil {
		t.Fatal("isolate none makes credentials")
	}
	type conn struct {
		pid int
		dst string
	}
	conns := []conn{{10, "a.example:443"}, {10, "b.example:443"}, {11, "a.example:443"}, {11, "a.example:443"}}
	for _, c := range []struct {
		mode     string
		distinct int
	}{{"run", 1}, {"process", 2}, {"connection", 4}, {"destination", 2}} {
		iso := newIsolator(c.mode)
		seen := map[string]bool{}
		for _, cn := range conns {
			a := iso.auth(cn.pid, cn.dst)
			if !strings.HasPrefix(a.Username, "chainrun-"+iso.run) || a.Password == "" {
				t.Errorf("%s: credentials %+v", c.mode, a)
			}
			seen[a.Username] = true
		}
		if len(seen) != c.distinct {
			t.Errorf("isolate %s: %d distinct identities for %v, want %d", c.mode, len(seen), conns, c.distinct)
		}
	}
	// Two runs never share an identity.
	if a, b := newIsolator("run").auth(1, ""), newIsolator("run").auth(1, ""); a.Username == b.Username {
		t.Errorf("two runs share %q", a.Username)
	}
}

func TestBuiltinTorProfile(t *testing.T) {
	opts, err := parseRunArgs([]string{"-p", "tor", "curl", "http://x.onion/"})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := planRun(opts, func(string) string { return "" }, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	d := plan.router.Default
	if len(d.Chain) != 1 || d.Chain[0].String() != "socks5h://127.0.0.1:9050" {
		t.Errorf("chain %v", d.Chain)
	}
	if plan.dns != "remote" || plan.udp != "block" || plan.leaks != "block" || plan.isolate != "run" || plan.iso == nil {
		t.Errorf("plan dns %s udp %s leaks %s isolate %s", plan.dns, plan.udp, plan.leaks, plan.isolate)
	}
	// -x replaces the chain; flags override the rest.
	opts, _ = parseRunArgs([]string{"-p", "tor", "-x", "socks5h://10.0.0.1:9150", "--isolate", "process", "curl"})
	if plan, err = planRun(opts, func(string) string { return "" }, discardLog()); err != nil {
		t.Fatal(err)
	}
	if got := plan.router.Default.Chain[0].String(); got != "socks5h://10.0.0.1:9150" || plan.isolate != "process" {
		t.Errorf("overridden: chain %s isolate %s", got, plan.isolate)
	}
	// $CHAINRUN_PROFILE picks it too.
	opts, _ = parseRunArgs([]string{"curl"})
	env := func(k string) string {
		if k == "CHAINRUN_PROFILE" {
			return "tor"
		}
		return ""
	}
	if plan, err = planRun(opts, env, discardLog()); err != nil || plan.profile == nil || plan.profile.Name != "tor" {
		t.Errorf("CHAINRUN_PROFILE=tor: %v %v", plan, err)
	}
}

// discardLog is a connLog that writes nowhere.
func discardLog() *connLog { return &connLog{out: log.New(io.Discard, "", 0)} }
