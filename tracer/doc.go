// Package tracer runs a command under ptrace with chainrun's seccomp filter,
// follows every thread and process it starts, and hands each trapped
// connect() to a Handler. It knows nothing about proxies: it turns a
// Handler's Result into register writes and resumes the thread.
//
// All ptrace requests come from one goroutine locked to its OS thread for
// the tracer's life (the kernel answers ESRCH to any other thread). That
// loop never waits on the network: each connect is handled in a goroutine
// of its own while only the calling thread stays stopped.
package tracer
