package lifecycle

import (
	"bytes"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/store"
)

func TestSweepRuleBoundaries(t *testing.T) {
	oldHash := bytes.Repeat([]byte{0x5a}, 32)
	withRules := func(mod func(*policy.KeyRules)) *policy.Policy { return &policy.Policy{Keys: rules(mod)} }
	tests := []struct {
		name   string
		key    store.KeyRecord
		policy *policy.Policy
		due    time.Time
		// want applies to the stored record what the sweep at due must do.
		want       func(r *store.KeyRecord, now time.Time)
		wantReport SweepReport
	}{
		{
			name:   "expiry",
			key:    newKey("k", func(r *store.KeyRecord) { r.ExpiresAt = t0.Add(10 * time.Hour) }),
			policy: withRules(nil),
			due:    t0.Add(10 * time.Hour),
			want: func(r *store.KeyRecord, now time.Time) {
				r.State = store.KeyStateExpired
				r.AddEvent(janitorEvent(now, "expired", "", "expiry time 2030-01-01T10:00:00Z reached"))
			},
			wantReport: SweepReport{Expired: 1},
		},
		{
			name:   "unused since last use",
			key:    newKey("k", func(r *store.KeyRecord) { r.LastUsedAt = t0.Add(2 * time.Hour) }),
			policy: withRules(func(r *policy.KeyRules) { r.UnusedDisableAfter = day }),
			due:    t0.Add(26 * time.Hour),
			want: func(r *store.KeyRecord, now time.Time) {
				r.State, r.DisabledAt, r.DisabledReason = store.KeyStateDisabled, now, "unused"
				r.AddEvent(janitorEvent(now, "disabled", "unused", "due at 2030-01-02T02:00:00Z"))
			},
			wantReport: SweepReport{DisabledUnused: 1},
		},
		{
			name:   "attestation overdue",
			key:    newKey("k", func(r *store.KeyRecord) { r.LastAttestedAt = t0.Add(5 * time.Hour) }),
			policy: withRules(func(r *policy.KeyRules) { r.AttestationPeriod = 30 * day }),
			due:    t0.Add(30*day + 5*time.Hour),
			want: func(r *store.KeyRecord, now time.Time) {
				r.State, r.DisabledAt, r.DisabledReason = store.KeyStateDisabled, now, "attestation_overdue"
				r.AddEvent(janitorEvent(now, "disabled", "attestation_overdue", "due at 2030-01-31T05:00:00Z"))
			},
			wantReport: SweepReport{DisabledAttestation: 1},
		},
		{
			name: "unused wins over attestation when both are due",
			key:  newKey("k"),
			policy: withRules(func(r *policy.KeyRules) {
				r.UnusedDisableAfter, r.AttestationPeriod = 7*day, 7*day
			}),
			due: t0.Add(7 * day),
			want: func(r *store.KeyRecord, now time.Time) {
				r.State, r.DisabledAt, r.DisabledReason = store.KeyStateDisabled, now, "unused"
				r.AddEvent(janitorEvent(now, "disabled", "unused", "due at 2030-01-08T00:00:00Z"))
			},
			wantReport: SweepReport{DisabledUnused: 1},
		},
		{
			name:   "rotation due by policy",
			key:    newKey("k"),
			policy: withRules(func(r *policy.KeyRules) { r.RotationPeriod = 90 * day }),
			due:    t0.Add(90 * day),
			want: func(r *store.KeyRecord, now time.Time) {
				r.RotationFlaggedAt = now
				r.AddEvent(janitorEvent(now, "rotation_due", "", "rotation due at 2030-04-01T00:00:00Z"))
			},
			wantReport: SweepReport{RotationFlagged: 1},
		},
		{
			name: "rotation due by the key's own period, flagged for an earlier due date",
			key: newKey("k", func(r *store.KeyRecord) {
				r.RotationPeriod = 10 * day
				r.RotatedAt = t0.Add(20 * day)
				r.RotationFlaggedAt = t0.Add(15 * day)
			}),
			policy: withRules(func(r *policy.KeyRules) { r.RotationPeriod = 90 * day }),
			due:    t0.Add(30 * day),
			want: func(r *store.KeyRecord, now time.Time) {
				r.RotationFlaggedAt = now
				r.AddEvent(janitorEvent(now, "rotation_due", "", "rotation due at 2030-01-31T00:00:00Z"))
			},
			wantReport: SweepReport{RotationFlagged: 1},
		},
		{
			name: "rotation of a disabled key",
			key: newKey("k", func(r *store.KeyRecord) {
				r.State, r.DisabledAt, r.DisabledReason = store.KeyStateDisabled, t0.Add(day), "by hand"
			}),
			policy: withRules(func(r *policy.KeyRules) { r.RotationPeriod = 90 * day }),
			due:    t0.Add(90 * day),
			want: func(r *store.KeyRecord, now time.Time) {
				r.RotationFlaggedAt = now
				r.AddEvent(janitorEvent(now, "rotation_due", "", "rotation due at 2030-04-01T00:00:00Z"))
			},
			wantReport: SweepReport{RotationFlagged: 1},
		},
		{
			name: "old secret retired at the grace deadline",
			key: newKey("k", func(r *store.KeyRecord) {
				r.RotatedAt, r.PreviousSecretHash, r.GraceDeadline = t0.Add(time.Hour), oldHash, t0.Add(25*time.Hour)
			}),
			policy: withRules(nil),
			due:    t0.Add(25 * time.Hour),
			want: func(r *store.KeyRecord, now time.Time) {
				r.PreviousSecretHash, r.GraceDeadline = nil, time.Time{}
				r.AddEvent(janitorEvent(now, "old_secret_retired", "", "grace ended at 2030-01-02T01:00:00Z"))
			},
			wantReport: SweepReport{GraceRetired: 1},
		},
		{
			name: "old secret of a revoked key retired too",
			key: newKey("k", func(r *store.KeyRecord) {
				r.State, r.RevokedAt, r.RevocationReason = store.KeyStateRevoked, t0.Add(2*time.Hour), store.ReasonLeaked
				r.PreviousSecretHash, r.GraceDeadline = oldHash, t0.Add(3*time.Hour)
			}),
			policy: withRules(nil),
			due:    t0.Add(3 * time.Hour),
			want: func(r *store.KeyRecord, now time.Time) {
				r.PreviousSecretHash, r.GraceDeadline = nil, time.Time{}
				r.AddEvent(janitorEvent(now, "old_secret_retired", "", "grace ended at 2030-01-01T03:00:00Z"))
			},
			wantReport: SweepReport{GraceRetired: 1},
		},
		{
			name: "expiry, rotation and grace at one instant; expired keys are not flagged",
			key: newKey("k", func(r *store.KeyRecord) {
				r.ExpiresAt = t0.Add(90 * day)
				r.PreviousSecretHash, r.GraceDeadline = oldHash, t0.Add(90*day)
			}),
			policy: withRules(func(r *policy.KeyRules) {
				r.RotationPeriod, r.UnusedDisableAfter = 90*day, 90*day
			}),
			due: t0.Add(90 * day),
			want: func(r *store.KeyRecord, now time.Time) {
				r.State = store.KeyStateExpired
				r.PreviousSecretHash, r.GraceDeadline = nil, time.Time{}
				r.AddEvent(janitorEvent(now, "expired", "", "expiry time 2030-04-01T00:00:00Z reached"))
				r.AddEvent(janitorEvent(now, "old_secret_retired", "", "grace ended at 2030-04-01T00:00:00Z"))
			},
			wantReport: SweepReport{Expired: 1, GraceRetired: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t)
			before := create(t, s, tt.key)

			if got := sweep(t, newJanitor(t, s, tt.policy, tt.due.Add(-time.Second))); got != (SweepReport{}) {
				t.Errorf("sweep 1s before due: report %+v, want none", got)
			}
			assertRecord(t, get(t, s, "k"), before)

			if got := sweep(t, newJanitor(t, s, tt.policy, tt.due)); got != tt.wantReport {
				t.Errorf("sweep at due: report %+v, want %+v", got, tt.wantReport)
			}
			want := before.Clone()
			tt.want(&want, tt.due)
			assertRecord(t, get(t, s, "k"), want)

			// Sweeping again changes nothing and writes no second event.
			if got := sweep(t, newJanitor(t, s, tt.policy, tt.due.Add(time.Hour))); got != (SweepReport{}) {
				t.Errorf("second sweep: report %+v, want none", got)
			}
			assertRecord(t, get(t, s, "k"), want)
		})
	}
}

func TestSweepLeavesRevokedAndExpiredKeys(t *testing.T) {
	pol := &policy.Policy{Keys: rules(func(r *policy.KeyRules) {
		r.RotationPeriod, r.UnusedDisableAfter, r.AttestationPeriod = day, day, day
	})}
	states := []struct {
		name  string
		state store.KeyState
	}{
		{"revoked", store.KeyStateRevoked},
		{"expired", store.KeyStateExpired},
	}
	for _, st := range states {
		t.Run(st.name, func(t *testing.T) {
			s := openStore(t)
			before := create(t, s, newKey("k", func(r *store.KeyRecord) {
				r.State = st.state
				r.ExpiresAt = t0.Add(time.Hour)
			}))
			if got := sweep(t, newJanitor(t, s, pol, t0.Add(365*day))); got != (SweepReport{}) {
				t.Fatalf("report %+v, want none", got)
			}
			assertRecord(t, get(t, s, "k"), before)
		})
	}
}

func TestSweepHonoursOwnerOverrides(t *testing.T) {
	pol := &policy.Policy{
		Keys: rules(func(r *policy.KeyRules) { r.UnusedDisableAfter = 30 * day }),
		Owners: map[string]policy.KeyRules{
			"batch": rules(func(r *policy.KeyRules) { r.UnusedDisableAfter = 0 }),
			"edge":  rules(func(r *policy.KeyRules) { r.UnusedDisableAfter = 7 * day }),
		},
	}
	tests := []struct {
		owner     string
		now       time.Time
		wantState store.KeyState
	}{
		{"team-a", t0.Add(30*day - time.Second), store.KeyStateActive},
		{"team-a", t0.Add(30 * day), store.KeyStateDisabled},
		{"batch", t0.Add(3650 * day), store.KeyStateActive},
		{"edge", t0.Add(7*day - time.Second), store.KeyStateActive},
		{"edge", t0.Add(7 * day), store.KeyStateDisabled},
	}
	for _, tt := range tests {
		t.Run(tt.owner+" at "+stamp(tt.now), func(t *testing.T) {
			s := openStore(t)
			create(t, s, newKey("k", func(r *store.KeyRecord) { r.Owner = tt.owner }))
			sweep(t, newJanitor(t, s, pol, tt.now))
			if got := get(t, s, "k").State; got != tt.wantState {
				t.Fatalf("state = %v, want %v", got, tt.wantState)
			}
		})
	}
}

func TestSweepWithoutPolicy(t *testing.T) {
	s := openStore(t)
	create(t, s, newKey("old", func(r *store.KeyRecord) { r.RotationPeriod = day }))
	create(t, s, newKey("exp", func(r *store.KeyRecord) { r.ExpiresAt = t0.Add(day) }))
	got := sweep(t, newJanitor(t, s, nil, t0.Add(3650*day)))
	if want := (SweepReport{Expired: 1, RotationFlagged: 1}); got != want {
		t.Fatalf("report %+v, want %+v: a nil policy still applies expiry and per-key periods", got, want)
	}
}
