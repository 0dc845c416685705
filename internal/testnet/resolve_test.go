package testnet

import (
	"debug/elf"
	"slices"
	"strings"
	"testing"
	"time"
)

// The name-resolving fixtures: on the host they resolve localhost (hosts
// file, no DNS) and fetch from a loopback target; in the client namespace,
// where only the DNS logger answers, they send real DNS queries (which
// chainrun's remote DNS must catch) and fail to resolve.

func TestResolveGet(t *testing.T) {
	lt := startLocalTarget(t)
	for _, name := range []string{"resolve_get", "resolve_get_musl"} {
		t.Run(name, func(t *testing.T) {
			bin := progs.Path(t, name)
			out, code := run(t, bin, "-list", "-4", "localhost", lt.port4)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, out)
			}
			wantLines(t, out, "address: 127.0.0.1")
			out, code = run(t, bin, "-4", "localhost", lt.port4, "/index.html")
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, out)
			}
			wantLines(t, out, "address: 127.0.0.1", "connect 127.0.0.1: 0", "HTTP/1.0 200 OK")
			if !strings.Contains(out, TargetPage) {
				t.Errorf("no page:\n%s", out)
			}
			out, code = run(t, bin, "-4", "localhost", closedPort(t))
			if code != 3 || !strings.Contains(out, "connect 127.0.0.1: ECONNREFUSED") {
				t.Errorf("closed port: exit %d\n%s", code, out)
			}
			out, code = run(t, bin, "-list", "no-such-name.invalid", "80")
			if code != 6 || !strings.HasPrefix(out, "getaddrinfo: ") {
				t.Errorf("unknown name: exit %d\n%s", code, out)
			}
		})
	}
	f, err := elf.Open(progs.Path(t, "resolve_get"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if libs, _ := f.ImportedLibraries(); !slices.Contains(libs, "libc.so.6") {
		t.Errorf("resolve_get is not linked with glibc: %v", libs)
	}
}

func TestGoCgoGet(t *testing.T) {
	lt := startLocalTarget(t)
	bin := progs.Path(t, "gocgoget")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	libs, _ := f.ImportedLibraries()
	f.Close()
	if !slices.Contains(libs, "libc.so.6") {
		t.Errorf("gocgoget is not linked with glibc: %v", libs)
	}
	out, errOut, code := runProc(t, 30*time.Second, "", []string{"GODEBUG=netdns=1"}, []string{bin, "-lookup", "localhost"})
	if code != 0 || !strings.Contains(out, "resolver: cgo\n") || !strings.Contains(out, "address: 127.0.0.1") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if !strings.Contains(errOut, "cgo") {
		t.Errorf("GODEBUG=netdns=1 does not say the cgo resolver is used:\n%s", errOut)
	}
	out, code = run(t, bin, "http://localhost:"+lt.port4+"/index.html")
	if code != 0 || !strings.Contains(out, TargetPage) {
		t.Errorf("exit %d\n%s", code, out)
	}
}

// TestResolversLeak: without chainrun, every resolver that the end-to-end
// tests use sends its queries to the client's nameserver, where the DNS
// logger records them: the proof that those tests would see a leak.
func TestResolversLeak(t *testing.T) {
	tp := New(t)
	d := tp.StartDNSLogger(t)
	name := "leak." + TargetName
	url := "http://" + name + ":8080/index.html"
	cases := []struct {
		prog string
		argv []string
		env  []string
		want string // in stdout
	}{
		{"glibc getaddrinfo", []string{progs.Path(t, "resolve_get"), "-list", name, "8080"}, nil, "getaddrinfo: "},
		{"musl getaddrinfo", []string{progs.Path(t, "resolve_get_musl"), "-list", name, "8080"}, nil, "getaddrinfo: "},
		{"Go cgo", []string{progs.Path(t, "gocgoget"), "-lookup", name}, nil, "resolver: cgo"},
		{"pure Go", []string{progs.Path(t, "gohttpget"), url}, []string{"GODEBUG=netdns=go"}, "error: "},
	}
	for _, mode := range []string{"sendto", "sendmsg", "connect", "tcp"} {
		for _, server := range []string{ClientNameserver.String(), ClientNameserver6.String()} {
			want := "rcode: 2\n"
			if mode == "sendto" || mode == "sendmsg" {
				want = "from: " + server + " 53\nrcode: 2\n"
			}
			cases = append(cases, struct {
				prog string
				argv []string
				env  []string
				want string
			}{"python " + mode + " " + server, []string{"python3", progs.Path(t, "pydnsquery"), mode, server, name, "AAAA"}, nil, want})
		}
	}
	for _, c := range cases {
		t.Run(c.prog, func(t *testing.T) {
			start := time.Now()
			out, errOut, code := tp.Run(t, 30*time.Second, tp.Client, c.env, c.argv...)
			if code == 0 || !strings.Contains(out, c.want) {
				t.Errorf("exit %d, want a failure and %q: resolved %s without anyone who knows it?\n%s%s", code, c.want, name, out, errOut)
			}
			if el := time.Since(start); el > 8*time.Second {
				t.Errorf("took %v", el)
			}
			d.WaitQueries(1, 2*time.Second)
			got := d.Take()
			found := false
			for _, q := range got {
				found = found || strings.EqualFold(q.Name, name) && (q.Type == "A" || q.Type == "AAAA")
			}
			if !found {
				t.Errorf("the logger saw no query for %s: %v\n%s%s", name, got, out, errOut)
			}
			t.Logf("queries: %v", got)
		})
	}
}
