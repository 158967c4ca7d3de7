package revocation

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/latchkeyhq/latchkey/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

var errDiskFull = errors.New("disk full")

// fakeLog is an in-memory store.RevocationLog that numbers entries densely
// from 1, like a log that never skips a revision.
type fakeLog struct {
	mu      sync.Mutex
	entries []store.Revocation
	last    uint64
	now     time.Time
	// fail, when set, is returned by the next appends instead of storing.
	fail error
	// forceRev, when non-zero, is the revision the next append reports.
	forceRev uint64
}

var _ store.RevocationLog = (*fakeLog)(nil)

func (l *fakeLog) AppendRevocation(ctx context.Context, r store.Revocation) (store.Revocation, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return store.Revocation{}, err
	}
	if l.fail != nil {
		return store.Revocation{}, l.fail
	}
	if err := r.Validate(); err != nil {
		return store.Revocation{}, err
	}
	if !r.ExpiresAt.IsZero() && !r.ExpiresAt.After(l.now) {
		return r, nil
	}
	l.last++
	r.Rev = l.last
	if l.forceRev != 0 {
		r.Rev = l.forceRev
	}
	l.entries = append(l.entries, r)
	return r, nil
}

func (l *fakeLog) LoadRevocations(context.Context) ([]store.Revocation, uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]store.Revocation(nil), l.entries...), l.last, nil
}

func (l *fakeLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

func jtiRev(jti string) store.Revocation {
	return store.Revocation{Kind: store.RevokeJTI, Value: jti, At: t0, ExpiresAt: t0.Add(time.Hour)}
}

// collect reads exactly n events, failing the test if the channel closes or
// stalls first.
func collect(t *testing.T, w *Watcher, n int) []store.Revocation {
	t.Helper()
	out := make([]store.Revocation, 0, n)
	timeout := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case e, ok := <-w.Events():
			if !ok {
				t.Fatalf("events closed after %d of %d (Err = %v)", len(out), n, w.Err())
			}
			out = append(out, e)
		case <-timeout:
			t.Fatalf("received %d of %d events before timing out", len(out), n)
		}
	}
	return out
}

// assertNoEvent fails if an event is already waiting on w.
func assertNoEvent(t *testing.T, w *Watcher) {
	t.Helper()
	select {
	case e, ok := <-w.Events():
		t.Fatalf("unexpected event %+v (open=%v)", e, ok)
	default:
	}
}

func revs(es []store.Revocation) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.Rev
	}
	return out
}
