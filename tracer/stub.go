package tracer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/chainrun/chainrun/syscalls"
)

// stubEnv marks a process as the tracer's stub; its value is the number of
// the socket it shares with the tracer: it reports its listener there and
// waits for the go-ahead.
const stubEnv = "CHAINRUN_STUB_FD"

// stubNoListener, after the number in stubEnv, tells the stub to load the
// filter without a listener (Tracer.PtraceOnly).
const stubNoListener = ",ptrace"

// Exit statuses of the stub, after the env(1) convention.
const (
	ExitFailure       = 125 // chainrun itself failed
	ExitNotExecutable = 126 // the command was found but could not run
	ExitNotFound      = 127 // the command was not found
)

func init() {
	// The stub installs the filter and execs on the main thread: lock it
	// before main runs, so the thread that loads the filter is the one
	// whose image is replaced.
	if os.Getenv(stubEnv) != "" {
		runtime.LockOSThread()
	}
}

// IsStub reports whether this process is the tracer's stub. The program's
// main must call StubMain first thing when it is.
func IsStub() bool { return os.Getenv(stubEnv) != "" }

// StubMain is the stub: it finds the command, installs the seccomp filter
// (with a listener where the kernel allows one, and reports the
// listener's number), waits until the tracer has seized it, and execs the
// command. It never
// returns. Its arguments are the command line.
func StubMain() {
	val, noListener := strings.CutSuffix(os.Getenv(stubEnv), stubNoListener)
	syncFd, err := strconv.Atoi(val)
	if err != nil || len(os.Args) < 2 {
		stubDie(ExitFailure, "internal error: bad stub invocation")
	}
	argv := os.Args[1:]
	env := make([]string, 0, len(os.Environ()))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, stubEnv+"=") {
			env = append(env, kv)
		}
	}
	path, err := exec.LookPath(argv[0])
	if err != nil && !errors.Is(err, exec.ErrDot) {
		code, msg := ExitNotFound, "command not found"
		if strings.Contains(argv[0], "/") {
			code, msg = execFailure(err)
		}
		stubDie(code, "%s: %s", argv[0], msg)
	}
	listenerProg, traceProg, err := stubFilters()
	if err != nil {
		stubDie(ExitFailure, "cannot install the seccomp filter: %v", err)
	}
	listener, err := -1, errors.New("no listener asked for")
	if !noListener {
		listener, err = syscalls.InstallListenerFilter(listenerProg)
	}
	if err != nil {
		// No listener here (an old kernel, or a filter that has one
		// already): every trap stops for the tracer.
		listener = -1
		if err := syscalls.InstallFilter(traceProg); err != nil {
			stubDie(ExitFailure, "cannot install the seccomp filter: %v", err)
		}
	}
	var report [4]byte
	binary.LittleEndian.PutUint32(report[:], uint32(int32(listener)))
	if n, _ := unix.Write(syncFd, report[:]); n != len(report) {
		os.Exit(ExitFailure) // the tracer is gone: never run untraced
	}
	var go1 [1]byte
	if n, _ := unix.Read(syncFd, go1[:]); n != 1 {
		os.Exit(ExitFailure) // the tracer is gone: never run untraced
	}
	unix.Close(syncFd)
	err = unix.Exec(path, argv, env)
	if errors.Is(err, unix.ENOEXEC) {
		// Like execvp: a file without a #! line is a shell script.
		err = unix.Exec("/bin/sh", append([]string{"sh", path}, argv[1:]...), env)
	}
	code, msg := execFailure(err)
	stubDie(code, "%s: %s", argv[0], msg)
}

// execFailure maps an exec or lookup error to the exit status and message a
// shell would give.
func execFailure(err error) (int, string) {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, fs.ErrNotExist) {
		return ExitNotFound, "No such file or directory"
	}
	return ExitNotExecutable, shellWords(err)
}

func stubDie(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "chainrun: "+format+"\n", args...)
	os.Exit(code)
}
