package lifecycle

import (
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/store"
)

func TestRotationDueAt(t *testing.T) {
	tests := []struct {
		name  string
		rec   store.KeyRecord
		rules policy.KeyRules
		want  time.Time
	}{
		{"no period anywhere", newKey("k"), rules(nil), time.Time{}},
		{"policy period from creation", newKey("k"),
			rules(func(r *policy.KeyRules) { r.RotationPeriod = 90 * day }), t0.Add(90 * day)},
		{"key period wins over policy", newKey("k", func(r *store.KeyRecord) { r.RotationPeriod = 10 * day }),
			rules(func(r *policy.KeyRules) { r.RotationPeriod = 90 * day }), t0.Add(10 * day)},
		{"key period without policy period", newKey("k", func(r *store.KeyRecord) { r.RotationPeriod = 10 * day }),
			rules(nil), t0.Add(10 * day)},
		{"counted from last rotation", newKey("k", func(r *store.KeyRecord) { r.RotatedAt = t0.Add(50 * day) }),
			rules(func(r *policy.KeyRules) { r.RotationPeriod = 90 * day }), t0.Add(140 * day)},
		{"no creation time", newKey("k", func(r *store.KeyRecord) { r.CreatedAt = time.Time{} }),
			rules(func(r *policy.KeyRules) { r.RotationPeriod = 90 * day }), time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RotationDueAt(tt.rec, tt.rules); !got.Equal(tt.want) {
				t.Fatalf("RotationDueAt = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAttestationDueAt(t *testing.T) {
	monthly := rules(func(r *policy.KeyRules) { r.AttestationPeriod = 30 * day })
	tests := []struct {
		name  string
		rec   store.KeyRecord
		rules policy.KeyRules
		want  time.Time
	}{
		{"rule off", newKey("k"), rules(nil), time.Time{}},
		{"never attested counts from creation", newKey("k"), monthly, t0.Add(30 * day)},
		{"counted from last attestation", newKey("k", func(r *store.KeyRecord) { r.LastAttestedAt = t0.Add(45 * day) }),
			monthly, t0.Add(75 * day)},
		{"use does not count as attestation", newKey("k", func(r *store.KeyRecord) { r.LastUsedAt = t0.Add(45 * day) }),
			monthly, t0.Add(30 * day)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AttestationDueAt(tt.rec, tt.rules); !got.Equal(tt.want) {
				t.Fatalf("AttestationDueAt = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLastActivityAndUnusedDisableAt(t *testing.T) {
	weekly := rules(func(r *policy.KeyRules) { r.UnusedDisableAfter = 7 * day })
	tests := []struct {
		name         string
		rec          store.KeyRecord
		wantActivity time.Time
	}{
		{"never used: creation", newKey("k"), t0},
		{"last use", newKey("k", func(r *store.KeyRecord) { r.LastUsedAt = t0.Add(3 * day) }), t0.Add(3 * day)},
		{"re-enabled after last use", newKey("k", func(r *store.KeyRecord) {
			r.LastUsedAt, r.EnabledAt = t0.Add(3*day), t0.Add(20*day)
		}), t0.Add(20 * day)},
		{"rotated after last use", newKey("k", func(r *store.KeyRecord) {
			r.LastUsedAt, r.RotatedAt, r.EnabledAt = t0.Add(3*day), t0.Add(9*day), t0.Add(day)
		}), t0.Add(9 * day)},
		{"use after everything else", newKey("k", func(r *store.KeyRecord) {
			r.LastUsedAt, r.RotatedAt, r.EnabledAt = t0.Add(30*day), t0.Add(9*day), t0.Add(day)
		}), t0.Add(30 * day)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LastActivity(tt.rec); !got.Equal(tt.wantActivity) {
				t.Fatalf("LastActivity = %v, want %v", got, tt.wantActivity)
			}
			if got, want := UnusedDisableAt(tt.rec, weekly), tt.wantActivity.Add(7*day); !got.Equal(want) {
				t.Fatalf("UnusedDisableAt = %v, want %v", got, want)
			}
			if got := UnusedDisableAt(tt.rec, rules(nil)); !got.IsZero() {
				t.Fatalf("UnusedDisableAt with the rule off = %v, want zero", got)
			}
		})
	}
}
