// Package syscalls is chainrun's kernel-facing vocabulary: the seccomp filter
// (generated from a table), per-architecture register access, tracee memory,
// sockaddr decoding and the ptrace requests the tracer uses. It holds no
// policy: it says what a tracee asked for, never what to do about it.
package syscalls
