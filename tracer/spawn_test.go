package tracer

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

func TestResolveCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	script := write("script", "#!/bin/sh\necho hi\n", 0o755)
	bare := write("bare-sh", "echo no shebang\n", 0o755)
	plain := write("plain", "data", 0o644)
	if err := os.Mkdir(filepath.Join(dir, "subdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=/nonexistent:" + dir, "HOME=/"}
	for _, c := range []struct {
		argv     []string
		env      []string
		wantPath string
		wantArgv []string
		code     int // of the error; 0: none
	}{
		{[]string{"script", "a"}, env, script, []string{"script", "a"}, 0},
		{[]string{script}, nil, script, []string{script}, 0},
		{[]string{"bare-sh", "x"}, env, "/bin/sh", []string{"sh", bare, "x"}, 0}, // execvp's ENOEXEC rule
		{[]string{"no-such-command"}, env, "", nil, ExitNotFound},
		{[]string{"plain"}, env, "", nil, ExitNotExecutable}, // found, not executable
		{[]string{plain}, nil, "", nil, ExitNotExecutable},
		{[]string{filepath.Join(dir, "subdir")}, nil, "", nil, ExitNotExecutable},
		{[]string{"/no/such/file"}, nil, "", nil, ExitNotFound},
		{[]string{"sh"}, []string{"HOME=/"}, "/bin/sh", []string{"sh"}, 0}, // no PATH: /bin:/usr/bin
	} {
		path, argv, err := resolveCommand(c.argv, c.env)
		if c.code != 0 {
			cerr, ok := err.(*commandError)
			if !ok || cerr.code != c.code {
				t.Errorf("%q: %v, want exit %d", c.argv, err, c.code)
			}
			continue
		}
		if err != nil || path != c.wantPath || !equal(argv, c.wantArgv) {
			t.Errorf("%q: %q %q %v; want %q %q", c.argv, path, argv, err, c.wantPath, c.wantArgv)
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestStubCodeMatchesSource assembles testdata/stub_amd64.s again and
// compares it with the bytes chainrun carries, so the two cannot drift.
func TestStubCodeMatchesSource(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the machine-code stub is amd64 only")
	}
	for _, tool := range []string{"as", "objcopy"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s (binutils) is needed: %v", tool, err)
			}
			t.Skipf("%s (binutils) not installed", tool)
		}
	}
	dir := t.TempDir()
	obj, bin := filepath.Join(dir, "stub.o"), filepath.Join(dir, "stub.bin")
	if out, err := exec.Command("as", "--64", "-o", obj, "testdata/stub_amd64.s").CombinedOutput(); err != nil {
		t.Fatalf("as: %v\n%s", err, out)
	}
	if out, err := exec.Command("objcopy", "-O", "binary", "-j", ".text", obj, bin).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, out)
	}
	got, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, stubCode) {
		t.Errorf("stubCode (%d bytes) differs from testdata/stub_amd64.s assembled (%d bytes)", len(stubCode), len(got))
	}
	if len(stubCode)%8 != 0 {
		t.Errorf("the stub's data must start 8-aligned right after its code (%d bytes)", len(stubCode))
	}
}
