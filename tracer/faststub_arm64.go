package tracer

import "golang.org/x/sys/unix"

// haveFastStub says that this architecture has no stub in machine code
// yet: chainrun re-runs itself as the stub (the Go stub).
const haveFastStub = false

// stubCode is empty: there is no machine-code stub for this architecture.
var stubCode []byte

// stubImage is not available on this architecture.
func stubImage(listenerFilter, traceFilter []unix.SockFilter, syncFd int) []byte { return nil }
