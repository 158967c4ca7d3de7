package storetest

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

func runKeys(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()

	t.Run("create then get returns every field", func(t *testing.T) {
		s := open(t)
		want := base("k1")
		want.RevokedAt = time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
		want.State = store.KeyStateRevoked
		want.RevocationReason = store.ReasonLeaked
		mustCreate(t, s, want)
		assertKey(t, mustGet(t, s, "k1"), want)
	})

	t.Run("zero times and empty collections stay unset", func(t *testing.T) {
		s := open(t)
		want := store.KeyRecord{ID: "bare", State: store.KeyStateDisabled,
			Labels: map[string]string{}, Scopes: []string{},
			PreviousSecretHash: []byte{}, History: []store.KeyEvent{}}
		mustCreate(t, s, want)
		got := mustGet(t, s, "bare")
		for name, tm := range map[string]time.Time{"CreatedAt": got.CreatedAt, "ExpiresAt": got.ExpiresAt,
			"RevokedAt": got.RevokedAt, "LastUsedAt": got.LastUsedAt, "LastAttestedAt": got.LastAttestedAt,
			"RotatedAt": got.RotatedAt, "GraceDeadline": got.GraceDeadline, "DisabledAt": got.DisabledAt,
			"EnabledAt": got.EnabledAt, "RotationFlaggedAt": got.RotationFlaggedAt} {
			if !tm.IsZero() {
				t.Fatalf("zero %s came back as %v", name, tm)
			}
		}
		if got.Labels != nil || got.Scopes != nil || got.SecretHash != nil ||
			got.PreviousSecretHash != nil || got.History != nil {
			t.Fatalf("empty collections came back non-nil: %+v", got)
		}
		if got.RotationPeriod != 0 || got.RateLimit != (store.RateLimit{}) || got.UseCount != 0 {
			t.Fatalf("zero values came back set: %+v", got)
		}
		assertKey(t, got, want)
	})

	t.Run("duplicate id is rejected and the original kept", func(t *testing.T) {
		s := open(t)
		orig := base("dup")
		mustCreate(t, s, orig)
		other := base("dup")
		other.Owner = "intruder"
		if err := s.CreateKey(ctx, other); !errors.Is(err, store.ErrAlreadyExists) {
			t.Fatalf("second CreateKey = %v, want ErrAlreadyExists", err)
		}
		assertKey(t, mustGet(t, s, "dup"), orig)
	})

	t.Run("missing id is not found", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, base("present"))
		for _, id := range []string{"absent", "presen", "present2", "PRESENT"} {
			t.Run(id, func(t *testing.T) {
				if _, err := s.GetKey(ctx, id); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("GetKey(%q) = %v, want ErrNotFound", id, err)
				}
			})
		}
	})

	t.Run("invalid records are rejected", func(t *testing.T) {
		s := open(t)
		cases := []struct {
			name   string
			mutate func(*store.KeyRecord)
		}{
			{"empty id", func(r *store.KeyRecord) { r.ID = "" }},
			{"oversized id", func(r *store.KeyRecord) { r.ID = strings.Repeat("x", store.MaxIDLength+1) }},
			{"unspecified state", func(r *store.KeyRecord) { r.State = store.KeyStateUnspecified }},
			{"unknown state", func(r *store.KeyRecord) { r.State = 42 }},
			{"unknown reason", func(r *store.KeyRecord) { r.RevocationReason = 42 }},
			{"negative rotation period", func(r *store.KeyRecord) { r.RotationPeriod = -1 }},
			{"negative rate", func(r *store.KeyRecord) { r.RateLimit.PerSecond = -0.5 }},
			{"NaN rate", func(r *store.KeyRecord) { r.RateLimit.PerSecond = math.NaN() }},
			{"infinite rate", func(r *store.KeyRecord) { r.RateLimit.PerSecond = math.Inf(1) }},
			{"negative burst", func(r *store.KeyRecord) { r.RateLimit.Burst = -1 }},
			{"history over the cap", func(r *store.KeyRecord) {
				r.History = make([]store.KeyEvent, store.MaxKeyHistory+1)
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				rec := base("bad")
				tc.mutate(&rec)
				if err := s.CreateKey(ctx, rec); !errors.Is(err, store.ErrInvalidArgument) {
					t.Fatalf("CreateKey = %v, want ErrInvalidArgument", err)
				}
			})
		}
		if _, err := s.GetKey(ctx, ""); !errors.Is(err, store.ErrInvalidArgument) {
			t.Fatalf("GetKey(\"\") = %v, want ErrInvalidArgument", err)
		}
		if page, err := s.ListKeys(ctx, store.KeyQuery{}); err != nil || len(page.Keys) != 0 {
			t.Fatalf("rejected records were stored: %v, %v", page.Keys, err)
		}
	})

	t.Run("records are copied in and out", func(t *testing.T) {
		s := open(t)
		in := base("alias")
		want := base("alias")
		mustCreate(t, s, in)
		scribble(&in)

		out := mustGet(t, s, "alias")
		scribble(&out)
		assertKey(t, mustGet(t, s, "alias"), want)

		page, err := s.ListKeys(ctx, store.KeyQuery{})
		if err != nil || len(page.Keys) != 1 {
			t.Fatalf("ListKeys = %v, %v", page.Keys, err)
		}
		scribble(&page.Keys[0])
		assertKey(t, mustGet(t, s, "alias"), want)

		var kept *store.KeyRecord
		updated, err := s.UpdateKey(ctx, "alias", func(r *store.KeyRecord) error {
			kept = r
			return nil
		})
		if err != nil {
			t.Fatalf("UpdateKey: %v", err)
		}
		scribble(kept)
		scribble(&updated)
		assertKey(t, mustGet(t, s, "alias"), want)
	})
}

// scribble changes every shared collection in place, so that a store that
// aliases caller memory shows the change on the next read.
func scribble(r *store.KeyRecord) {
	r.Labels["env"] = "scribbled"
	r.SecretHash[0] ^= 0xff
	r.Scopes[0] = "scribbled"
	r.Audiences[0] = "scribbled"
	r.BoundIdentities[0] = "scribbled"
	r.PreviousSecretHash[0] ^= 0xff
	r.History[0].Detail = "scribbled"
}
