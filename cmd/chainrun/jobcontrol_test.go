package main

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chainrun/chainrun/internal/testnet"
)

// tmuxSession is an interactive bash on a terminal, driven like a person
// would: keys in, screen out.
type tmuxSession struct {
	t      *testing.T
	socket string
}

func newTmux(t *testing.T) *tmuxSession {
	t.Helper()
	testnet.NeedCommand(t, "tmux")
	s := &tmuxSession{t: t, socket: fmt.Sprintf("chainrun-test-%d", os.Getpid())}
	if out, err := s.cmd("new-session", "-d", "-x", "160", "-y", "50", "bash --norc --noprofile").CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v %s", err, out)
	}
	t.Cleanup(func() { s.cmd("kill-server").Run() })
	return s
}

func (s *tmuxSession) cmd(args ...string) *exec.Cmd {
	return exec.Command("tmux", append([]string{"-L", s.socket}, args...)...)
}

func (s *tmuxSession) keys(keys ...string) {
	if out, err := s.cmd(append([]string{"send-keys", "-t", "0"}, keys...)...).CombinedOutput(); err != nil {
		s.t.Fatalf("tmux send-keys: %v %s", err, out)
	}
}

func (s *tmuxSession) screen() string {
	out, _ := s.cmd("capture-pane", "-p", "-S", "-", "-t", "0").Output()
	return string(out)
}

// waitFor waits (bounded) until the screen satisfies ok.
func (s *tmuxSession) waitFor(what string, ok func(string) bool) string {
	s.t.Helper()
	for i := 0; i < 200; i++ {
		if scr := s.screen(); ok(scr) {
			return scr
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("waiting for %s; screen:\n%s", what, s.screen())
	return ""
}

var tickRE = regexp.MustCompile(`tick (\d+)`)

func lastTick(screen string) int {
	m := tickRE.FindAllStringSubmatch(screen, -1)
	if len(m) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	return n
}

// TestJobControlOnATerminal: Ctrl-Z stops the command and chainrun (the
// shell reports the job stopped), nothing runs while stopped, fg resumes
// it, and Ctrl-C ends it with the status bash gives a SIGINT death.
func TestJobControlOnATerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("drives a terminal")
	}
	bin := buildChainrun(t)
	s := newTmux(t)
	s.keys(bin+` -x socks5://127.0.0.1:9 sh -c 'i=0; while [ $i -lt 600 ]; do i=$((i+1)); echo tick $i; sleep 0.1; done'`, "Enter")
	s.waitFor("ticks", func(scr string) bool { return lastTick(scr) >= 3 })
	s.keys("C-z")
	scr := s.waitFor("the job to stop", func(scr string) bool { return strings.Contains(scr, "Stopped") })
	stoppedAt := lastTick(scr)
	time.Sleep(600 * time.Millisecond)
	if n := lastTick(s.screen()); n > stoppedAt+1 {
		t.Fatalf("ticks went on while stopped: %d then %d", stoppedAt, n)
	}
	s.keys("fg", "Enter")
	s.waitFor("ticks after fg", func(scr string) bool { return lastTick(scr) > stoppedAt+2 })
	s.keys("C-c")
	time.Sleep(200 * time.Millisecond)
	s.keys("echo rc=$?", "Enter")
	s.waitFor("rc=130", func(scr string) bool { return strings.Contains(scr, "rc=130") })
}
