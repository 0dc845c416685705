package testnet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// progKind says how a fixture program is made.
type progKind int

const (
	kindC      progKind = iota // gcc, one .c file under testdata/cprog
	kindGo                     // go build of a main package under testdata/goprog
	kindScript                 // not built: the path of the script itself
)

// progSpec describes one fixture program.
type progSpec struct {
	kind   progKind
	src    string   // relative to the repository root: a .c file, a Go package dir, a script
	flags  []string // compiler flags (C), go build flags (Go)
	cc     string   // the C compiler, when not gcc (C)
	cgo    bool     // build with CGO_ENABLED=1 (Go; needs gcc)
	static bool     // must come out statically linked
	multi  bool     // needs a 32-bit toolchain (gcc-multilib)
	amd64  bool     // x86-64 only
}

// programs is the table of fixture programs, by name.
var programs = map[string]progSpec{
	"connect_block":    {kind: kindC, src: "testdata/cprog/connect_block.c", flags: []string{"-O2", "-Wall"}},
	"connect_nonblock": {kind: kindC, src: "testdata/cprog/connect_nonblock.c", flags: []string{"-O2", "-Wall"}},
	"connect_int80":    {kind: kindC, src: "testdata/cprog/connect_int80.c", flags: []string{"-static", "-no-pie", "-O2", "-Wall"}, static: true, amd64: true},
	"connect32":        {kind: kindC, src: "testdata/cprog/connect_block.c", flags: []string{"-m32", "-O2", "-Wall"}, multi: true, amd64: true},
	"udp_probe":        {kind: kindC, src: "testdata/cprog/udp_probe.c", flags: []string{"-O2", "-Wall"}},
	"udp_probe32":      {kind: kindC, src: "testdata/cprog/udp_probe.c", flags: []string{"-m32", "-O2", "-Wall"}, multi: true, amd64: true},
	"exec_thread":      {kind: kindC, src: "testdata/cprog/exec_thread.c", flags: []string{"-O2", "-Wall", "-pthread"}},
	"own_listener":     {kind: kindC, src: "testdata/cprog/own_listener.c", flags: []string{"-O2", "-Wall", "-pthread"}},
	"resolve_get":      {kind: kindC, src: "testdata/cprog/resolve_get.c", flags: []string{"-O2", "-Wall"}},
	"resolve_get_musl": {kind: kindC, src: "testdata/cprog/resolve_get.c", flags: []string{"-static", "-O2", "-Wall"}, cc: "musl-gcc", static: true},
	"gocgoget":         {kind: kindGo, src: "testdata/goprog/cgoget", flags: []string{"-tags", "netcgo"}, cgo: true},
	"gohttpget":        {kind: kindGo, src: "testdata/goprog/httpget", static: true},
	"goparallel":       {kind: kindGo, src: "testdata/goprog/parallel", static: true},
	"target":           {kind: kindGo, src: "testdata/goprog/target", static: true},
	"pyconnect":        {kind: kindScript, src: "testdata/py/urlget.py"},
	"pydnsquery":       {kind: kindScript, src: "testdata/py/dnsquery.py"},
	// The leak probes (testdata/leaks/probe.c, one mode per escape; see
	// its header): leakprobe without liburing, leakprobe_uring with it
	// (Debian liburing-dev), leakprobe_static for the int 0x80 modes.
	"leakprobe":        {kind: kindC, src: "testdata/leaks/probe.c", flags: []string{"-O2", "-Wall", "-pthread"}},
	"leakprobe_uring":  {kind: kindC, src: "testdata/leaks/probe.c", flags: []string{"-O2", "-Wall", "-pthread", "-DPROBE_URING", "-Wl,--no-as-needed", "-luring"}},
	"leakprobe_static": {kind: kindC, src: "testdata/leaks/probe.c", flags: []string{"-static", "-no-pie", "-O2", "-Wall", "-pthread"}, static: true, amd64: true},
	"goleakprobe":      {kind: kindGo, src: "testdata/leaks/goprobe", static: true},
}

// compiler returns the C compiler of a C program.
func (s progSpec) compiler() string {
	if s.cc != "" {
		return s.cc
	}
	return "gcc"
}

// ProgramNames returns the names that [Programs.Path] accepts, sorted.
func ProgramNames() []string {
	names := make([]string, 0, len(programs))
	for n := range programs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Programs builds the fixture programs of testdata/ on first use and
// remembers where they are. It is safe for concurrent use.
//
// A binary is put at DIR/KEY/NAME, where KEY is a hash of its sources, its
// compiler flags and the Go version, so a directory can be shared across
// runs: a binary that is already there is up to date.
type Programs struct {
	dir string

	mu    sync.Mutex
	root  string              // repository root, found on first use
	paths map[string]string   // name → built path
	errs  map[string]buildErr // name → why it could not be built
}

// buildErr remembers a failed build, so that it is not tried again.
type buildErr struct {
	msg         string
	unavailable bool // the toolchain is missing, not the program wrong
}

// NewPrograms returns a Programs that puts binaries under dir (typically the
// caller's temporary directory, e.g. from os.MkdirTemp in TestMain).
func NewPrograms(dir string) *Programs {
	return &Programs{dir: dir, paths: map[string]string{}, errs: map[string]buildErr{}}
}

var (
	sharedOnce sync.Once
	shared     *Programs
)

// SharedPrograms returns the Programs that this package uses itself (for
// StartHTTPTarget), kept in $XDG_CACHE_HOME/chainrun-testnet (or
// ~/.cache/chainrun-testnet; a fresh temporary directory when there is no
// cache directory). Thanks to the content keys, binaries there are reused
// across test runs and test binaries; versions unused for a week are
// removed.
func SharedPrograms() *Programs {
	sharedOnce.Do(func() {
		dir := ""
		if c, err := os.UserCacheDir(); err == nil {
			dir = filepath.Join(c, "chainrun-testnet")
			if os.MkdirAll(dir, 0o700) != nil {
				dir = ""
			} else {
				pruneStale(dir, 7*24*time.Hour)
			}
		}
		if dir == "" {
			d, err := os.MkdirTemp("", "chainrun-testnet-")
			if err != nil {
				d = os.TempDir()
			}
			dir = d
		}
		shared = NewPrograms(dir)
	})
	return shared
}

// Path returns the path of the fixture program name (one of
// [ProgramNames]), building it first if needed. The test fails if name is
// unknown or the build fails; it calls [Unavailable] when the toolchain is
// missing (gcc, the 32-bit libraries of gcc-multilib for "connect32",
// musl-gcc (musl-tools) for "resolve_get_musl", gcc for the cgo program
// "gocgoget", python3 for "pyconnect"). It skips (even under CI)
// "connect_int80" and "connect32" on other architectures than amd64.
//
// "pyconnect" is not built: Path returns the script testdata/py/urlget.py,
// to be run as `python3 PATH URL`; nor is "pydnsquery"
// (testdata/py/dnsquery.py, `python3 PATH MODE SERVER NAME [TYPE]`: one DNS
// query sent with sendto, sendmsg, connect+send or over TCP).
//
// The name-resolving programs: "resolve_get" (testdata/cprog/resolve_get.c,
// glibc's getaddrinfo, dynamically linked) and "resolve_get_musl" (the same
// source, statically linked with musl's resolver) take
// [-list] [-4|-6] HOST PORT [PATH]; "gocgoget" (testdata/goprog/cgoget,
// built with cgo and the netcgo tag, so Go resolves names with glibc's
// getaddrinfo) takes -lookup NAME or URL.
func (p *Programs) Path(t testing.TB, name string) string {
	t.Helper()
	spec, ok := programs[name]
	if !ok {
		t.Fatalf("testnet: unknown fixture program %q (known: %s)", name, strings.Join(ProgramNames(), ", "))
	}
	if spec.amd64 && runtime.GOARCH != "amd64" {
		t.Skipf("testnet: fixture %s is for x86-64 only", name)
	}
	switch spec.kind {
	case kindC:
		NeedCommand(t, spec.compiler())
	case kindGo:
		if spec.cgo {
			NeedCommand(t, "gcc")
		}
	case kindScript:
		NeedCommand(t, "python3")
	}

	// t.Fatal and t.Skip end the goroutine with runtime.Goexit, which runs
	// the deferred Unlock.
	p.mu.Lock()
	defer p.mu.Unlock()
	if path, ok := p.paths[name]; ok {
		return path
	}
	if be, ok := p.errs[name]; ok {
		if be.unavailable {
			Unavailable(t, "%s", be.msg)
		}
		t.Fatal(be.msg)
	}
	if p.root == "" {
		root, err := RepoRoot()
		if err != nil {
			t.Fatalf("testnet: %v", err)
		}
		p.root = root
	}
	path, err := p.build(name, spec)
	if err != nil {
		if spec.multi && is32BitToolchainMissing(err) {
			msg := fmt.Sprintf("cannot build 32-bit programs (install gcc-multilib): %v", err)
			p.errs[name] = buildErr{msg: msg, unavailable: true}
			Unavailable(t, "%s", msg)
		}
		msg := fmt.Sprintf("testnet: building fixture %s: %v", name, err)
		p.errs[name] = buildErr{msg: msg}
		t.Fatal(msg)
	}
	p.paths[name] = path
	return path
}

// RepoRoot returns the repository root: the nearest directory at or above
// the working directory that holds go.mod.
func RepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod at or above %s", wd)
		}
		dir = parent
	}
}

// build makes program name (unless an up-to-date binary exists) and returns
// its path.
func (p *Programs) build(name string, spec progSpec) (string, error) {
	src := filepath.Join(p.root, spec.src)
	if spec.kind == kindScript {
		if _, err := os.Stat(src); err != nil {
			return "", err
		}
		return src, nil
	}
	key, err := p.key(name, spec)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(p.dir, key)
	out := filepath.Join(dir, name)
	if fi, err := os.Stat(out); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		now := time.Now()
		os.Chtimes(dir, now, now) // still in use: see pruneStale
		return out, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Build to a temporary name, then rename: other processes may share dir.
	tmp, err := os.CreateTemp(dir, "."+name+".tmp*")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var cmd *exec.Cmd
	switch spec.kind {
	case kindC:
		args := append(append([]string{}, spec.flags...), "-o", tmp.Name(), src)
		cmd = exec.CommandContext(ctx, spec.compiler(), args...)
		cmd.Dir = filepath.Dir(src)
	case kindGo:
		args := append(append([]string{"build", "-trimpath"}, spec.flags...), "-o", tmp.Name(), "./"+filepath.ToSlash(spec.src))
		cmd = exec.CommandContext(ctx, goTool(), args...)
		cmd.Dir = p.root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if spec.cgo {
			cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		}
	}
	var outBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outBuf, &outBuf
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, outBuf.String())
	}
	if spec.static {
		if err := checkStatic(tmp.Name()); err != nil {
			return "", err
		}
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return "", err
	}
	return out, nil
}

// key hashes what a program's binary depends on: its name, kind, flags, the
// Go version and architecture, and its source files (for C, the .c file and
// the headers beside it; for Go, the package's files and go.mod/go.sum).
func (p *Programs) key(name string, spec progSpec) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%q\x00%s\x00%s\x00", name, spec.kind, spec.flags, runtime.Version(), runtime.GOARCH)
	if spec.cc != "" || spec.cgo { // only then, so that other keys stay as they were
		fmt.Fprintf(h, "cc=%s\x00cgo=%t\x00", spec.cc, spec.cgo)
	}
	var files []string
	src := filepath.Join(p.root, spec.src)
	switch spec.kind {
	case kindC:
		hs, _ := filepath.Glob(filepath.Join(filepath.Dir(src), "*.h"))
		files = append([]string{src}, hs...)
	case kindGo:
		gs, _ := filepath.Glob(filepath.Join(src, "*.go"))
		if len(gs) == 0 {
			return "", fmt.Errorf("no Go files in %s", src)
		}
		files = append(gs, filepath.Join(p.root, "go.mod"), filepath.Join(p.root, "go.sum"))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil && !(errors.Is(err, os.ErrNotExist) && strings.HasSuffix(f, "go.sum")) {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(f), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// pruneStale removes the key directories under dir (named by 16 hex
// digits) that have not been used for age. Best effort.
func pruneStale(dir string, age time.Duration) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || len(e.Name()) != 16 || strings.Trim(e.Name(), "0123456789abcdef") != "" {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > age {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// goTool returns the go command: from $PATH, else where Go installs itself.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// checkStatic fails unless the ELF file at path is statically linked (no
// program interpreter, no shared libraries).
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked (has an interpreter)", filepath.Base(path))
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return fmt.Errorf("%s needs shared libraries %v", filepath.Base(path), libs)
	}
	return nil
}

// is32BitToolchainMissing tells a missing gcc-multilib from a real compile
// error.
func is32BitToolchainMissing(err error) bool {
	s := err.Error()
	for _, sig := range []string{"stubs-32.h", "gnu/stubs", "cannot find -lgcc", "cannot find crt1.o", "cannot find Scrt1.o", "skipping incompatible", "unrecognized command-line option '-m32'", "unrecognized command line option"} {
		if strings.Contains(s, sig) {
			return true
		}
	}
	return false
}
