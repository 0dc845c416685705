package fakedns

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// procTCP renders a /proc/net/tcp-style file listing the given inodes.
func procTCP(inodes ...uint64) string {
	var sb strings.Builder
	sb.WriteString("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n")
	for i, ino := range inodes {
		fmt.Fprintf(&sb, "%4d: 0100007F:0035 00000000:0000 01 00000000:00000000 00:00000000 00000000  1000        0 %d 1 0000000000000000 100 0 0 10 0\n", i, ino)
	}
	return sb.String()
}

func TestConnTrackerLive(t *testing.T) {
	dir := t.TempDir()
	tcp, tcp6 := filepath.Join(dir, "tcp"), filepath.Join(dir, "tcp6")
	write := func(path, s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(tcp, procTCP(101, 0, 5)+"garbage line\n  9: x y z a b c d e notanumber\n")
	write(tcp6, procTCP(202))

	ct := NewConnTracker(0)
	ct.ProcFiles = []string{tcp, tcp6}
	a1, a2, a3 := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("fd63:6861:696e::2"), netip.MustParseAddr("198.18.0.3")
	ct.Track(101, a1)
	ct.Track(202, a2)
	ct.Track(303, netip.AddrFrom16(a3.As16())) // mapped: stored unmapped
	live := ct.Live()
	if !live[a1] || !live[a2] || live[a3] || len(live) != 2 {
		t.Errorf("Live = %v, want %v and %v", live, a1, a2)
	}
	if ct.Len() != 2 {
		t.Errorf("Len = %d after Live, want 2 (303 forgotten)", ct.Len())
	}

	// 101 closes: forgotten at the next Live.
	write(tcp, procTCP(5))
	if live := ct.Live(); live[a1] || !live[a2] || ct.Len() != 1 {
		t.Errorf("after close: Live = %v, Len %d", live, ct.Len())
	}

	// A missing tcp6 (no IPv6 in the kernel) lists nothing.
	os.Remove(tcp6)
	if live := ct.Live(); len(live) != 0 || ct.Len() != 0 {
		t.Errorf("without tcp6: Live = %v, Len %d", live, ct.Len())
	}
}

func TestConnTrackerUnreadableKeepsAll(t *testing.T) {
	ct := NewConnTracker(0)
	dir := t.TempDir()
	ct.ProcFiles = []string{filepath.Join(dir, "nope"), filepath.Join(dir, "nope6")}
	a := netip.MustParseAddr("198.18.0.9")
	ct.Track(7, a)
	if live := ct.Live(); !live[a] || ct.Len() != 1 {
		t.Errorf("no proc file readable: Live = %v, Len %d; want the address kept", live, ct.Len())
	}
	// A directory cannot be read as a file: an error, not "nothing listed".
	ct.ProcFiles = []string{dir}
	if live := ct.Live(); !live[a] {
		t.Errorf("unreadable proc file: Live = %v; want the address kept", live)
	}
}

func TestConnTrackerLimit(t *testing.T) {
	tcp := writeFile(t, "tcp", procTCP(1, 2, 3, 4))
	ct := NewConnTracker(3)
	ct.ProcFiles = []string{tcp}
	ct.Track(9, netip.MustParseAddr("198.18.0.9")) // gone: pruned first
	ct.Track(1, netip.MustParseAddr("198.18.0.1"))
	ct.Track(2, netip.MustParseAddr("198.18.0.2"))
	ct.Track(3, netip.MustParseAddr("198.18.0.3"))
	if ct.Len() != 3 {
		t.Fatalf("Len = %d, want 3", ct.Len())
	}
	if _, ok := ct.conns[9]; ok {
		t.Error("dead socket 9 kept while live ones came")
	}
	ct.Track(4, netip.MustParseAddr("198.18.0.4")) // all live: the oldest goes
	if _, ok := ct.conns[1]; ok || ct.Len() != 3 {
		t.Errorf("full of live sockets: oldest (1) kept, Len %d", ct.Len())
	}
	// Tracking a known inode again replaces its address.
	ct.Track(4, netip.MustParseAddr("198.18.0.44"))
	if ct.Len() != 3 || ct.conns[4].addr != netip.MustParseAddr("198.18.0.44") {
		t.Errorf("re-track: Len %d, addr %v", ct.Len(), ct.conns[4].addr)
	}
}

func TestConnTrackerAsInUse(t *testing.T) {
	tcp := writeFile(t, "tcp", procTCP(11))
	ct := NewConnTracker(0)
	ct.ProcFiles = []string{tcp}
	clock := newClock()
	p := mustPool(t, PoolConfig{Capacity: 1, Now: clock.Now, InUse: ct.Live})
	v4, _, _ := p.Assign("a.test")
	ct.Track(11, v4)
	clock.Advance(DefaultTTL * 2)
	if _, _, err := p.Assign("b.test"); err == nil {
		t.Fatal("recycled an address a live socket uses")
	}
	if err := os.WriteFile(tcp, []byte(procTCP()), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Assign("b.test"); err != nil {
		t.Fatalf("socket closed, still: %v", err)
	}
}
