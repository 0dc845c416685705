package fakedns

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
)

// ConnTracker remembers which fake address each proxied socket used, so
// that the pool never recycles an address a live connection still uses,
// without trapping close(): a socket is live while its inode is listed in
// /proc/net/tcp or /proc/net/tcp6. It is safe for concurrent use; pass its
// Live method as [PoolConfig.InUse].
type ConnTracker struct {
	limit int
	// ProcFiles are the files listing the TCP sockets; they default to
	// /proc/net/tcp and /proc/net/tcp6. Set them before first use.
	ProcFiles []string

	mu    sync.Mutex
	conns map[uint64]tracked
	seq   uint64
}

// tracked is one socket: the fake address it connected to, and when it was
// tracked (a sequence number) to drop the oldest first.
type tracked struct {
	addr netip.Addr
	seq  uint64
}

// DefaultTrackLimit is the most sockets a ConnTracker remembers when
// NewConnTracker is given a limit <= 0.
const DefaultTrackLimit = 65536

// NewConnTracker returns a tracker that remembers at most limit sockets
// (DefaultTrackLimit when limit <= 0). When it is full, sockets that are
// gone are forgotten first, then the oldest ones.
func NewConnTracker(limit int) *ConnTracker {
	if limit <= 0 {
		limit = DefaultTrackLimit
	}
	return &ConnTracker{
		limit:     limit,
		ProcFiles: []string{"/proc/net/tcp", "/proc/net/tcp6"},
		conns:     make(map[uint64]tracked),
	}
}

// Track records that the socket with the given inode (fstat st_ino of the
// socket) is connected to the fake address addr.
func (t *ConnTracker) Track(inode uint64, addr netip.Addr) {
	addr = addr.Unmap()
	t.mu.Lock()
	full := len(t.conns) >= t.limit
	t.mu.Unlock()
	if full {
		t.Live() // forgets the sockets that are gone
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.conns[inode]; !ok && len(t.conns) >= t.limit {
		t.dropOldestLocked()
	}
	t.seq++
	t.conns[inode] = tracked{addr: addr, seq: t.seq}
}

// dropOldestLocked forgets the socket tracked first. It is O(n) but runs
// only when the tracker is full of live sockets.
func (t *ConnTracker) dropOldestLocked() {
	var oldest, oldestSeq uint64
	first := true
	for ino, c := range t.conns {
		if first || c.seq < oldestSeq {
			oldest, oldestSeq, first = ino, c.seq, false
		}
	}
	delete(t.conns, oldest)
}

// Len is the number of sockets tracked.
func (t *ConnTracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

// Live reads the proc files, forgets the sockets no longer listed there,
// and returns the fake addresses of those still listed. When the files
// cannot be read it forgets nothing and returns every tracked address:
// when in doubt, an address stays in use.
func (t *ConnTracker) Live() map[netip.Addr]bool {
	t.mu.Lock()
	want := make(map[uint64]bool, len(t.conns))
	for ino := range t.conns {
		want[ino] = false
	}
	files := t.ProcFiles
	t.mu.Unlock()

	err := markListed(files, want)

	t.mu.Lock()
	defer t.mu.Unlock()
	live := make(map[netip.Addr]bool)
	for ino, c := range t.conns {
		seen, asked := want[ino]
		if err == nil && asked && !seen {
			delete(t.conns, ino)
			continue
		}
		live[c.addr] = true // listed, tracked meanwhile, or unknown
	}
	return live
}

// markListed sets want[ino] for every inode in want that the files list.
// A file that does not exist lists nothing (no IPv6 in the kernel), but
// when none exists, or one cannot be read, the result is an error.
func markListed(files []string, want map[uint64]bool) error {
	read := 0
	for _, f := range files {
		err := scanInodes(f, want)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return err
		}
		read++
	}
	if read == 0 {
		return fmt.Errorf("fakedns: none of %v can be read", files)
	}
	return nil
}

// scanInodes reads one /proc/net/tcp-style file: a header line, then one
// socket a line with the inode in the tenth field.
func scanInodes(path string, want map[uint64]bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 512), 4096)
	header := true
	for sc.Scan() {
		if header {
			header = false
			continue
		}
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		ino, err := strconv.ParseUint(fields[9], 10, 64)
		if err != nil {
			continue
		}
		if _, ok := want[ino]; ok {
			want[ino] = true
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("fakedns: reading %s: %w", path, err)
	}
	return nil
}
