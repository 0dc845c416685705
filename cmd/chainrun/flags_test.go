package main

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseRunArgs(t *testing.T) {
	cases := []struct {
		args    []string
		argv    []string
		proxies []string
		verbose bool
		quiet   bool
		connect time.Duration
	}{
		{[]string{"-x", "socks5://127.0.0.1:1080", "curl", "-v", "http://x/"}, []string{"curl", "-v", "http://x/"}, []string{"socks5://127.0.0.1:1080"}, false, false, 0},
		{[]string{"-v", "--proxy=socks5h://h:1", "--", "-weird-name"}, []string{"-weird-name"}, []string{"socks5h://h:1"}, true, false, 0},
		{[]string{"-xsocks5://a:1", "-x", "socks5://b:2", "-q", "true"}, []string{"true"}, []string{"socks5://a:1", "socks5://b:2"}, false, true, 0},
		{[]string{"--connect-timeout", "2s", "-x", "socks5://a:1", "sh", "-c", "exit 3"}, []string{"sh", "-c", "exit 3"}, []string{"socks5://a:1"}, false, false, 2 * time.Second},
		{[]string{"-x", "socks5://a:1", "-", "x"}, []string{"-", "x"}, []string{"socks5://a:1"}, false, false, 0},
		{[]string{"--chain=random", "--chain-len", "2", "-x", "socks4a://a:1", "-x", "http://u:p@[::1]:3128", "-x", "socks4://b", "curl"}, []string{"curl"},
			[]string{"socks4a://a:1", "http://u:***@[::1]:3128", "socks4://b:1080"}, false, false, 0},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			o, err := parseRunArgs(c.args)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(o.argv, c.argv) {
				t.Errorf("argv %q, want %q", o.argv, c.argv)
			}
			var got []string
			for _, p := range o.proxies {
				got = append(got, p.String())
			}
			if !reflect.DeepEqual(got, c.proxies) {
				t.Errorf("proxies %q, want %q", got, c.proxies)
			}
			if o.verbose != c.verbose || o.quiet != c.quiet || o.connectTimeout != c.connect {
				t.Errorf("verbose %v quiet %v connect %v", o.verbose, o.quiet, o.connectTimeout)
			}
		})
	}
}

func TestParseRunArgsErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{}, "no command"},
		{[]string{"-x", "socks5://a:1"}, "no command"},
		{[]string{"-x"}, "needs a value"},
		{[]string{"--bogus", "curl"}, "unknown flag --bogus"},
		{[]string{"-vq", "curl"}, "unknown flag -vq"},
		{[]string{"-v", "-q", "-x", "socks5://a:1", "curl"}, "contradict"},
		{[]string{"-x", "ftp://a:1", "curl"}, "unsupported scheme"},
		{[]string{"--chain", "zigzag", "-x", "socks5://a:1", "curl"}, "unknown chain mode"},
		{[]string{"--dns", "proxy", "-x", "socks5://a:1", "curl"}, "want remote, local, tunnel or tor-resolve"},
		{[]string{"--udp", "proxy", "-x", "socks5://a:1", "curl"}, `flag --udp: "proxy": want block, direct`},
		{[]string{"--leaks", "no", "-x", "socks5://a:1", "curl"}, `flag --leaks: "no": want block, allow`},
		{[]string{"--isolate", "pid", "-x", "socks5://a:1", "curl"}, `flag --isolate: "pid": want none, run, process, connection, destination`},
		{[]string{"--chain-len", "0", "-x", "socks5://a:1", "curl"}, "positive number"},
		{[]string{"--chain-len", "3", "-x", "socks5://a:1", "-x", "socks5://b:1", "curl"}, "more than the 2 proxies"},
		{[]string{"--connect-timeout", "soon", "-x", "socks5://a:1", "curl"}, "positive duration"},
		{[]string{"-v=1", "curl"}, "takes no value"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			_, err := parseRunArgs(c.args)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
		})
	}
	if _, err := parseRunArgs([]string{"-h"}); !errors.Is(err, errHelp) {
		t.Errorf("-h: %v", err)
	}
	if _, err := parseRunArgs([]string{"--version", "x"}); !errors.Is(err, errVersion) {
		t.Errorf("--version: %v", err)
	}
}

// TestRunExitCodes covers chainrun's own statuses, which need no tracing.
func TestRunExitCodes(t *testing.T) {
	cases := []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{[]string{"--help"}, 0, "Usage: chainrun", ""},
		{[]string{"--version"}, 0, "chainrun " + version, ""},
		{[]string{"-f", "/nonexistent/proxychains.toml", "curl"}, 125, "", "chainrun: reading the configuration"},
		{[]string{"--nope"}, 125, "", "Try 'chainrun --help'"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), c.args, &out, &errOut)
			if code != c.code || !strings.Contains(out.String(), c.stdout) || !strings.Contains(errOut.String(), c.stderr) {
				t.Fatalf("exit %d stdout %q stderr %q", code, out.String(), errOut.String())
			}
			if lines := strings.Count(strings.TrimSpace(errOut.String()), "\n"); lines > 1 {
				t.Errorf("more than two lines of error: %q", errOut.String())
			}
		})
	}
}

func TestPtraceOnlyEnv(t *testing.T) {
	for _, c := range []struct {
		val  string
		want bool
	}{{"", false}, {"0", false}, {"no", false}, {"1", true}, {"true", true}, {"YES", true}, {"on", true}} {
		got := ptraceOnly(func(k string) string {
			if k == ptraceOnlyEnv {
				return c.val
			}
			return ""
		})
		if got != c.want {
			t.Errorf("%s=%q: ptraceOnly = %v, want %v", ptraceOnlyEnv, c.val, got, c.want)
		}
	}
}
