package tracer

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/chainrun/chainrun/syscalls"
)

// tasks is what the tracer thread and the threads answering the filter's
// notifications share about the traced tree: the process each thread
// belongs to, one pidfd per process, the sockets whose replies are watched,
// and how many threads are traced. The tracer thread learns all of it from
// ptrace events; the notification side only reads, except for filling in a
// thread it hears from before the tracer thread does.
type tasks struct {
	mu      sync.Mutex
	tgids   map[int]int      // thread → process
	procs   map[int]*process // process → its pidfd
	watched map[int]map[int]bool
	// orphans are pidfds of departed processes whose id a new process
	// took while a negotiation still used them, by descriptor.
	orphans map[int]*process
	// threads is the number of traced threads: a connect is negotiated in
	// place, with no hand-off between threads, when its caller is the only
	// one.
	threads atomic.Int32
}

// process owns the pidfd of one traced thread group. The descriptor stays
// open while a negotiation uses it (refs), even after the process is gone,
// so that its number is never reused under a poll.
type process struct {
	pidfd int
	refs  int
	gone  bool
}

func newTasks() *tasks {
	return &tasks{tgids: map[int]int{}, procs: map[int]*process{}, watched: map[int]map[int]bool{}}
}

// setThread records that thread tid belongs to process tgid.
func (ts *tasks) setThread(tid, tgid int) {
	ts.mu.Lock()
	ts.tgids[tid] = tgid
	ts.mu.Unlock()
}

// forgetThread drops a thread that exited.
func (ts *tasks) forgetThread(tid int) {
	ts.mu.Lock()
	delete(ts.tgids, tid)
	ts.mu.Unlock()
}

// tgidOf returns the process of thread tid: as recorded, or, for a thread
// that runs before the tracer thread has seen its creation, from
// /proc/TID/status.
func (ts *tasks) tgidOf(tid int) (int, error) {
	ts.mu.Lock()
	tgid, ok := ts.tgids[tid]
	ts.mu.Unlock()
	if ok {
		return tgid, nil
	}
	tgid, err := readTgid(tid)
	if err != nil {
		return 0, err
	}
	ts.setThread(tid, tgid)
	return tgid, nil
}

// readTgid reads the process of thread tid from /proc.
func readTgid(tid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("no Tgid in /proc/%d/status", tid)
}

// addProcess keeps pidfd as process tgid's (the tracer thread opened it
// while finding out what a new task is).
func (ts *tasks) addProcess(tgid, pidfd int) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if p := ts.procs[tgid]; p != nil && !p.gone {
		closeFd(pidfd)
		return
	}
	ts.procs[tgid] = &process{pidfd: pidfd}
}

// acquire returns a pidfd of process tgid, opening it the first time, and
// holds it open until release.
func (ts *tasks) acquire(tgid int) (int, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	p := ts.procs[tgid]
	if p == nil || p.gone {
		fd, err := syscalls.PidfdOpen(tgid)
		if err != nil {
			return -1, err
		}
		if p != nil { // a new process took over a departed one's id
			ts.orphan(p)
		}
		p = &process{pidfd: fd}
		ts.procs[tgid] = p
	}
	p.refs++
	return p.pidfd, nil
}

// release gives back a pidfd acquire returned.
func (ts *tasks) release(tgid, pidfd int) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if p := ts.procs[tgid]; p != nil && p.pidfd == pidfd {
		p.refs--
		if p.gone && p.refs == 0 {
			closeFd(p.pidfd)
			delete(ts.procs, tgid)
		}
		return
	}
	if p := ts.orphans[pidfd]; p != nil {
		p.refs--
		if p.refs == 0 {
			closeFd(p.pidfd)
			delete(ts.orphans, pidfd)
		}
	}
}

// orphan keeps a departed process's pidfd, still in use, apart until its
// last user releases it. Called with mu held.
func (ts *tasks) orphan(p *process) {
	if p.refs == 0 {
		closeFd(p.pidfd)
		return
	}
	if ts.orphans == nil {
		ts.orphans = map[int]*process{}
	}
	ts.orphans[p.pidfd] = p
}

// processExited closes process tgid's pidfd, or marks it for closing once
// no negotiation uses it, and forgets its watched sockets.
func (ts *tasks) processExited(tgid int) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	delete(ts.watched, tgid)
	p := ts.procs[tgid]
	if p == nil {
		return
	}
	p.gone = true
	if p.refs == 0 {
		closeFd(p.pidfd)
		delete(ts.procs, tgid)
	}
}

// closeAll closes every pidfd at the end of the run.
func (ts *tasks) closeAll() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for tgid, p := range ts.procs {
		if p.refs == 0 {
			closeFd(p.pidfd)
			delete(ts.procs, tgid)
		} else {
			p.gone = true
		}
	}
}

// watch marks descriptor fd of process tgid as a redirected socket.
func (ts *tasks) watch(tgid, fd int) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	fds := ts.watched[tgid]
	if fds == nil {
		fds = map[int]bool{}
		ts.watched[tgid] = fds
	}
	fds[fd] = true
}

// inheritWatched gives a forked child its parent's watched descriptors (a
// fork copies the descriptor table).
func (ts *tasks) inheritWatched(parent, child int) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.watched[parent]) == 0 {
		return
	}
	fds := make(map[int]bool, len(ts.watched[parent]))
	for fd := range ts.watched[parent] {
		fds[fd] = true
	}
	ts.watched[child] = fds
}

// anyWatched reports whether any socket is watched at all (the common case
// is none: receives then run on at once).
func (ts *tasks) anyWatched() bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.watched) > 0
}

// isWatched reports whether descriptor fd of process tgid is watched.
func (ts *tasks) isWatched(tgid, fd int) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.watched[tgid][fd]
}
