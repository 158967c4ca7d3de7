package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

// Run checks that the stores made by open meet the store contract. open
// must return a fresh, empty store each time it is called; Run closes it,
// so backends must accept a second Close.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	fresh := func(t *testing.T) store.Store {
		t.Helper()
		s := open(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
	suites := []struct {
		name string
		run  func(*testing.T, func(*testing.T) store.Store)
	}{
		{"Keys", runKeys},
		{"ListKeys", runListKeys},
		{"UpdateKey", runUpdateKey},
		{"RevocationLog", runRevocationLog},
		{"SigningKeys", runSigningKeys},
		{"Queries", runQueries},
		{"History", runHistory},
		{"Usage", runUsage},
		{"Lifecycle", func(t *testing.T, _ func(*testing.T) store.Store) { runLifecycle(t, open) }},
	}
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) { s.run(t, fresh) })
	}
}

// base is a record with every field set, including times in a zone other
// than UTC and with nanoseconds, to catch lossy encodings.
func base(id string) store.KeyRecord {
	zone := time.FixedZone("UTC+5", 5*3600)
	return store.KeyRecord{
		ID:               id,
		Owner:            "team-payments",
		Description:      "batch exporter",
		CreatedBy:        "spiffe://example.org/admin",
		Labels:           map[string]string{"env": "prod", "tier": "1"},
		SecretHash:       []byte{0x00, 0xff, 0x10, 0x20, 0x7f, 0x80},
		Scopes:           []string{"read:ledger", "write:ledger"},
		Audiences:        []string{"ledger", "reports"},
		BoundIdentities:  []string{"spiffe://example.org/exporter"},
		MaxTTL:           15 * time.Minute,
		State:            store.KeyStateActive,
		RevocationReason: store.ReasonUnspecified,
		CreatedAt:        time.Date(2025, 3, 1, 12, 0, 0, 123456789, zone),
		ExpiresAt:        time.Date(2026, 3, 1, 12, 0, 0, 1, time.UTC),

		RotationPeriod:     90 * 24 * time.Hour,
		RateLimit:          store.RateLimit{PerSecond: 2.5, Burst: 7},
		LastUsedAt:         time.Date(2025, 3, 2, 8, 0, 0, 2, zone),
		UseCount:           1<<40 + 3,
		LastAttestedAt:     time.Date(2025, 3, 3, 9, 0, 0, 3, zone),
		RotatedAt:          time.Date(2025, 3, 4, 10, 0, 0, 4, zone),
		PreviousSecretHash: []byte{0xff, 0x00, 0x01, 0x80},
		GraceDeadline:      time.Date(2025, 3, 5, 11, 0, 0, 5, zone),
		DisabledAt:         time.Date(2025, 3, 6, 12, 0, 0, 6, zone),
		DisabledReason:     "unused",
		EnabledAt:          time.Date(2025, 3, 7, 13, 0, 0, 7, zone),
		RotationFlaggedAt:  time.Date(2025, 3, 8, 14, 0, 0, 8, zone),
		History: []store.KeyEvent{
			{At: time.Date(2025, 3, 1, 12, 0, 0, 123456789, zone), Action: "created",
				Actor: "spiffe://example.org/admin"},
			{At: time.Date(2025, 3, 4, 10, 0, 0, 4, zone), Action: "rotated",
				Actor: "spiffe://example.org/admin", Reason: "leaked", Detail: "grace \"1h\" ✓"},
			{At: time.Date(2025, 3, 6, 12, 0, 0, 6, zone), Action: "disabled", Actor: "janitor",
				Reason: "unused"},
		},
	}
}

// normalize makes records comparable with reflect.DeepEqual: the contract
// promises the same instant (not the same zone) and nil for empty
// collections.
func normalize(r store.KeyRecord) store.KeyRecord {
	r = r.Clone()
	r.CreatedAt = r.CreatedAt.UTC()
	r.ExpiresAt = r.ExpiresAt.UTC()
	r.RevokedAt = r.RevokedAt.UTC()
	for _, p := range []*time.Time{&r.LastUsedAt, &r.LastAttestedAt, &r.RotatedAt,
		&r.GraceDeadline, &r.DisabledAt, &r.EnabledAt, &r.RotationFlaggedAt} {
		*p = p.UTC()
	}
	for i := range r.History {
		r.History[i].At = r.History[i].At.UTC()
	}
	return r
}

func assertKey(t *testing.T, got, want store.KeyRecord) {
	t.Helper()
	if g, w := normalize(got), normalize(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("record mismatch\n got: %+v\nwant: %+v\n(secret hash got %x want %x; "+
			"previous hash got %x want %x)\n(history got %+v\nwant %+v)",
			g, w, g.SecretHash, w.SecretHash, g.PreviousSecretHash, w.PreviousSecretHash,
			g.History, w.History)
	}
}

func mustCreate(t *testing.T, s store.Store, rec store.KeyRecord) {
	t.Helper()
	if err := s.CreateKey(context.Background(), rec); err != nil {
		t.Fatalf("CreateKey(%q): %v", rec.ID, err)
	}
}

func mustGet(t *testing.T, s store.Store, id string) store.KeyRecord {
	t.Helper()
	rec, err := s.GetKey(context.Background(), id)
	if err != nil {
		t.Fatalf("GetKey(%q): %v", id, err)
	}
	return rec
}
