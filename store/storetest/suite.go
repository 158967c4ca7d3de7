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
		{"Revocations", runRevocations},
		{"SigningKeys", runSigningKeys},
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
	return r
}

func assertKey(t *testing.T, got, want store.KeyRecord) {
	t.Helper()
	if g, w := normalize(got), normalize(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("record mismatch\n got: %+v\nwant: %+v\n(secret hash got %x want %x)",
			g, w, g.SecretHash, w.SecretHash)
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
