package revocation

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

func TestRevokeVisibleAtOnce(t *testing.T) {
	tests := []struct {
		name   string
		rev    store.Revocation
		claims Claims
	}{
		{"jti", jtiRev("j1"), Claims{JTI: "j1"}},
		{"key", store.Revocation{Kind: store.RevokeKeyTokens, Value: "k1", Before: t0}, Claims{ClientID: "k1", IssuedAt: t0}},
		{"subject", store.Revocation{Kind: store.RevokeSubjectTokens, Value: "s1", Before: t0}, Claims{Subject: "s1", IssuedAt: t0}},
		{"signing key", store.Revocation{Kind: store.RevokeSigningKeyTokens, Value: "kid1"}, Claims{KID: "kid1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &fakeLog{now: t0}
			v := NewView(nil, 0)
			r := NewRevoker(log, v)
			if v.Revoked(tt.claims) {
				t.Fatal("revoked before Revoke")
			}
			got, err := r.Revoke(context.Background(), tt.rev)
			if err != nil {
				t.Fatalf("Revoke: %v", err)
			}
			if got.Rev != 1 || v.Revision() != 1 || log.len() != 1 {
				t.Fatalf("Rev %d, Revision %d, log len %d; want 1, 1, 1", got.Rev, v.Revision(), log.len())
			}
			if !v.Revoked(tt.claims) {
				t.Fatal("not revoked right after Revoke returned")
			}
		})
	}
}

func TestRevokeFailureLeavesViewUnchanged(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(*fakeLog)
		rev     store.Revocation
		wantErr error
		wantLog int
	}{
		{"log error", func(l *fakeLog) { l.fail = errDiskFull }, jtiRev("new"), errDiskFull, 1},
		{"log unavailable", func(l *fakeLog) { l.fail = store.ErrUnavailable }, jtiRev("new"), store.ErrUnavailable, 1},
		{"invalid: unspecified kind", nil, store.Revocation{Value: "x"}, store.ErrInvalidArgument, 1},
		{"invalid: key without bound", nil, store.Revocation{Kind: store.RevokeKeyTokens, Value: "k"}, store.ErrInvalidArgument, 1},
		{"invalid: empty value", nil, store.Revocation{Kind: store.RevokeJTI}, store.ErrInvalidArgument, 1},
		{"log reports a stale revision", func(l *fakeLog) { l.forceRev = 1 }, jtiRev("new"), ErrRevisionOrder, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &fakeLog{now: t0}
			v := NewView(nil, 0)
			r := NewRevoker(log, v)
			if _, err := r.Revoke(context.Background(), jtiRev("old")); err != nil {
				t.Fatalf("first Revoke: %v", err)
			}
			w, err := v.Watch(1)
			if err != nil {
				t.Fatalf("Watch: %v", err)
			}
			defer w.Close()
			if tt.setup != nil {
				tt.setup(log)
			}
			_, err = r.Revoke(context.Background(), tt.rev)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Revoke error = %v, want %v", err, tt.wantErr)
			}
			if v.Revision() != 1 || v.Len() != 1 || v.Revoked(Claims{JTI: "new"}) || !v.Revoked(Claims{JTI: "old"}) {
				t.Fatalf("view changed: Revision %d Len %d", v.Revision(), v.Len())
			}
			if log.len() != tt.wantLog {
				t.Fatalf("log holds %d entries, want %d", log.len(), tt.wantLog)
			}
			assertNoEvent(t, w)
		})
	}
}

func TestRevokeExpiredIsNotApplied(t *testing.T) {
	log := &fakeLog{now: t0}
	v := NewView(nil, 0)
	w, err := v.Watch(0)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	defer w.Close()
	rev := jtiRev("gone")
	rev.ExpiresAt = t0
	got, err := NewRevoker(log, v).Revoke(context.Background(), rev)
	if err != nil || got.Rev != 0 {
		t.Fatalf("Revoke = Rev %d, %v; want Rev 0, nil", got.Rev, err)
	}
	if v.Revision() != 0 || v.Len() != 0 {
		t.Fatalf("Revision, Len = %d, %d; want 0, 0", v.Revision(), v.Len())
	}
	assertNoEvent(t, w)
}

func TestRevokeCanceledWhileQueued(t *testing.T) {
	log := &fakeLog{now: t0}
	r := NewRevoker(log, NewView(nil, 0))
	r.sem <- struct{}{} // another revocation holds the turn
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.Revoke(ctx, jtiRev("x"))
	<-r.sem
	if !errors.Is(err, context.Canceled) || log.len() != 0 {
		t.Fatalf("Revoke = %v with %d log entries; want context.Canceled and none", err, log.len())
	}
}

// TestConcurrentRevokersStayOrdered runs 32 revokers at once and checks
// that every watcher sees revisions 1..N strictly increasing with no gap,
// and that each acknowledged revocation was visible when acknowledged.
func TestConcurrentRevokersStayOrdered(t *testing.T) {
	const revokers, each = 32, 50
	log := &fakeLog{now: t0}
	v := NewView(nil, 0)
	r := NewRevoker(log, v)
	var watchers []*Watcher
	for range 3 {
		w, err := v.Watch(0)
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		defer w.Close()
		watchers = append(watchers, w)
	}

	var wg sync.WaitGroup
	errs := make(chan error, revokers)
	for g := range revokers {
		wg.Go(func() {
			for i := range each {
				jti := fmt.Sprintf("g%d-%d", g, i)
				got, err := r.Revoke(context.Background(), jtiRev(jti))
				if err != nil {
					errs <- err
					return
				}
				if !v.Revoked(Claims{JTI: jti}) || v.Revision() < got.Rev {
					errs <- fmt.Errorf("rev %d (%s) not visible when acknowledged", got.Rev, jti)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	const n = revokers * each
	for i, w := range watchers {
		got := collect(t, w, n)
		for j, e := range got {
			if e.Rev != uint64(j+1) {
				t.Fatalf("watcher %d event %d has Rev %d, want %d", i, j, e.Rev, j+1)
			}
		}
		assertNoEvent(t, w)
	}
	if v.Revision() != n || v.Len() != n {
		t.Fatalf("Revision, Len = %d, %d; want %d", v.Revision(), v.Len(), n)
	}
}

// TestRevokeNotBlockedBySlowWatcher holds one watcher that never reads and
// one that reads every event: the slow one is dropped with ErrResync, the
// fast one gets everything, and no Revoke waits on either.
func TestRevokeNotBlockedBySlowWatcher(t *testing.T) {
	const buffer, total = 8, 500
	// Generous: an in-memory revoke takes microseconds; only a Revoke that
	// waited on a watcher could approach this, and one that blocked for
	// good would hang the test instead.
	const maxLatency = time.Second
	log := &fakeLog{now: t0}
	v := NewView(nil, 0, WithWatchBuffer(buffer))
	r := NewRevoker(log, v)
	slow, err := v.Watch(0)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	defer slow.Close()
	fast, err := v.Watch(0)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	defer fast.Close()

	var worst time.Duration
	for i := range total {
		start := time.Now()
		got, err := r.Revoke(context.Background(), jtiRev(fmt.Sprint(i)))
		worst = max(worst, time.Since(start))
		if err != nil {
			t.Fatalf("Revoke %d: %v", i, err)
		}
		if e := collect(t, fast, 1)[0]; e.Rev != got.Rev {
			t.Fatalf("fast watcher got Rev %d, want %d", e.Rev, got.Rev)
		}
	}
	if worst > maxLatency {
		t.Fatalf("slowest Revoke took %v, want under %v", worst, maxLatency)
	}

	got := collect(t, slow, buffer)
	if want := []uint64{1, 2, 3, 4, 5, 6, 7, 8}; fmt.Sprint(revs(got)) != fmt.Sprint(want) {
		t.Fatalf("slow watcher received %v, want %v", revs(got), want)
	}
	if _, ok := <-slow.Events(); ok {
		t.Fatal("slow watcher's channel still open after its buffer overflowed")
	}
	if !errors.Is(slow.Err(), ErrResync) {
		t.Fatalf("slow.Err() = %v, want ErrResync", slow.Err())
	}
	if fast.Err() != nil {
		t.Fatalf("fast.Err() = %v, want nil", fast.Err())
	}
}
