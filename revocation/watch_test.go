package revocation

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/latchkeyhq/latchkey/store"
)

// revokeN appends n jti revocations through a fresh Revoker.
func revokeN(t *testing.T, r *Revoker, prefix string, n int) {
	t.Helper()
	for i := range n {
		if _, err := r.Revoke(context.Background(), jtiRev(fmt.Sprintf("%s%d", prefix, i))); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
	}
}

func TestWatchFrom(t *testing.T) {
	tests := []struct {
		name     string
		baseRev  uint64 // revision the view was loaded at
		history  int
		revokes  int
		from     uint64
		wantRevs []uint64
		wantErr  error
	}{
		{"from 0 replays all history", 0, 10, 5, 0, []uint64{1, 2, 3, 4, 5}, nil},
		{"from the middle", 0, 10, 5, 3, []uint64{4, 5}, nil},
		{"from the current revision", 0, 10, 5, 5, nil, nil},
		{"from the ring's floor", 0, 3, 5, 2, []uint64{3, 4, 5}, nil},
		{"one older than the ring holds", 0, 3, 5, 1, nil, ErrResync},
		{"from 0 after the ring wrapped", 0, 3, 5, 0, nil, ErrResync},
		{"newer than Revision", 0, 10, 5, 6, nil, ErrResync},
		{"older than a loaded view", 7, 10, 0, 6, nil, ErrResync},
		{"from a loaded view's revision", 7, 10, 2, 7, []uint64{8, 9}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &fakeLog{now: t0, last: tt.baseRev}
			v := NewView(nil, tt.baseRev, WithHistory(tt.history))
			revokeN(t, NewRevoker(log, v), "j", tt.revokes)
			w, err := v.Watch(tt.from)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Watch(%d) error = %v, want %v", tt.from, err, tt.wantErr)
			}
			if err != nil {
				if w != nil {
					t.Fatal("Watch returned a watcher with an error")
				}
				return
			}
			defer w.Close()
			if got := revs(collect(t, w, len(tt.wantRevs))); !slices.Equal(got, tt.wantRevs) {
				t.Fatalf("replayed %v, want %v", got, tt.wantRevs)
			}
			assertNoEvent(t, w)
		})
	}
}

// TestWatchReplayLargerThanBuffer checks that a backlog bigger than the
// watch buffer is replayed whole, then live events follow.
func TestWatchReplayLargerThanBuffer(t *testing.T) {
	log := &fakeLog{now: t0}
	v := NewView(nil, 0, WithHistory(100), WithWatchBuffer(2))
	r := NewRevoker(log, v)
	revokeN(t, r, "a", 50)
	w, err := v.Watch(0)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	defer w.Close()
	revokeN(t, r, "b", 2)
	got := revs(collect(t, w, 52))
	for i, rev := range got {
		if rev != uint64(i+1) {
			t.Fatalf("event %d has Rev %d", i, rev)
		}
	}
	if w.Err() != nil {
		t.Fatalf("Err = %v, want nil", w.Err())
	}
}

func TestWatcherClose(t *testing.T) {
	log := &fakeLog{now: t0}
	v := NewView(nil, 0)
	r := NewRevoker(log, v)
	w, err := v.Watch(0)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	w.Close()
	w.Close()
	if _, ok := <-w.Events(); ok {
		t.Fatal("channel open after Close")
	}
	if w.Err() != nil {
		t.Fatalf("Err after Close = %v, want nil", w.Err())
	}
	// Revoking after Close must neither panic on a closed channel nor
	// deliver anything.
	revokeN(t, r, "x", 3)
	if _, ok := <-w.Events(); ok {
		t.Fatal("event delivered after Close")
	}
}

// TestSnapshotThenWatch checks the two-call pattern: revisions applied
// between Snapshot and Watch are replayed, so nothing is missed or doubled.
func TestSnapshotThenWatch(t *testing.T) {
	log := &fakeLog{now: t0}
	v := NewView(nil, 0)
	r := NewRevoker(log, v)
	revokeN(t, r, "a", 4)
	snap, rev := v.Snapshot()
	revokeN(t, r, "b", 3)
	w, err := v.Watch(rev)
	if err != nil {
		t.Fatalf("Watch(%d): %v", rev, err)
	}
	defer w.Close()
	revokeN(t, r, "c", 2)
	got := append(revs(snap), revs(collect(t, w, 5))...)
	if want := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(got, want) {
		t.Fatalf("snapshot+watch revisions = %v, want %v", got, want)
	}
	assertNoEvent(t, w)
}

// TestSnapshotAndWatchExactlyOnce takes SnapshotAndWatch while 8 revokers
// run and checks that snapshot and stream together hold every revision
// exactly once, and that the stream starts right after the snapshot.
func TestSnapshotAndWatchExactlyOnce(t *testing.T) {
	const revokers, each = 8, 100
	log := &fakeLog{now: t0}
	v := NewView(nil, 0)
	r := NewRevoker(log, v)

	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range revokers {
		wg.Go(func() {
			<-start
			for i := range each {
				if _, err := r.Revoke(context.Background(), jtiRev(fmt.Sprintf("g%d-%d", g, i))); err != nil {
					t.Errorf("Revoke: %v", err)
					return
				}
			}
		})
	}
	revokeN(t, r, "pre", 1) // the snapshot is never empty
	close(start)
	// Take the snapshot once the revokers are under way, so that it
	// usually lands mid-stream; the assertions hold wherever it lands.
	for v.Revision() < 50 {
		runtime.Gosched()
	}
	snap, rev, w := v.SnapshotAndWatch()
	t.Logf("snapshot at revision %d of %d", rev, revokers*each+1)
	defer w.Close()
	wg.Wait()

	const n = revokers*each + 1
	if uint64(len(snap)) != rev {
		t.Fatalf("snapshot holds %d entries at revision %d", len(snap), rev)
	}
	events := collect(t, w, n-int(rev))
	assertNoEvent(t, w)
	if len(events) > 0 && events[0].Rev != rev+1 {
		t.Fatalf("first event Rev %d, want %d", events[0].Rev, rev+1)
	}
	seen := make(map[uint64]int, n)
	for _, e := range append(snap, events...) {
		seen[e.Rev]++
	}
	for i := uint64(1); i <= n; i++ {
		if seen[i] != 1 {
			t.Fatalf("revision %d seen %d times, want once", i, seen[i])
		}
	}
	if len(seen) != n {
		t.Fatalf("saw %d distinct revisions, want %d", len(seen), n)
	}
}

func TestSnapshotOrderedByRevision(t *testing.T) {
	entries := []store.Revocation{
		{Rev: 5, Kind: store.RevokeSigningKeyTokens, Value: "kid"},
		{Rev: 2, Kind: store.RevokeJTI, Value: "j"},
		{Rev: 9, Kind: store.RevokeKeyTokens, Value: "k", Before: t0},
		{Rev: 3, Kind: store.RevokeSubjectTokens, Value: "s", Before: t0},
	}
	snap, rev := NewView(entries, 10).Snapshot()
	if got, want := revs(snap), []uint64{2, 3, 5, 9}; !slices.Equal(got, want) || rev != 10 {
		t.Fatalf("Snapshot = %v at %d, want %v at 10", got, rev, want)
	}
}
