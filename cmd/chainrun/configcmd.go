package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/chainrun/chainrun/chain"
	"github.com/chainrun/chainrun/chain/config"
	"github.com/chainrun/chainrun/chain/fakedns"
)

const configUsage = `Usage: chainrun config check [-f FILE]
       chainrun config show [-f FILE] [-p NAME] [COMMAND]
       chainrun config convert FILE
       chainrun route [-f FILE] [-p NAME] [-c COMMAND] HOST:PORT

check    validates the configuration (the file chainrun would use, or FILE)
show     prints the profile a run would use, each setting with its source;
         passwords as ***. COMMAND picks the profile as a run of it would.
convert  prints the proxychains.toml equivalent of a proxychains.conf
route    says which rule and chain a connection to HOST:PORT would take
`

// configArgs are the flags config and route take.
type configArgs struct {
	file, profile, command string
	rest                   []string
}

func parseConfigArgs(args []string) (*configArgs, error) {
	o := &configArgs{}
	c := &cmdline{args: args}
	for ; c.i < len(args); c.i++ {
		a := args[c.i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			o.rest = append(o.rest, a)
			continue
		}
		c.name, c.inline, c.hasInline = strings.Cut(a, "=")
		var err error
		switch c.name {
		case "-f", "--config":
			o.file, err = c.value()
		case "-p", "--profile":
			o.profile, err = c.value()
		case "-c", "--command":
			o.command, err = c.value()
		case "-h", "--help":
			return nil, errHelp
		default:
			return nil, fmt.Errorf("unknown flag %s", c.name)
		}
		if err != nil {
			return nil, err
		}
	}
	return o, nil
}

// loadConfig finds and loads the configuration for config and route.
func loadConfig(file string) (*config.Config, error) {
	path, err := config.Find(file, os.Getenv)
	if err != nil {
		return nil, err
	}
	if path == "" {
		return nil, errors.New("no configuration file: give -f FILE, set $CHAINRUN_CONFIG, or write ./proxychains.toml or ~/.config/chainrun/proxychains.toml")
	}
	return config.Load(path)
}

// configMain runs `chainrun config …`.
func configMain(args []string, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "chainrun: %v\n", err)
		return exitFailure
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stdout, configUsage)
		if len(args) == 0 {
			return exitFailure
		}
		return exitOK
	}
	verb := args[0]
	o, err := parseConfigArgs(args[1:])
	if errors.Is(err, errHelp) {
		fmt.Fprint(stdout, configUsage)
		return exitOK
	}
	if err != nil {
		return fail(err)
	}
	switch verb {
	case "check":
		cfg, err := loadConfig(o.file)
		if err != nil {
			return fail(err)
		}
		for _, w := range append(cfg.Warnings, cfg.Unusable...) {
			fmt.Fprintf(stderr, "chainrun: warning: %s\n", w)
		}
		fmt.Fprintf(stdout, "%s: ok, %d profile(s): %s\n", cfg.Path, len(cfg.Order), strings.Join(cfg.Order, ", "))
		return exitOK
	case "show":
		cfg, err := loadConfig(o.file)
		if err != nil {
			return fail(err)
		}
		command := o.command
		if len(o.rest) > 0 {
			command = o.rest[0]
		}
		sel, err := cfg.Select(o.profile, os.Getenv("CHAINRUN_PROFILE"), command)
		if err != nil {
			return fail(err)
		}
		showProfile(stdout, cfg, sel)
		return exitOK
	case "convert":
		if len(o.rest) != 1 {
			return fail(errors.New("config convert takes one FILE"))
		}
		data, err := os.ReadFile(o.rest[0])
		if err != nil {
			return fail(err)
		}
		f, warns, err := config.ParseProxychainsConf(o.rest[0], data)
		if err != nil {
			return fail(err)
		}
		for _, w := range warns {
			fmt.Fprintf(stderr, "chainrun: warning: %s\n", w)
		}
		out, err := config.Convert(f)
		if err != nil {
			return fail(err)
		}
		stdout.Write(out)
		return exitOK
	}
	return fail(fmt.Errorf("config: unknown command %q (want check, show or convert)", verb))
}

// routeMain runs `chainrun route HOST:PORT`.
func routeMain(args []string, stdout, stderr io.Writer) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "chainrun: %v\n", err)
		return exitFailure
	}
	o, err := parseConfigArgs(args)
	if errors.Is(err, errHelp) {
		fmt.Fprint(stdout, configUsage)
		return exitOK
	}
	if err != nil {
		return fail(err)
	}
	if len(o.rest) != 1 {
		return fail(errors.New("route takes one HOST:PORT"))
	}
	host, portText, err := net.SplitHostPort(o.rest[0])
	port, perr := strconv.ParseUint(portText, 10, 16)
	if err != nil || perr != nil || port == 0 {
		return fail(fmt.Errorf("route %q: want HOST:PORT, e.g. example.com:443 or [::1]:22", o.rest[0]))
	}
	cfg, err := loadConfig(o.file)
	if err != nil {
		return fail(err)
	}
	sel, err := cfg.Select(o.profile, os.Getenv("CHAINRUN_PROFILE"), o.command)
	if err != nil {
		return fail(err)
	}
	dest := chain.Destination{Host: host, Port: uint16(port)}
	if ip, err := netip.ParseAddr(host); err == nil {
		dest = chain.Destination{Addr: ip, Port: uint16(port)}
		if rewritten := sel.Profile.Rewrite(netip.AddrPortFrom(ip, uint16(port))); rewritten != netip.AddrPortFrom(ip, uint16(port)) {
			fmt.Fprintf(stdout, "dnat: %s -> %s\n", o.rest[0], rewritten)
			dest = chain.Destination{Addr: rewritten.Addr(), Port: rewritten.Port()}
		}
	}
	dec := sel.Profile.Router(config.Overrides{}).Decide(dest)
	why := "no rule matches"
	if dec.Rule != "default" {
		why = "rule " + dec.Rule + " matches " + dec.Pattern
	}
	switch dec.Action {
	case chain.ActionBlock:
		fmt.Fprintf(stdout, "%s: blocked (%s) [profile %s]\n", o.rest[0], why, sel.Profile.Name)
	case chain.ActionDirect:
		fmt.Fprintf(stdout, "%s: direct (%s) [profile %s]\n", o.rest[0], why, sel.Profile.Name)
	default:
		fmt.Fprintf(stdout, "%s: via %s, %s (%s) [profile %s]\n", o.rest[0], chain.Route(dec.Dialer.Chain), dec.Dialer.Mode, why, sel.Profile.Name)
	}
	return exitOK
}

// showProfile prints a profile's effective settings with their sources.
func showProfile(w io.Writer, cfg *config.Config, sel config.Selection) {
	p := sel.Profile
	src := func(key string) string {
		if s, ok := p.Sources[key]; ok {
			return s
		}
		return "default"
	}
	durationOr := func(d, def time.Duration) string {
		if d == 0 {
			d = def
		}
		return d.String()
	}
	fmt.Fprintf(w, "profile    %s  (%s; %s)\n", p.Name, sel.Why, cfg.Path)
	fmt.Fprintf(w, "chain      %s  (%s: %s)\n", chain.Route(p.Chain), src("chain"), strings.Join(p.ChainNames, ", "))
	fmt.Fprintf(w, "mode       %s  (%s)\n", p.Mode, src("mode"))
	if p.ChainLen > 0 {
		fmt.Fprintf(w, "chain_len  %d  (%s)\n", p.ChainLen, src("chain_len"))
	}
	fmt.Fprintf(w, "connect_timeout  %s  (%s)\n", durationOr(p.ConnectTimeout, chain.DefaultConnectTimeout), src("connect_timeout"))
	fmt.Fprintf(w, "read_timeout     %s  (%s)\n", durationOr(p.ReadTimeout, chain.DefaultReadTimeout), src("read_timeout"))
	fmt.Fprintf(w, "timeout          %s  (%s)\n", durationOr(p.Timeout, chain.DefaultBudget), src("timeout"))
	fmt.Fprintf(w, "dns        %s  (%s)\n", p.DNS, src("dns"))
	if p.DNSServer.IsValid() {
		fmt.Fprintf(w, "dns_server %s  (%s)\n", p.DNSServer, src("dns_server"))
	}
	fmt.Fprintf(w, "udp        %s  (%s)\n", p.UDP, src("udp"))
	fmt.Fprintf(w, "leaks      %s  (%s)\n", p.Leaks, src("leaks"))
	fmt.Fprintf(w, "isolate    %s  (%s)\n", p.Isolate, src("isolate"))
	fmt.Fprintf(w, "pipeline   %v  (%s)\n", p.Pipeline, src("pipeline"))
	if p.DNS != "local" {
		v4, v6 := p.FakeIPv4, p.FakeIPv6
		if !v4.IsValid() {
			v4 = fakedns.DefaultIPv4Pool()
		}
		sv6 := "off"
		if !p.NoFakeIPv6 {
			if !v6.IsValid() {
				v6 = fakedns.DefaultIPv6Pool()
			}
			sv6 = v6.String()
		}
		fmt.Fprintf(w, "fake_ipv4  %s  (%s)\n", v4, src("fake_ipv4"))
		fmt.Fprintf(w, "fake_ipv6  %s  (%s)\n", sv6, src("fake_ipv6"))
	}
	if len(p.Commands) > 0 {
		fmt.Fprintf(w, "commands   %s\n", strings.Join(p.Commands, ", "))
	}
	patterns := func(ps []chain.Pattern) string {
		s := make([]string, len(ps))
		for i, p := range ps {
			s[i] = p.String()
		}
		return strings.Join(s, ", ")
	}
	if len(p.Block) > 0 {
		fmt.Fprintf(w, "block      %s\n", patterns(p.Block))
	}
	if len(p.Direct) > 0 {
		fmt.Fprintf(w, "direct     %s\n", patterns(p.Direct))
	}
	for i, r := range p.Rules {
		target := r.Action.String()
		if r.Action == chain.ActionProxy {
			target = "via " + chain.Route(r.Chain).String()
		}
		fmt.Fprintf(w, "rules[%d]   %s -> %s\n", i, patterns(r.Patterns), target)
	}
	addr := func(ap netip.AddrPort) string {
		if ap.Port() == 0 {
			return ap.Addr().String()
		}
		return ap.String()
	}
	for _, d := range p.DNAT {
		fmt.Fprintf(w, "dnat       %s -> %s\n", addr(d.From), addr(d.To))
	}
}
