package tracer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/chainrun/chainrun/syscalls"
)

// commandError is a command that cannot be started, with the status and
// words a shell would use.
type commandError struct {
	code    int
	command string
	msg     string
}

func (e *commandError) Error() string { return e.command + ": " + e.msg }

// defaultPath is execvp's search path when the environment has no PATH.
const defaultPath = "/bin:/usr/bin"

// resolveCommand finds the program argv names, as execvp would with the
// PATH of env, and returns the file to exec and its argv: a file that is
// neither an ELF binary nor a #! script runs through /bin/sh (execvp's
// ENOEXEC rule).
func resolveCommand(argv, env []string) (string, []string, error) {
	file := argv[0]
	path := file
	if !strings.Contains(file, "/") {
		pathEnv, ok := envValue(env, "PATH")
		if !ok {
			pathEnv = defaultPath
		}
		var err error
		if path, err = searchPath(file, pathEnv); err != nil {
			return "", nil, err
		}
	}
	var st unix.Stat_t
	switch err := unix.Stat(path, &st); {
	case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR):
		return "", nil, &commandError{ExitNotFound, file, "No such file or directory"}
	case err != nil:
		return "", nil, &commandError{ExitNotExecutable, file, shellWords(err)}
	case st.Mode&unix.S_IFMT == unix.S_IFDIR:
		return "", nil, &commandError{ExitNotExecutable, file, "Is a directory"}
	}
	if err := unix.Access(path, unix.X_OK); err != nil {
		return "", nil, &commandError{ExitNotExecutable, file, shellWords(err)}
	}
	if !execFormat(path) {
		return "/bin/sh", append([]string{"sh", path}, argv[1:]...), nil
	}
	return path, argv, nil
}

// searchPath looks file up in the directories of pathEnv.
func searchPath(file, pathEnv string) (string, error) {
	denied := false
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		cand := filepath.Join(dir, file)
		fi, err := os.Stat(cand)
		if err != nil || fi.IsDir() {
			continue
		}
		if unix.Access(cand, unix.X_OK) != nil {
			denied = true
			continue
		}
		return cand, nil
	}
	if denied {
		return "", &commandError{ExitNotExecutable, file, "Permission denied"}
	}
	return "", &commandError{ExitNotFound, file, "command not found"}
}

// execFormat reports whether the kernel can exec path itself: an ELF
// binary or a #! script (an unreadable file is left to the kernel).
func execFormat(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return true
	}
	defer f.Close()
	var b [4]byte
	n, _ := f.Read(b[:])
	head := string(b[:n])
	return head == "\x7fELF" || strings.HasPrefix(head, "#!")
}

// shellWords is an errno as a shell says it ("Permission denied").
func shellWords(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		msg := errno.Error()
		return strings.ToUpper(msg[:1]) + msg[1:]
	}
	if errors.Is(err, fs.ErrPermission) {
		return "Permission denied"
	}
	return err.Error()
}

// envValue is the value of key in env (the last one wins, as getenv).
func envValue(env []string, key string) (string, bool) {
	val, found := "", false
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			val, found = v, true
		}
	}
	return val, found
}

// goAheadPipe makes the pipe the stub waits on: its read end, inherited by
// the stub at the number the kernel gave it (so no descriptor the user
// passed to chainrun is clobbered), and the write end, close-on-exec.
func goAheadPipe() (readEnd int, goAhead *os.File, err error) {
	var p [2]int
	if err := unix.Pipe2(p[:], 0); err != nil {
		return -1, nil, fmt.Errorf("pipe: %w", err)
	}
	unix.CloseOnExec(p[1])
	return p[0], os.NewFile(uintptr(p[1]), "stub-go-ahead"), nil
}

// spawnFast starts the command through the stub in machine code, from an
// in-memory file: no second Go runtime, and the command's environment is
// passed on untouched.
func spawnFast(argv, env []string) (int, *os.File, error) {
	path, cmdArgv, err := resolveCommand(argv, env)
	if err != nil {
		return 0, nil, err
	}
	prog, err := syscalls.Filter(syscalls.Rules())
	if err != nil {
		return 0, nil, fmt.Errorf("building the seccomp filter: %w", err)
	}
	readEnd, goAhead, err := goAheadPipe()
	if err != nil {
		return 0, nil, err
	}
	defer unix.Close(readEnd)
	mfd, err := unix.MemfdCreate("chainrun-stub", unix.MFD_CLOEXEC)
	if err != nil {
		goAhead.Close()
		return 0, nil, fmt.Errorf("memfd_create: %w", err)
	}
	defer unix.Close(mfd)
	if _, err := unix.Write(mfd, stubImage(prog, readEnd)); err != nil {
		goAhead.Close()
		return 0, nil, fmt.Errorf("writing the stub: %w", err)
	}
	// The child execs the memfd through its own descriptor table: the
	// kernel opens it before MFD_CLOEXEC closes it.
	stub := "/proc/self/fd/" + strconv.Itoa(mfd)
	pid, err := syscall.ForkExec(stub, append([]string{"chainrun-stub", path}, cmdArgv...), &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{0, 1, 2},
	})
	if err != nil {
		goAhead.Close()
		return 0, nil, fmt.Errorf("starting the stub: %w", err)
	}
	return pid, goAhead, nil
}
