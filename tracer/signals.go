package tracer

import (
	"context"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// forwardedSignals are the signals chainrun passes on to the command.
var forwardedSignals = []os.Signal{
	unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGHUP, unix.SIGUSR1, unix.SIGUSR2,
	unix.SIGALRM, unix.SIGWINCH, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU,
}

// ttyGenerated are the signals a terminal sends to its whole foreground
// process group, the command included.
func ttyGenerated(s syscall.Signal) bool {
	switch s {
	case unix.SIGINT, unix.SIGQUIT, unix.SIGWINCH, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
		return true
	}
	return false
}

// forwardSignals passes the signals chainrun receives on to the command
// until ctx ends. A signal the terminal sends to the foreground group has
// reached the command already (it shares chainrun's process group):
// sending it again would deliver it twice.
func (l *loop) forwardSignals(ctx context.Context, sigs <-chan os.Signal) {
	pid := l.mainPid
	for {
		select {
		case <-ctx.Done():
			return
		case sig := <-sigs:
			s := sig.(syscall.Signal)
			if ttyGenerated(s) && foregroundOnTTY() {
				continue
			}
			if err := unix.Kill(pid, s); err != nil && err != unix.ESRCH {
				l.logf("forwarding %v to %d: %v", s, pid, err)
			}
		}
	}
}

// foregroundOnTTY reports whether chainrun's process group is the foreground
// group of its controlling terminal.
func foregroundOnTTY() bool {
	fd, err := unix.Open("/dev/tty", unix.O_RDONLY|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	fg, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	if err != nil {
		return false
	}
	return fg == unix.Getpgrp()
}
