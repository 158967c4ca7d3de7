package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

// jtiRevocation is a valid entry that expires an hour after now.
func jtiRevocation(value string, now time.Time) store.Revocation {
	return store.Revocation{Kind: store.RevokeJTI, Value: value, At: now, ExpiresAt: now.Add(time.Hour),
		Actor: "spiffe://example.org/admin", Reason: "leaked"}
}

func mustAppend(t *testing.T, s store.Store, r store.Revocation) store.Revocation {
	t.Helper()
	got, err := s.AppendRevocation(context.Background(), r)
	if err != nil {
		t.Fatalf("AppendRevocation(%v %q): %v", r.Kind, r.Value, err)
	}
	if got.Rev == 0 {
		t.Fatalf("AppendRevocation(%v %q) assigned revision 0", r.Kind, r.Value)
	}
	return got
}

func mustLoad(t *testing.T, s store.Store) ([]store.Revocation, uint64) {
	t.Helper()
	got, last, err := s.LoadRevocations(context.Background())
	if err != nil {
		t.Fatalf("LoadRevocations: %v", err)
	}
	return got, last
}

// sameRevocation compares instants rather than zones: the contract keeps
// the instant, not the location.
func sameRevocation(a, b store.Revocation) bool {
	return a.Rev == b.Rev && a.Kind == b.Kind && a.Value == b.Value &&
		a.Before.Equal(b.Before) && a.At.Equal(b.At) && a.ExpiresAt.Equal(b.ExpiresAt) &&
		a.Actor == b.Actor && a.Reason == b.Reason
}

// assertLog checks that the log holds exactly want, in order, and that its
// last revision is wantLast.
func assertLog(t *testing.T, s store.Store, want []store.Revocation, wantLast uint64) {
	t.Helper()
	got, last := mustLoad(t, s)
	if last != wantLast {
		t.Errorf("last revision = %d, want %d", last, wantLast)
	}
	if len(got) != len(want) {
		t.Fatalf("loaded %d entries, want %d:\n got %+v\nwant %+v", len(got), len(want), got, want)
	}
	for i := range want {
		if !sameRevocation(got[i], want[i]) {
			t.Fatalf("entry %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func runRevocationLog(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()

	t.Run("empty log", func(t *testing.T) {
		assertLog(t, open(t), nil, 0)
	})

	t.Run("every field round-trips", func(t *testing.T) {
		s := open(t)
		zone := time.FixedZone("UTC-7", -7*3600)
		now := time.Now()
		cases := []store.Revocation{
			{Kind: store.RevokeJTI, Value: "jti-1", At: time.Date(2025, 1, 2, 3, 4, 5, 6, zone),
				ExpiresAt: now.Add(time.Hour).In(zone), Actor: "spiffe://example.org/admin", Reason: "leaked ✓"},
			{Kind: store.RevokeKeyTokens, Value: "key-1", Before: time.Date(2025, 1, 2, 3, 4, 5, 999999999, zone),
				At: time.Date(2025, 1, 2, 3, 4, 6, 0, time.UTC), ExpiresAt: now.AddDate(1, 0, 0)},
			{Kind: store.RevokeSubjectTokens, Value: "spiffe://example.org/ns/a/sa/b",
				Before: time.Date(1969, 12, 31, 23, 59, 59, 1, time.UTC), Actor: "janitor",
				Reason: strings.Repeat("r", store.MaxRevocationTextLength)},
			{Kind: store.RevokeSigningKeyTokens, Value: strings.Repeat("k", store.MaxIDLength),
				Actor: strings.Repeat("a", store.MaxRevocationTextLength)},
			// Rev is assigned by the log: a caller's value is ignored.
			{Rev: math.MaxUint64, Kind: store.RevokeJTI, Value: "a\x00b \"quoted\"",
				At: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
		}
		var want []store.Revocation
		var prev uint64
		for i, r := range cases {
			got := mustAppend(t, s, r)
			if got.Rev <= prev {
				t.Fatalf("case %d: revision %d after %d, want strictly increasing", i, got.Rev, prev)
			}
			prev = got.Rev
			r.Rev = got.Rev
			if !sameRevocation(got, r) {
				t.Fatalf("case %d: AppendRevocation returned\n %+v\nwant\n %+v", i, got, r)
			}
			want = append(want, r)
		}
		assertLog(t, s, want, prev)
	})

	t.Run("an ExpiresAt already past stores nothing", func(t *testing.T) {
		s := open(t)
		first := mustAppend(t, s, jtiRevocation("kept", time.Now()))
		for _, exp := range []time.Time{time.Now().Add(-time.Second), time.Now().Add(-24 * time.Hour),
			time.Unix(0, 1)} {
			r := jtiRevocation("gone", time.Now())
			r.ExpiresAt = exp
			got, err := s.AppendRevocation(ctx, r)
			if err != nil || got != (store.Revocation{}) {
				t.Fatalf("AppendRevocation(ExpiresAt %v) = %+v, %v; want zero revocation, nil", exp, got, err)
			}
		}
		assertLog(t, s, []store.Revocation{first}, first.Rev)
		if next := mustAppend(t, s, jtiRevocation("next", time.Now())); next.Rev <= first.Rev {
			t.Fatalf("revision %d after %d, want strictly increasing", next.Rev, first.Rev)
		}
	})

	t.Run("invalid revocations are rejected", func(t *testing.T) {
		s := open(t)
		now := time.Now()
		valid := jtiRevocation("j", now)
		cases := []struct {
			name   string
			change func(*store.Revocation)
		}{
			{"unspecified kind", func(r *store.Revocation) { r.Kind = store.RevocationUnspecified }},
			{"unknown kind", func(r *store.Revocation) { r.Kind = store.RevokeSigningKeyTokens + 1 }},
			{"kind 255", func(r *store.Revocation) { r.Kind = 255 }},
			{"empty value", func(r *store.Revocation) { r.Value = "" }},
			{"oversized value", func(r *store.Revocation) { r.Value = strings.Repeat("v", store.MaxIDLength+1) }},
			{"value not utf8", func(r *store.Revocation) { r.Value = "\xc3\x28" }},
			{"key without Before", func(r *store.Revocation) { r.Kind = store.RevokeKeyTokens }},
			{"subject without Before", func(r *store.Revocation) { r.Kind = store.RevokeSubjectTokens }},
			{"jti with Before", func(r *store.Revocation) { r.Before = now }},
			{"signing key with Before", func(r *store.Revocation) {
				r.Kind, r.Before = store.RevokeSigningKeyTokens, now
			}},
			{"oversized actor", func(r *store.Revocation) {
				r.Actor = strings.Repeat("a", store.MaxRevocationTextLength+1)
			}},
			{"reason not utf8", func(r *store.Revocation) { r.Reason = "\xff" }},
			// Validation comes first: an invalid entry is an error even
			// when it would have expired anyway.
			{"invalid and already expired", func(r *store.Revocation) {
				r.Value, r.ExpiresAt = "", now.Add(-time.Hour)
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := valid
				tc.change(&r)
				got, err := s.AppendRevocation(ctx, r)
				if !errors.Is(err, store.ErrInvalidArgument) || got != (store.Revocation{}) {
					t.Fatalf("AppendRevocation = %+v, %v; want ErrInvalidArgument", got, err)
				}
			})
		}
		assertLog(t, s, nil, 0)
	})

	t.Run("concurrent appends get distinct increasing revisions", func(t *testing.T) {
		s := open(t)
		const writers, each = 32, 10
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			seen = make(map[uint64]string)
			errs = make(chan error, writers)
		)
		for w := range writers {
			wg.Go(func() {
				var prev uint64
				for i := range each {
					value := fmt.Sprintf("w%d-%d", w, i)
					got, err := s.AppendRevocation(ctx, jtiRevocation(value, time.Now()))
					if err != nil {
						errs <- fmt.Errorf("writer %d: %w", w, err)
						return
					}
					if got.Rev <= prev {
						errs <- fmt.Errorf("writer %d: revision %d after its own %d", w, got.Rev, prev)
						return
					}
					prev = got.Rev
					mu.Lock()
					other, dup := seen[got.Rev]
					seen[got.Rev] = value
					mu.Unlock()
					if dup {
						errs <- fmt.Errorf("revision %d given to %s and %s", got.Rev, other, value)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if t.Failed() {
			return
		}
		got, last := mustLoad(t, s)
		if len(got) != writers*each {
			t.Fatalf("loaded %d entries, want %d", len(got), writers*each)
		}
		for i, r := range got {
			if seen[r.Rev] != r.Value {
				t.Fatalf("entry %d: revision %d holds %q, was assigned to %q", i, r.Rev, r.Value, seen[r.Rev])
			}
			if i > 0 && r.Rev <= got[i-1].Rev {
				t.Fatalf("entry %d: revision %d after %d, want revision order", i, r.Rev, got[i-1].Rev)
			}
		}
		if want := got[len(got)-1].Rev; last != want {
			t.Fatalf("last revision = %d, want %d", last, want)
		}
	})
}
