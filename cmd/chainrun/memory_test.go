package main

import (
	"context"
	"testing"
	"time"
)

// TestMemoryReleaser: after a negotiation and a quiet spell the memory is
// released once, and not again until the next negotiation.
func TestMemoryReleaser(t *testing.T) {
	m := &memoryReleaser{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.run(ctx)
	m.active()
	deadline := time.Now().Add(releaseAfterQuiet + 10*releaseCheckEvery)
	for m.dirty.Load() && time.Now().Before(deadline) {
		time.Sleep(releaseCheckEvery / 5)
	}
	if m.dirty.Load() {
		t.Fatal("no release after a quiet spell")
	}
	if q := time.Since(time.Unix(0, m.lastActive.Load())); q < releaseAfterQuiet {
		t.Errorf("released after %v of quiet, before %v", q, releaseAfterQuiet)
	}
}
