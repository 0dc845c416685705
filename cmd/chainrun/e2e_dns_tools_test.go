package main

import (
	"archive/zip"
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	osuser "os/user"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chainrun/chainrun/internal/testnet"
)

// Real tools fetching BY NAME under chainrun with remote DNS: headless
// Chromium, apt-get, the go command and git, in the client namespace, ask
// for testnet.TargetName, which only the proxy namespace resolves. Their
// DNS questions (Chromium's HTTPS records, apt's SRV record, the go
// command's pure-Go resolver, …) must all be answered by chainrun: the DNS
// logger on the client's nameservers must see none of them. One static
// HTTP server in the target namespace serves everything: a page, a flat
// Debian repository, a Go module proxy and a git repository (dumb HTTP); a
// git daemon serves git://.

const (
	dtHTTPPort   = 8080 // the target's static server
	dtGitPort    = 9418 // git daemon
	dtMicrosocks = 1080 // microsocks: socks5h
	dtTinyproxy  = 3128 // tinyproxy: http
	dtTimeout    = 30 * time.Second
	// Chromium starts a dozen processes under ptrace: give it more.
	dtChromiumTimeout = 60 * time.Second
	// The browser itself, behind Debian's /usr/bin/chromium script.
	dtChromiumBin = "/usr/lib/chromium/chromium"

	dtPage      = "chainrun-dns-tools-page-ok"
	dtDebName   = "chainrun-hello"
	dtDebVer    = "1.0-1"
	dtModule    = "example.test/hello"
	dtModVer    = "v1.0.0"
	dtGitReadme = "chainrun dns tools git README\n"
)

// dtNoProxyEnv keeps the tools' own proxy settings out of the way: chainrun
// is the only proxy.
var dtNoProxyEnv = []string{"http_proxy=", "HTTP_PROXY=", "https_proxy=", "HTTPS_PROXY=",
	"all_proxy=", "ALL_PROXY=", "no_proxy=", "NO_PROXY=", "ftp_proxy=", "FTP_PROXY="}

// dtDNSLine is one "chainrun: dns NAME TYPE -> ANSWER (HOW) 0.1ms" line of -v.
var dtDNSLine = regexp.MustCompile(`(?m)^chainrun: dns (\S+) (\S+) -> (.*?) \((.*)\) [0-9.]+ms$`)

// dtQuestion is one question that chainrun -v says it answered.
type dtQuestion struct{ name, qtype, answer, how string }

// dtQuestions returns the questions that chainrun -v logged in errOut.
func dtQuestions(errOut string) []dtQuestion {
	var qs []dtQuestion
	for _, m := range dtDNSLine.FindAllStringSubmatch(errOut, -1) {
		qs = append(qs, dtQuestion{m[1], m[2], m[3], m[4]})
	}
	return qs
}

// dtSummary lists the distinct "NAME TYPE (HOW)" of qs, sorted.
func dtSummary(qs []dtQuestion) string {
	var s []string
	for _, q := range qs {
		s = append(s, q.name+" "+q.qtype+" ("+q.how+")")
	}
	sort.Strings(s)
	return strings.Join(slices.Compact(s), "; ")
}

// dtAsked reports whether qs holds a question for name of type qtype, and
// whether every such question was answered in the way how ("nodata",
// "remote", …: the start of the HOW in parentheses).
func dtAsked(qs []dtQuestion, name, qtype, how string) (seen, allHow bool) {
	allHow = true
	for _, q := range qs {
		if q.name == name && q.qtype == qtype {
			seen = true
			allHow = allHow && strings.HasPrefix(q.how, how)
		}
	}
	return seen, allHow
}

// dtConnLine matches chainrun -v's line for a connection to
// TargetName:port at its fake address, made by program through proxy.
func dtConnLine(program string, port int, proxy string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^chainrun: ` + program + `\[\d+\] tcp ` + regexp.QuoteMeta(testnet.TargetName) + `:` +
		strconv.Itoa(port) + ` \((198\.1[89]\.[0-9.]+|fd63:6861:696e:[0-9a-f:]+)\) via ` + regexp.QuoteMeta(proxy) + ` ok`)
}

// dtTCPLine matches every proxied (or failed) TCP connection in -v:
// program, destination.
var dtTCPLine = regexp.MustCompile(`(?m)^chainrun: (\S+)\[\d+\] tcp (\S+) `)

// dtWorld is the topology of TestDNSToolsEndToEnd and what it serves.
type dtWorld struct {
	*dnsE2E
	root      string        // the static server's directory
	server    *testnet.Proc // the static server
	base      string        // http://TargetName:8080
	gitCommit string        // HEAD of the git daemon's repository
	webCommit string        // HEAD of the repository served over dumb HTTP
	modZip    []byte
	modSum    string // h1: hash of the module zip
	modGoMod  string // the module's go.mod
	debSHA256 string
}

// run runs argv under chainrun -v -x proxy in the client namespace, with
// env added (and no proxy variables).
func (w *dtWorld) run(t *testing.T, timeout time.Duration, env []string, proxy string, argv ...string) (stdout, stderr string, code int) {
	t.Helper()
	full := append([]string{w.bin, "-v", "-x", proxy, "--"}, argv...)
	return w.tp.Run(t, timeout, w.tp.Client, append(slices.Clone(dtNoProxyEnv), env...), full...)
}

// served reports whether the static server logged a GET of a path ending
// in suffix that came from the proxy namespace (never the client).
func (w *dtWorld) served(suffix string) bool {
	re := regexp.MustCompile(`(?m)^request GET \S*` + regexp.QuoteMeta(suffix) + ` from (10\.78\.0\.1|\[fd78::1\]):\d+$`)
	return re.MatchString(w.server.Output())
}

// dtCheckVia fails t unless errOut shows program's connection to the target
// by name through proxy.
func dtCheckVia(t *testing.T, errOut, program string, port int, proxy string) {
	t.Helper()
	if re := dtConnLine(program, port, proxy); !re.MatchString(errOut) {
		t.Errorf("-v has no line matching %s:\n%s", re, errOut)
	}
}

// dtWorldDir makes a directory that other users (apt's _apt) can enter,
// removed at the end of the test: t.TempDir's parents are private to root.
func dtWorldDir(t *testing.T, pattern string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func dtWrite(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func dtSHA256(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// buildAptRepo writes a flat Debian repository into dir: one trivial
// package (Architecture: all) built with dpkg-deb, a Packages file and an
// unsigned Release file (the source is [trusted=yes]). It returns the
// package's SHA-256.
func (w *dtWorld) buildAptRepo(t *testing.T, dir string) string {
	t.Helper()
	dpkgDeb := testnet.NeedCommand(t, "dpkg-deb")
	pkg := filepath.Join(t.TempDir(), "pkg")
	control := "Package: " + dtDebName + "\nVersion: " + dtDebVer + "\nArchitecture: all\n" +
		"Maintainer: chainrun tests <tests@chainrun.test>\nSection: misc\nPriority: optional\n" +
		"Description: chainrun remote DNS test package\n nothing inside but a README.\n"
	dtWrite(t, filepath.Join(pkg, "DEBIAN", "control"), []byte(control))
	dtWrite(t, filepath.Join(pkg, "usr", "share", "doc", dtDebName, "README"), []byte("chainrun apt test\n"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	debName := dtDebName + "_" + dtDebVer + "_all.deb"
	deb := filepath.Join(dir, debName)
	if _, errOut, code := w.tp.Run(t, dtTimeout, "", nil, dpkgDeb, "--root-owner-group", "-Zgzip", "--build", pkg, deb); code != 0 {
		t.Fatalf("dpkg-deb: exit %d\n%s", code, errOut)
	}
	b, err := os.ReadFile(deb)
	if err != nil {
		t.Fatal(err)
	}
	sum := dtSHA256(b)
	m := md5.Sum(b)
	stanza := strings.Replace(control, "Description:", fmt.Sprintf("Filename: ./%s\nSize: %d\nMD5sum: %x\nSHA256: %s\nDescription:",
		debName, len(b), m, sum), 1)
	dtWrite(t, filepath.Join(dir, "Packages"), []byte(stanza))
	pm := md5.Sum([]byte(stanza))
	release := fmt.Sprintf("Origin: chainrun\nLabel: chainrun\nSuite: chainrun-test\nCodename: chainrun-test\n"+
		"Date: Tue, 14 Nov 2023 22:13:20 UTC\nArchitectures: all amd64 arm64\n"+
		"MD5Sum:\n %x %d Packages\nSHA256:\n %s %d Packages\n", pm, len(stanza), dtSHA256([]byte(stanza)), len(stanza))
	dtWrite(t, filepath.Join(dir, "Release"), []byte(release))
	return sum
}

// dtHash1 is golang.org/x/mod/sumdb/dirhash.Hash1 over files (name → content):
// what the go command reports as a module's Sum (the zip's file names) and
// GoModSum (the one name "go.mod").
func dtHash1(files map[string][]byte) string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s  %s\n", dtSHA256(files[n]), n)
	}
	return "h1:" + base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// buildGoProxy writes the GOPROXY protocol's files for dtModule@dtModVer
// under dir (static files: list, .info, .mod, .zip).
func (w *dtWorld) buildGoProxy(t *testing.T, dir string) {
	t.Helper()
	w.modGoMod = "module " + dtModule + "\n\ngo 1.21\n"
	prefix := dtModule + "@" + dtModVer + "/"
	files := map[string][]byte{
		prefix + "go.mod":   []byte(w.modGoMod),
		prefix + "hello.go": []byte("// Package hello says hello through chainrun.\npackage hello\n\nconst Hello = \"hello by name\"\n"),
		prefix + "LICENSE":  []byte("Public domain.\n"),
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f, err := zw.Create(n)
		if err == nil {
			_, err = f.Write(files[n])
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	w.modZip, w.modSum = buf.Bytes(), dtHash1(files)
	v := filepath.Join(dir, filepath.FromSlash(dtModule), "@v")
	dtWrite(t, filepath.Join(v, "list"), []byte(dtModVer+"\n"))
	dtWrite(t, filepath.Join(v, dtModVer+".info"), []byte(`{"Version":"`+dtModVer+`","Time":"2023-11-14T22:13:20Z"}`+"\n"))
	dtWrite(t, filepath.Join(v, dtModVer+".mod"), []byte(w.modGoMod))
	dtWrite(t, filepath.Join(v, dtModVer+".zip"), w.modZip)
}

// dtGitEnv is git's environment: no system or global configuration, no
// prompt, a fixed author and date.
func dtGitEnv(home string) []string {
	return []string{"HOME=" + home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=chainrun tests", "GIT_AUTHOR_EMAIL=tests@chainrun.test", "GIT_AUTHOR_DATE=1700000000 +0000",
		"GIT_COMMITTER_NAME=chainrun tests", "GIT_COMMITTER_EMAIL=tests@chainrun.test", "GIT_COMMITTER_DATE=1700000000 +0000"}
}

// buildGitRepo makes the bare repository repo (one commit: README) ready
// for dumb HTTP (git update-server-info) and returns its commit.
func (w *dtWorld) buildGitRepo(t *testing.T, repo string) string {
	t.Helper()
	git := testnet.NeedCommand(t, "git")
	home := t.TempDir()
	env := append(dtGitEnv(home), "GIT_INDEX_FILE="+filepath.Join(home, "index"))
	g := func(args ...string) string {
		t.Helper()
		out, errOut, code := w.tp.Run(t, dtTimeout, "", env, append([]string{git, "--git-dir=" + repo}, args...)...)
		if code != 0 {
			t.Fatalf("git %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
		}
		return strings.TrimSpace(out)
	}
	if err := os.MkdirAll(filepath.Dir(repo), 0o755); err != nil {
		t.Fatal(err)
	}
	g("init", "-q", "--bare", "--initial-branch=main", "--object-format=sha1")
	readme := filepath.Join(home, "README")
	dtWrite(t, readme, []byte(dtGitReadme))
	blob := g("hash-object", "-w", "--no-filters", readme)
	g("update-index", "--add", "--cacheinfo", "100644,"+blob+",README")
	commit := g("commit-tree", "-m", "chainrun dns tools", g("write-tree"))
	g("update-ref", "refs/heads/main", commit)
	g("update-server-info")
	return commit
}

func setupDNSTools(t *testing.T) *dtWorld {
	t.Helper()
	tp := testnet.New(t)
	w := &dtWorld{dnsE2E: &dnsE2E{tp: tp, dl: tp.StartDNSLogger(t), progs: testnet.SharedPrograms()}}
	w.bin = buildChainrun(t)
	w.base = "http://" + net.JoinHostPort(testnet.TargetName, strconv.Itoa(dtHTTPPort))

	w.root = t.TempDir()
	dtWrite(t, filepath.Join(w.root, "index.html"), []byte("<html><head><title>chainrun</title></head><body><p>"+dtPage+"</p></body></html>\n"))
	w.debSHA256 = w.buildAptRepo(t, filepath.Join(w.root, "apt"))
	w.buildGoProxy(t, filepath.Join(w.root, "goproxy"))
	w.webCommit = w.buildGitRepo(t, filepath.Join(w.root, "git", "repo.git"))
	a4 := net.JoinHostPort(tp.TargetIP.String(), strconv.Itoa(dtHTTPPort))
	a6 := net.JoinHostPort(tp.TargetIP6.String(), strconv.Itoa(dtHTTPPort))
	w.server = tp.Start(t, tp.Target, w.progs.Path(t, "target"), "-dir", w.root, "-listen", a4, "-listen", a6)
	tp.WaitListen(t, tp.Target, a4)
	tp.WaitListen(t, tp.Target, a6)
	w.gitCommit = tp.StartGitDaemon(t, dtGitPort, dtGitReadme)
	tp.StartMicrosocks(t, dtMicrosocks, "", "")
	tp.StartTinyproxy(t, dtTinyproxy, "", "")
	// The premise: no way to the target but through a proxy.
	for _, port := range []int{dtHTTPPort, dtGitPort} {
		if c, err := tp.DialFrom(tp.Client, net.JoinHostPort(tp.TargetIP.String(), strconv.Itoa(port)), time.Second); err == nil {
			c.Close()
			t.Fatalf("the client namespace reaches the target's port %d directly: the topology is broken", port)
		}
	}
	return w
}

func TestDNSToolsEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests are not short")
	}
	w := setupDNSTools(t)
	name := testnet.TargetName
	microsocks := proxyURL("socks5h", dtMicrosocks)
	tinyproxy := proxyURL("http", dtTinyproxy)
	proxies := []struct{ name, url string }{{"microsocks socks5h", microsocks}, {"tinyproxy http", tinyproxy}}

	// Chromium is heavy: once, through microsocks.
	t.Run("chromium headless/microsocks socks5h", func(t *testing.T) {
		chromium := testnet.NeedCommand(t, "chromium")
		// Debian's /usr/bin/chromium is a wrapper script that adds
		// --enable-remote-extensions (extension updates) and more: run
		// the browser itself when it is there.
		if _, err := os.Stat(dtChromiumBin); err == nil {
			chromium = dtChromiumBin
		}
		w.noLeak(t)
		home := t.TempDir()
		env := []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "XDG_CACHE_HOME=" + filepath.Join(home, ".cache"),
			"DBUS_SESSION_BUS_ADDRESS=disabled:"}
		url := w.base + "/index.html"
		out, errOut, code := w.run(t, dtChromiumTimeout, env, microsocks, chromium,
			"--headless=new", "--no-sandbox", "--disable-gpu", "--user-data-dir="+filepath.Join(home, "profile"),
			// Nothing that phones home: no first run, sync, component or
			// extension updates, crash reports, safe browsing, metrics,
			// network time, hints.
			"--no-first-run", "--no-default-browser-check", "--disable-background-networking",
			"--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions",
			"--disable-component-extensions-with-background-pages",
			"--disable-breakpad", "--disable-crash-reporter", "--disable-client-side-phishing-detection",
			"--disable-domain-reliability", "--no-pings", "--metrics-recording-only", "--safebrowsing-disable-auto-update",
			"--disable-field-trial-config", "--password-store=basic", "--no-service-autorun",
			"--disable-features=OptimizationHints,MediaRouter,Translate,AutofillServerCommunication,"+
				"CertificateTransparencyComponentUpdater,NetworkTimeServiceQuerying,DialMediaRouteProvider,"+
				"InterestFeedContentSuggestions,PrivacySandboxSettings4,SafeBrowsingEnhancedProtection",
			// What the flags above do not stop (Chromium 156 still asks
			// update.googleapis.com for component updates): every other
			// host name fails inside Chromium, unasked. The target's name
			// is excluded: Chromium's own resolver asks for it (A and the
			// HTTPS record) as for any name, and chainrun answers.
			"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE "+name,
			"--dump-dom", url)
		if code != 0 || !strings.Contains(out, dtPage) {
			t.Fatalf("exit %d, want 0 and the page\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		qs := dtQuestions(errOut)
		t.Logf("Chromium asked: %s", dtSummary(qs))
		// For a port other than 443 the HTTPS record is asked as
		// _PORT._https.NAME (RFC 9460, section 9.1).
		https := "_" + strconv.Itoa(dtHTTPPort) + "._https." + name
		seenHTTPS, okHTTPS := dtAsked(qs, https, "HTTPS", "nodata")
		if seen, ok := dtAsked(qs, name, "HTTPS", "nodata"); seen {
			seenHTTPS, okHTTPS = true, okHTTPS && ok
		}
		if !seenHTTPS || !okHTTPS {
			t.Errorf("no HTTPS question for %s or %s, or not answered nodata (seen %t):\n%s", name, https, seenHTTPS, errOut)
		}
		if seen, ok := dtAsked(qs, name, "A", "remote"); !seen || !ok {
			t.Errorf("no A question for %s answered with a fake address (seen %t):\n%s", name, seen, errOut)
		}
		for _, q := range qs {
			if q.name != name && q.name != https {
				t.Errorf("Chromium asked for %s %s: a background request that neither the flags nor --host-resolver-rules stopped", q.name, q.qtype)
			}
		}
		dtCheckVia(t, errOut, `[^\[\s]+`, dtHTTPPort, microsocks)
		// Chromium's background connections would go to the proxy too
		// (and get nowhere: the proxy namespace has no way out); none is
		// left, and the page does not depend on them.
		for _, m := range dtTCPLine.FindAllStringSubmatch(errOut, -1) {
			if !strings.HasPrefix(m[2], name+":") {
				t.Errorf("Chromium connected elsewhere: %s", m[0])
			}
		}
		// Chromium also connect()s a UDP socket to 2001:4860:4860::8888
		// port 443 to learn whether IPv6 reaches the Internet: no packet
		// is sent (and the client namespace has no route there), chainrun
		// lets it be and -v lists it.
		for _, m := range regexp.MustCompile(`(?m)^chainrun: \S+\[\d+\] udp .*$`).FindAllString(errOut, -1) {
			if !strings.Contains(m, ":53 dns, answered by chainrun") {
				t.Logf("UDP: %s", m)
			}
		}
		if !w.served("/index.html") {
			t.Errorf("the target's server did not log a GET /index.html from the proxy:\n%s", w.server.Output())
		}
	})

	t.Run("apt-get update and download", func(t *testing.T) {
		testnet.NeedCommand(t, "apt-get")
		for _, px := range proxies {
			t.Run(px.name, func(t *testing.T) {
				w.noLeak(t)
				w.apt(t, px.url)
			})
		}
	})

	t.Run("go mod download", func(t *testing.T) {
		goCmd := testnet.NeedCommand(t, "go")
		for _, px := range proxies {
			t.Run(px.name, func(t *testing.T) {
				w.noLeak(t)
				out, errOut, code := w.run(t, dtTimeout, w.goEnv(t), px.url, w.goArgv(t, goCmd)...)
				if code != 0 {
					t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
				}
				w.checkGoDownload(t, out)
				t.Logf("go asked: %s", dtSummary(dtQuestions(errOut)))
				dtCheckVia(t, errOut, "go", dtHTTPPort, px.url)
			})
		}
	})

	t.Run("git clone", func(t *testing.T) {
		git := testnet.NeedCommand(t, "git")
		cases := []struct {
			name, url, proxy, commit string
			port                     int
		}{
			{"dumb http/microsocks socks5h", w.base + "/git/repo.git", microsocks, w.webCommit, dtHTTPPort},
			{"dumb http/tinyproxy http", w.base + "/git/repo.git", tinyproxy, w.webCommit, dtHTTPPort},
			{"git daemon/microsocks socks5h", "git://" + net.JoinHostPort(name, strconv.Itoa(dtGitPort)) + "/repo.git", microsocks, w.gitCommit, dtGitPort},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				w.noLeak(t)
				home := t.TempDir()
				dir := filepath.Join(home, "clone")
				out, errOut, code := w.run(t, dtTimeout, dtGitEnv(home), c.proxy, git, "clone", c.url, dir)
				if code != 0 {
					t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
				}
				if b, err := os.ReadFile(filepath.Join(dir, "README")); err != nil || string(b) != dtGitReadme {
					t.Errorf("README = %q, %v; want %q", b, err, dtGitReadme)
				}
				if head, e, _ := w.tp.Run(t, dtTimeout, "", dtGitEnv(home), git, "-C", dir, "rev-parse", "HEAD"); strings.TrimSpace(head) != c.commit {
					t.Errorf("HEAD = %q, want %s (%s)", head, c.commit, e)
				}
				t.Logf("git asked: %s", dtSummary(dtQuestions(errOut)))
				dtCheckVia(t, errOut, `[^\[\s]+`, c.port, c.proxy)
			})
		}
		if !w.served("/git/repo.git/info/refs") {
			t.Errorf("the target's server did not log a GET of info/refs from the proxy:\n%s", w.server.Output())
		}
	})

	// The logger is in the path, and the name resolves nowhere but in the
	// proxy namespace: the same fetches without chainrun ask the client's
	// nameservers (the logger sees them) and fail.
	t.Run("control: without chainrun the queries reach the logger", func(t *testing.T) {
		goCmd := testnet.NeedCommand(t, "go")
		git := testnet.NeedCommand(t, "git")
		home := t.TempDir()
		for _, c := range []struct {
			what string
			env  []string
			argv []string
		}{
			{"go mod download", w.goEnv(t), w.goArgv(t, goCmd)},
			{"git clone", dtGitEnv(home), []string{git, "clone", w.base + "/git/repo.git", filepath.Join(home, "clone")}},
			{"apt-get update", nil, append([]string{"apt-get"}, append(w.aptArgs(t, dtWorldDir(t, "chainrun-apt-")), "update")...)},
		} {
			out, errOut, code := w.tp.Run(t, dtTimeout, w.tp.Client, append(slices.Clone(dtNoProxyEnv), c.env...), c.argv...)
			w.dl.WaitQueries(1, 2*time.Second)
			got := w.dl.Take()
			seen := false
			for _, q := range got {
				seen = seen || strings.HasSuffix(q.Name, name)
			}
			if !seen {
				t.Errorf("%s: the DNS logger saw no query for %s (saw %v): it would not see a leak either\nstdout: %s\nstderr: %s", c.what, name, got, out, errOut)
			}
			failed := code != 0 || strings.Contains(out+errOut, "Temporary failure resolving") || strings.Contains(out+errOut, "Could not resolve")
			if !failed {
				t.Errorf("%s: exit %d and no resolver failure without chainrun?\nstdout: %s\nstderr: %s", c.what, code, out, errOut)
			}
			t.Logf("%s without chainrun: exit %d; the logger saw %v", c.what, code, got)
		}
	})
}

// goEnv is the go command's environment: the module proxy by name, a
// fresh module cache and GOPATH, no checksum database, no toolchain
// switch, no telemetry, no user go env file.
func (w *dtWorld) goEnv(t *testing.T) []string {
	t.Helper()
	tmp := t.TempDir()
	return []string{"GOPROXY=" + w.base + "/goproxy", "GOSUMDB=off", "GONOSUMDB=" + dtModule,
		"GOPRIVATE=", "GONOPROXY=", "GOINSECURE=", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "GOTELEMETRY=off", "GOENV=off",
		"GOPATH=" + filepath.Join(tmp, "gopath"), "GOMODCACHE=" + filepath.Join(tmp, "modcache"),
		"GOCACHE=" + filepath.Join(tmp, "gocache"), "HOME=" + tmp, "XDG_CONFIG_HOME=" + filepath.Join(tmp, ".config"),
		"GO111MODULE=on", "CGO_ENABLED=0"}
}

// goArgv is `go mod download -json MODULE@VERSION`, run in an empty
// directory (outside any module: never this repository's go.mod).
func (w *dtWorld) goArgv(t *testing.T, goCmd string) []string {
	return []string{"env", "-C", t.TempDir(), goCmd, "mod", "download", "-json", dtModule + "@" + dtModVer}
}

// checkGoDownload checks the -json output of go mod download: the module's
// hashes are those of what was served, and its files are in the cache.
func (w *dtWorld) checkGoDownload(t *testing.T, out string) {
	t.Helper()
	var m struct{ Path, Version, Error, Info, GoMod, Zip, Dir, Sum, GoModSum string }
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("go mod download -json: %v\n%s", err, out)
	}
	if m.Error != "" || m.Path != dtModule || m.Version != dtModVer {
		t.Fatalf("go mod download -json: %+v", m)
	}
	if m.Sum != w.modSum || m.GoModSum != dtHash1(map[string][]byte{"go.mod": []byte(w.modGoMod)}) {
		t.Errorf("Sum %s GoModSum %s; want %s and the hash of the served go.mod", m.Sum, m.GoModSum, w.modSum)
	}
	if b, err := os.ReadFile(filepath.Join(m.Dir, "hello.go")); err != nil || !strings.Contains(string(b), "hello by name") {
		t.Errorf("%s/hello.go: %q, %v", m.Dir, b, err)
	}
	if b, err := os.ReadFile(m.Zip); err != nil || !bytes.Equal(b, w.modZip) {
		t.Errorf("%s is not the served zip (%d bytes, %v)", m.Zip, len(b), err)
	}
}

// aptArgs are apt-get's options that keep it off this machine's apt
// state: its own sources list (only the test repository, by name), no
// sources.list.d, lists and caches under dir, no lock; the machine's
// apt.conf.d still applies, as for any apt-get.
func (w *dtWorld) aptArgs(t *testing.T, dir string) []string {
	t.Helper()
	sources := filepath.Join(dir, "sources.list")
	dtWrite(t, sources, []byte("deb [trusted=yes] "+w.base+"/apt/ ./\n"))
	for _, d := range []string{"lists/partial", "cache/archives/partial"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return []string{"-o", "Dir::Etc::SourceList=" + sources, "-o", "Dir::Etc::SourceParts=/dev/null",
		"-o", "Dir::State::Lists=" + filepath.Join(dir, "lists"), "-o", "Dir::Cache=" + filepath.Join(dir, "cache"),
		"-o", "Dir::Cache::pkgcache=" + filepath.Join(dir, "cache", "pkgcache.bin"),
		"-o", "Dir::Cache::srcpkgcache=" + filepath.Join(dir, "cache", "srcpkgcache.bin"),
		"-o", "Debug::NoLocking=1", "-o", "Acquire::Languages=none", "-o", "Acquire::http::Proxy=DIRECT",
		"-o", "Acquire::Retries=0", "-o", "Acquire::http::Timeout=20", "-o", "APT::Update::Error-Mode=any",
		// After dropping its privileges to _apt, a method checks that
		// they are gone (ids switched, no way back to root) or fails.
		"-o", "APT::Sandbox::Verify=1"}
}

// apt runs apt-get update and apt-get download through proxy, and checks
// that the package arrived and that apt's http method dropped its
// privileges to _apt as it does outside chainrun.
func (w *dtWorld) apt(t *testing.T, proxy string) {
	t.Helper()
	aptUser, err := osuser.Lookup("_apt")
	if err != nil {
		testnet.Unavailable(t, "no _apt user: %v", err)
	}
	uid, _ := strconv.Atoi(aptUser.Uid)
	dir := dtWorldDir(t, "chainrun-apt-")
	args := w.aptArgs(t, dir)
	dl := filepath.Join(dir, "download")
	if err := os.Mkdir(dl, 0o755); err != nil {
		t.Fatal(err)
	}
	// apt downloads as _apt into the current directory.
	if err := os.Chown(dl, uid, -1); err != nil {
		t.Fatal(err)
	}
	env := []string{"LC_ALL=C", "DEBIAN_FRONTEND=noninteractive"}

	out, errOut, code := w.run(t, dtTimeout, env, proxy, append(append([]string{"apt-get"}, args...), "update")...)
	t.Logf("apt-get update asked: %s", dtSummary(dtQuestions(errOut)))
	if code != 0 || strings.Contains(out+errOut, "Err:") || regexp.MustCompile(`(?m)^[WE]: `).MatchString(out+errOut) {
		t.Fatalf("apt-get update: exit %d, want 0 with no error or warning\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if !strings.Contains(out, "Get:") {
		t.Errorf("apt-get update fetched nothing?\n%s", out)
	}
	// apt hands its partial directory to _apt when it sandboxes its
	// downloads.
	if fi, err := os.Stat(filepath.Join(dir, "lists", "partial")); err != nil {
		t.Error(err)
	} else if owner, ok := dtOwner(fi); ok && owner != uid {
		t.Errorf("lists/partial is owned by uid %d, want _apt (%d): apt did not sandbox its downloads", owner, uid)
	}
	qs := dtQuestions(errOut)
	if seen, _ := dtAsked(qs, "_http._tcp."+testnet.TargetName, "SRV", ""); !seen {
		t.Errorf("apt's http method asked no SRV _http._tcp.%s (or -v does not show it):\n%s", testnet.TargetName, errOut)
	}
	dtCheckVia(t, errOut, "http", dtHTTPPort, proxy)
	if !w.served("/Packages") {
		t.Errorf("the target's server did not log a GET of Packages from the proxy:\n%s", w.server.Output())
	}

	out2, errOut2, code := w.tp.Run(t, dtTimeout, w.tp.Client, append(slices.Clone(dtNoProxyEnv), env...),
		append([]string{"env", "-C", dl, w.bin, "-v", "-x", proxy, "--", "apt-get"}, append(args, "download", dtDebName)...)...)
	t.Logf("apt-get download asked: %s", dtSummary(dtQuestions(errOut2)))
	if code != 0 || regexp.MustCompile(`(?m)^[WE]: `).MatchString(out2+errOut2) {
		t.Fatalf("apt-get download: exit %d, want 0 with no error or warning\nstdout: %s\nstderr: %s", code, out2, errOut2)
	}
	// "Download is performed unsandboxed as root": apt could not become
	// _apt (it checks that it can and warns when it cannot).
	if strings.Contains(errOut+errOut2, "unsandboxed") {
		t.Errorf("apt did not drop its privileges to _apt:\n%s\n%s", errOut, errOut2)
	}
	deb := filepath.Join(dl, dtDebName+"_"+dtDebVer+"_all.deb")
	b, err := os.ReadFile(deb)
	if err != nil || dtSHA256(b) != w.debSHA256 {
		t.Fatalf("%s: %d bytes, %v; want the served package (sha256 %s)\nstdout: %s\nstderr: %s", deb, len(b), err, w.debSHA256, out2, errOut2)
	}
	dtCheckVia(t, errOut2, "http", dtHTTPPort, proxy)
}

// dtOwner returns the uid that owns the file of fi.
func dtOwner(fi os.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}
