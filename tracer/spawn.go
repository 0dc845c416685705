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
		var st unix.Stat_t
		if unix.Stat(cand, &st) != nil || st.Mode&unix.S_IFMT == unix.S_IFDIR {
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

// stubSocket makes the socket the stub and chainrun share: the stub's end,
// inherited at the number the kernel gave it (so no descriptor the user
// passed to chainrun is clobbered), and chainrun's, close-on-exec. The stub
// writes its listener's descriptor number on it (a little-endian int32,
// -1 for none) and then waits for one byte, the go-ahead.
func stubSocket() (stubEnd, sync int, err error) {
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		return -1, -1, fmt.Errorf("socketpair: %w", err)
	}
	unix.CloseOnExec(p[1])
	return p[0], p[1], nil
}

// stubFilters are the two filters a stub carries: the one that hands
// connects to a listener, and the one it loads where the kernel refuses a
// listener (every trap stops the tracee).
func stubFilters() (listener, trace []unix.SockFilter, err error) {
	if listener, err = syscalls.Filter(syscalls.NotifyRules()); err != nil {
		return nil, nil, fmt.Errorf("building the seccomp filter: %w", err)
	}
	return listener, syscalls.WithoutListener(listener), nil
}

// spawnFast starts the command through the stub in machine code, from an
// in-memory file: no second Go runtime, and the command's environment is
// passed on untouched.
func spawnFast(argv, env []string, ptraceOnly bool) (int, int, error) {
	path, cmdArgv, err := resolveCommand(argv, env)
	if err != nil {
		return 0, -1, err
	}
	listener, trace, err := stubFilters()
	if err != nil {
		return 0, -1, err
	}
	if ptraceOnly {
		listener = nil // the kernel refuses an empty filter: the stub loads trace
	}
	stubEnd, sync, err := stubSocket()
	if err != nil {
		return 0, -1, err
	}
	defer unix.Close(stubEnd)
	mfd, err := unix.MemfdCreate("chainrun-stub", unix.MFD_CLOEXEC)
	if err != nil {
		unix.Close(sync)
		return 0, -1, fmt.Errorf("memfd_create: %w", err)
	}
	defer unix.Close(mfd)
	if _, err := unix.Write(mfd, stubImage(listener, trace, stubEnd)); err != nil {
		unix.Close(sync)
		return 0, -1, fmt.Errorf("writing the stub: %w", err)
	}
	// The child execs the memfd through its own descriptor table: the
	// kernel opens it before MFD_CLOEXEC closes it.
	stub := "/proc/self/fd/" + strconv.Itoa(mfd)
	pid, err := syscall.ForkExec(stub, append([]string{"chainrun-stub", path}, cmdArgv...), &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{0, 1, 2},
	})
	if err != nil {
		unix.Close(sync)
		return 0, -1, fmt.Errorf("starting the stub: %w", err)
	}
	return pid, sync, nil
}
