package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

// Clock is a manual clock for stores that take one. It starts at the real
// time and only moves forward, so it never runs behind a storage engine
// that expires entries by the wall clock.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock reading the current time.
func NewClock() *Clock { return &Clock{now: time.Now()} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// RunReopen checks the parts of the revocation-log contract that need a
// restart or the passage of time. open must open the store kept in dir,
// creating it empty on first use, and judge expiry by now; RunReopen
// closes every store it opens.
func RunReopen(t *testing.T, open func(t *testing.T, dir string, now func() time.Time) store.Store) {
	t.Helper()
	reopen := func(t *testing.T, dir string, clock *Clock) store.Store {
		t.Helper()
		s := open(t, dir, clock.Now)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	closeStore := func(t *testing.T, s store.Store) {
		t.Helper()
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}

	t.Run("revisions keep increasing across Close and Open", func(t *testing.T) {
		dir, clock := t.TempDir(), NewClock()
		var want []store.Revocation
		for round := range 3 {
			s := reopen(t, dir, clock)
			assertLog(t, s, want, lastRev(want))
			for _, v := range []string{"a", "b"} {
				r := mustAppend(t, s, jtiRevocation(v+string(rune('0'+round)), clock.Now()))
				if prev := lastRev(want); r.Rev <= prev {
					t.Fatalf("round %d: revision %d after %d, want strictly increasing", round, r.Rev, prev)
				}
				want = append(want, r)
			}
			closeStore(t, s)
		}
	})

	t.Run("expired entries are skipped", func(t *testing.T) {
		dir, clock := t.TempDir(), NewClock()
		s := reopen(t, dir, clock)
		now := clock.Now()
		hour := jtiRevocation("hour", now)
		twoHours := jtiRevocation("two-hours", now)
		twoHours.ExpiresAt = now.Add(2 * time.Hour)
		forever := store.Revocation{Kind: store.RevokeSigningKeyTokens, Value: "kid-1", At: now}
		hour, twoHours, forever = mustAppend(t, s, hour), mustAppend(t, s, twoHours), mustAppend(t, s, forever)

		steps := []struct {
			name    string
			advance time.Duration
			want    []store.Revocation
		}{
			{"before any expiry", 0, []store.Revocation{hour, twoHours, forever}},
			{"a nanosecond before the first", time.Hour - time.Nanosecond, []store.Revocation{hour, twoHours, forever}},
			// ExpiresAt itself is already expired.
			{"at the first", time.Nanosecond, []store.Revocation{twoHours, forever}},
			{"after both", 2 * time.Hour, []store.Revocation{forever}},
			{"much later", 100 * 365 * 24 * time.Hour, []store.Revocation{forever}},
		}
		for _, step := range steps {
			t.Run(step.name, func(t *testing.T) {
				clock.Advance(step.advance)
				assertLog(t, s, step.want, forever.Rev)
			})
		}
	})

	t.Run("the last revision survives when its entry has expired", func(t *testing.T) {
		dir, clock := t.TempDir(), NewClock()
		s := reopen(t, dir, clock)
		first := mustAppend(t, s, jtiRevocation("first", clock.Now()))
		last := mustAppend(t, s, jtiRevocation("last", clock.Now()))
		clock.Advance(2 * time.Hour)
		assertLog(t, s, nil, last.Rev)
		closeStore(t, s)

		s = reopen(t, dir, clock)
		assertLog(t, s, nil, last.Rev)
		next := mustAppend(t, s, jtiRevocation("next", clock.Now()))
		if next.Rev <= last.Rev || next.Rev <= first.Rev {
			t.Fatalf("revision %d after the expired %d, want strictly increasing", next.Rev, last.Rev)
		}
		assertLog(t, s, []store.Revocation{next}, next.Rev)
	})

	t.Run("already past is judged by the store's clock", func(t *testing.T) {
		dir, clock := t.TempDir(), NewClock()
		s := reopen(t, dir, clock)
		kept := mustAppend(t, s, jtiRevocation("kept", clock.Now()))
		clock.Advance(time.Hour)
		// Still in the future by the wall clock, but past by the store's.
		r := jtiRevocation("late", time.Now())
		r.ExpiresAt = time.Now().Add(30 * time.Minute)
		got, err := s.AppendRevocation(context.Background(), r)
		if err != nil || got != (store.Revocation{}) {
			t.Fatalf("AppendRevocation = %+v, %v; want zero revocation, nil", got, err)
		}
		assertLog(t, s, nil, kept.Rev)
	})
}

func lastRev(rs []store.Revocation) uint64 {
	if len(rs) == 0 {
		return 0
	}
	return rs[len(rs)-1].Rev
}
