// Command chainrun runs a command with every TCP connection it makes sent
// through a chain of proxies, without LD_PRELOAD: the command runs under
// ptrace with a seccomp filter that stops it only at connect().
//
//	chainrun [flags] [--] COMMAND [ARGS…]
//	chainrun serve [-l ADDR] [-u USER:PASS]… [--users-file FILE] [-x URL]…
//	chainrun check [-f FILE] [-p NAME] [-x URL]… [--target HOST:PORT]
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/chainrun/chainrun/tracer"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

// Exit statuses of chainrun itself (env(1) convention); otherwise chainrun
// exits with the command's status, or 128+N when signal N killed it.
const (
	exitOK            = 0
	exitFailure       = tracer.ExitFailure
	exitNotExecutable = tracer.ExitNotExecutable
	exitNotFound      = tracer.ExitNotFound
)

func main() {
	if tracer.IsStub() {
		tracer.StubMain() // never returns
	}
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is chainrun with its arguments (without argv[0]); it returns the
// exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "serve":
			return serveMain(ctx, args[1:], stdout, stderr)
		case "config":
			return configMain(args[1:], stdout, stderr)
		case "route":
			return routeMain(args[1:], stdout, stderr)
		case "check":
			return checkMain(ctx, args[1:], stdout, stderr)
		case "run":
			args = args[1:]
		}
	}
	opts, err := parseRunArgs(args)
	switch {
	case errors.Is(err, errHelp):
		fmt.Fprint(stdout, runUsage)
		return exitOK
	case errors.Is(err, errVersion):
		fmt.Fprintf(stdout, "chainrun %s\n", version)
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "chainrun: %v\n", err)
		fmt.Fprintln(stderr, "Try 'chainrun --help' for more information.")
		return exitFailure
	}
	return runCommand(ctx, opts, stderr)
}
