package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

func TestKeyQueryMatches(t *testing.T) {
	t0 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	rec := store.KeyRecord{ID: "k", Owner: "alice", State: store.KeyStateActive,
		Labels:    map[string]string{"env": "prod", "empty": "", "eq": "a=b"},
		CreatedAt: t0.Add(-48 * time.Hour), ExpiresAt: t0, LastUsedAt: t0.Add(-time.Hour), UseCount: 3}
	neverUsed := rec
	neverUsed.LastUsedAt = time.Time{}
	noExpiry := rec
	noExpiry.ExpiresAt = time.Time{}

	tests := []struct {
		name string
		rec  store.KeyRecord
		q    store.KeyQuery
		want bool
	}{
		{"zero query", rec, store.KeyQuery{}, true},
		{"owner", rec, store.KeyQuery{Owner: "alice"}, true},
		{"other owner", rec, store.KeyQuery{Owner: "bob"}, false},
		{"state", rec, store.KeyQuery{State: store.KeyStateActive}, true},
		{"other state", rec, store.KeyQuery{State: store.KeyStateRevoked}, false},
		{"label present", rec, store.KeyQuery{Label: "env"}, true},
		{"label absent", rec, store.KeyQuery{Label: "team"}, false},
		{"label value", rec, store.KeyQuery{Label: "env=prod"}, true},
		{"label other value", rec, store.KeyQuery{Label: "env=dev"}, false},
		{"empty label value", rec, store.KeyQuery{Label: "empty="}, true},
		{"empty value is not any value", rec, store.KeyQuery{Label: "env="}, false},
		{"value holding =", rec, store.KeyQuery{Label: "eq=a=b"}, true},
		{"expires before", rec, store.KeyQuery{ExpiringBefore: t0.Add(time.Nanosecond)}, true},
		{"expires at the bound", rec, store.KeyQuery{ExpiringBefore: t0}, false},
		{"no expiry never expiring", noExpiry, store.KeyQuery{ExpiringBefore: t0.AddDate(100, 0, 0)}, false},
		{"used before", rec, store.KeyQuery{UnusedSince: t0}, true},
		{"used at the bound", rec, store.KeyQuery{UnusedSince: t0.Add(-time.Hour)}, false},
		{"never used, created before", neverUsed, store.KeyQuery{UnusedSince: t0.Add(-47 * time.Hour)}, true},
		{"never used, created at the bound", neverUsed, store.KeyQuery{UnusedSince: t0.Add(-48 * time.Hour)}, false},
		{"match true", rec, store.KeyQuery{Match: func(r store.KeyRecord) bool { return r.UseCount == 3 }}, true},
		{"match false", rec, store.KeyQuery{Match: func(r store.KeyRecord) bool { return r.UseCount == 4 }}, false},
		{"all hold", rec, store.KeyQuery{Owner: "alice", State: store.KeyStateActive, Label: "env=prod",
			ExpiringBefore: t0.Add(1), UnusedSince: t0, Match: func(store.KeyRecord) bool { return true }}, true},
		{"one fails", rec, store.KeyQuery{Owner: "alice", State: store.KeyStateActive, Label: "env=prod",
			ExpiringBefore: t0.Add(1), UnusedSince: t0, Match: func(store.KeyRecord) bool { return false }}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.q.Matches(tt.rec); got != tt.want {
				t.Fatalf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestKeyQueryMatchGetsACopy(t *testing.T) {
	rec := store.KeyRecord{ID: "k", Labels: map[string]string{"env": "prod"}, History: []store.KeyEvent{{Action: "created"}}}
	q := store.KeyQuery{Match: func(r store.KeyRecord) bool {
		r.Labels["env"] = "x"
		r.History[0].Action = "x"
		return true
	}}
	q.Matches(rec)
	if rec.Labels["env"] != "prod" || rec.History[0].Action != "created" {
		t.Fatalf("Match changed the record: %+v", rec)
	}
}

func TestKeyQueryValidate(t *testing.T) {
	tests := []struct {
		name string
		q    store.KeyQuery
		ok   bool
	}{
		{"zero", store.KeyQuery{}, true},
		{"label name", store.KeyQuery{Label: "env"}, true},
		{"label name and empty value", store.KeyQuery{Label: "env="}, true},
		{"unknown state", store.KeyQuery{State: store.KeyStateExpired + 1}, false},
		{"label without name", store.KeyQuery{Label: "=prod"}, false},
		{"bare =", store.KeyQuery{Label: "="}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.q.Validate()
			if tt.ok != (err == nil) || (!tt.ok && !errors.Is(err, store.ErrInvalidArgument)) {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
