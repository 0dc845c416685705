package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/chainrun/chainrun/chain"
	"github.com/chainrun/chainrun/chain/config"
)

const runUsage = `Usage: chainrun [flags] [--] COMMAND [ARGS...]
       chainrun serve [-l ADDR] [-u USER:PASS]... [-x URL]...  (see chainrun serve -h)
       chainrun config check|show|convert ...  (see chainrun config -h)
       chainrun route [-f FILE] [-p NAME] HOST:PORT
       chainrun check [-f FILE] [-p NAME] [-x URL]... [--target HOST:PORT]
       chainrun -p tor COMMAND  (Tor's SocksPort 127.0.0.1:9050, no config needed)

Runs COMMAND with every TCP connection it and its children make sent
through the proxy chain. No LD_PRELOAD: works for static and Go binaries.

Flags (they end at the first argument that is not a flag):
  -f, --config FILE          proxychains.toml, or a proxychains.conf to import
                             (default: $CHAINRUN_CONFIG, ./proxychains.toml,
                             ~/.config/chainrun/proxychains.toml,
                             /etc/chainrun/proxychains.toml)
  -p, --profile NAME         the profile to use (default: $CHAINRUN_PROFILE,
                             a profile whose commands name COMMAND, or
                             default_profile)
  -x, --proxy URL            add a hop: socks5://, socks5h://, socks4://,
                             socks4a:// or http://[user:pass@]host[:port];
                             repeat for a chain, in order (replaces the
                             profile's chain)
      --chain MODE           strict (default): every hop in order;
                             dynamic: in order, skipping hops that are down;
                             random: --chain-len random hops;
                             round-robin: --chain-len hops after the last used
      --chain-len N          hops per connection for random and round-robin
                             (default 2)
      --connect-timeout DUR  TCP connect to the first hop (default 10s)
      --read-timeout DUR     each hop's handshake, its connect onward
                             included (default 15s)
      --timeout DUR          a whole connection, retries included (default 30s)
      --dns MODE             where names are resolved (overrides the profile):
                             remote (default: fake addresses here, names
                             resolved by the last proxy), local (the program
                             asks this machine's resolvers: leaks names),
                             tunnel (DNS-over-TCP through the chain to the
                             profile's dns_server), tor-resolve (Tor's
                             SOCKS RESOLVE at the last hop)
      --udp block|direct     UDP to anywhere but loopback: refused with EPERM
                             (default; DNS is answered by chainrun) or sent
                             as it is
      --leaks block|allow    raw and packet sockets and io_uring: refused
                             (default) or allowed
      --pipeline             ask SOCKS5 hops in one round trip (greeting,
                             credentials and CONNECT in one write): for
                             proxies that accept it (Dante, OpenSSH, Tor,
                             chainrun serve; not microsocks)
      --isolate MODE         SOCKS5 credentials that keep connections apart
                             on the last hop (Tor's IsolateSOCKSAuth): none,
                             run, process, connection or destination
  -v, --verbose              one line per connection on stderr
  -q, --quiet                no warnings, not even failed connections
  -h, --help                 this help
      --version              print the version

Environment: CHAINRUN_CONFIG and CHAINRUN_PROFILE (above);
CHAINRUN_PTRACE_ONLY=1 stops every trapped call for ptrace instead of
handing connects to a seccomp listener (slower; for a COMMAND that loads a
seccomp listener of its own, which the kernel refuses under chainrun's).

Exit status: the command's; 128+N if signal N killed it; 125 if chainrun
failed; 126 if COMMAND cannot run; 127 if it was not found.
`

var (
	errHelp    = errors.New("help requested")
	errVersion = errors.New("version requested")
)

// runOptions is what the command line says for a run.
type runOptions struct {
	proxies        []*chain.Proxy
	configPath     string
	profile        string
	mode           *chain.Mode
	chainLen       int
	connectTimeout time.Duration
	readTimeout    time.Duration
	budget         time.Duration
	dns            string
	// udp, leaks and isolate override the profile's ("" keeps it).
	udp, leaks, isolate string
	pipeline            bool
	verbose, quiet      bool
	argv                []string
}

// parseRunArgs parses chainrun's flags up to the first argument that is
// not a flag, so that `chainrun curl -v URL` gives -v to curl.
func parseRunArgs(args []string) (*runOptions, error) {
	o := &runOptions{}
	c := &cmdline{args: args}
	for ; c.i < len(args); c.i++ {
		a := args[c.i]
		if a == "--" {
			c.i++
			break
		}
		if a == "-" || !strings.HasPrefix(a, "-") {
			break
		}
		c.name, c.inline, c.hasInline = strings.Cut(a, "=")
		if !strings.HasPrefix(a, "--") && len(a) > 2 && !c.hasInline {
			// -xURL, -pNAME, -fFILE: a short flag with its value attached.
			c.name, c.inline, c.hasInline = a[:2], a[2:], true
			if c.name != "-x" && c.name != "-p" && c.name != "-f" {
				return nil, fmt.Errorf("unknown flag %s", a)
			}
		}
		var err error
		switch c.name {
		case "-x", "--proxy":
			var p *chain.Proxy
			if p, err = c.proxy(); err == nil {
				o.proxies = append(o.proxies, p)
			}
		case "--connect-timeout":
			o.connectTimeout, err = c.duration()
		case "--read-timeout":
			o.readTimeout, err = c.duration()
		case "--timeout":
			o.budget, err = c.duration()
		case "--chain":
			var v string
			if v, err = c.value(); err == nil {
				var m chain.Mode
				m, err = chain.ParseMode(v)
				o.mode = &m
			}
		case "--dns":
			if o.dns, err = c.value(); err == nil && !slices.Contains([]string{"remote", "local", "tunnel", "tor-resolve"}, o.dns) {
				err = fmt.Errorf("flag --dns: %q: want remote, local, tunnel or tor-resolve", o.dns)
			}
		case "--udp":
			o.udp, err = c.choice(config.UDPModes)
		case "--leaks":
			o.leaks, err = c.choice(config.LeaksModes)
		case "--pipeline":
			o.pipeline, err = true, c.noValue()
		case "--isolate":
			o.isolate, err = c.choice(config.IsolateModes)
		case "-f", "--config":
			o.configPath, err = c.value()
		case "-p", "--profile":
			o.profile, err = c.value()
		case "--chain-len":
			o.chainLen, err = c.positive()
		case "-v", "--verbose":
			o.verbose, err = true, c.noValue()
		case "-q", "--quiet":
			o.quiet, err = true, c.noValue()
		case "-h", "--help":
			if err = c.noValue(); err == nil {
				return nil, errHelp
			}
		case "--version":
			if err = c.noValue(); err == nil {
				return nil, errVersion
			}
		default:
			return nil, fmt.Errorf("unknown flag %s", c.name)
		}
		if err != nil {
			return nil, err
		}
	}
	i := c.i
	o.argv = args[i:]
	if o.verbose && o.quiet {
		return nil, errors.New("-v and -q contradict each other")
	}
	if len(o.argv) == 0 {
		return nil, errors.New("no command given")
	}
	if len(o.proxies) > 0 && o.chainLen > len(o.proxies) {
		return nil, fmt.Errorf("--chain-len %d is more than the %d proxies given", o.chainLen, len(o.proxies))
	}
	return o, nil
}
