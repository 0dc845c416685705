package main

import (
	"context"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// memoryReleaser gives the memory of a burst of connections back to the
// system once the command has been quiet for a while: Go keeps freed heap
// for reuse, so a tracer that served a thousand connections would stay at
// their high-water mark for the rest of a long run.
type memoryReleaser struct {
	lastActive atomic.Int64 // unix nanoseconds of the last negotiation
	dirty      atomic.Bool  // negotiations since the last release
}

// Thresholds of the release: quiet this long, checked this often.
const (
	releaseAfterQuiet = 500 * time.Millisecond
	releaseCheckEvery = 250 * time.Millisecond
)

// active notes a negotiation.
func (m *memoryReleaser) active() {
	m.lastActive.Store(time.Now().UnixNano())
	m.dirty.Store(true)
}

// run releases memory after each quiet spell until ctx ends.
func (m *memoryReleaser) run(ctx context.Context) {
	t := time.NewTicker(releaseCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			quiet := time.Since(time.Unix(0, m.lastActive.Load()))
			if quiet >= releaseAfterQuiet && m.dirty.CompareAndSwap(true, false) {
				debug.FreeOSMemory()
			}
		}
	}
}
