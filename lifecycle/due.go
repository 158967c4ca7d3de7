package lifecycle

import (
	"time"

	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/store"
)

// RotationDueAt returns when rec is due for rotation: its own rotation
// period, or the policy's when it sets none, counted from the last
// rotation or, for a key never rotated, from creation. The zero time means
// no rotation rule applies.
func RotationDueAt(rec store.KeyRecord, rules policy.KeyRules) time.Time {
	period := rec.RotationPeriod
	if period <= 0 {
		period = rules.RotationPeriod
	}
	return after(firstSet(rec.RotatedAt, rec.CreatedAt), period)
}

// AttestationDueAt returns when the owner must next attest to needing rec:
// one attestation period after the last attestation or, for a key never
// attested, after creation. The zero time means the rule is off.
func AttestationDueAt(rec store.KeyRecord, rules policy.KeyRules) time.Time {
	return after(firstSet(rec.LastAttestedAt, rec.CreatedAt), rules.AttestationPeriod)
}

// LastActivity returns the latest of the times at which someone showed the
// key is wanted: its last use, creation, re-enabling and rotation. An
// administrator who re-enables or rotates a key thereby restarts its
// unused clock, so the janitor does not disable it again at once.
func LastActivity(rec store.KeyRecord) time.Time {
	latest := rec.LastUsedAt
	for _, t := range []time.Time{rec.CreatedAt, rec.EnabledAt, rec.RotatedAt} {
		if t.After(latest) {
			latest = t
		}
	}
	return latest
}

// UnusedDisableAt returns when rec is disabled for want of use: one
// UnusedDisableAfter after LastActivity. The zero time means the rule is
// off.
func UnusedDisableAt(rec store.KeyRecord, rules policy.KeyRules) time.Time {
	return after(LastActivity(rec), rules.UnusedDisableAfter)
}

// after returns from+d, or the zero time when either is unset, so that a
// record without the time a rule counts from is never treated as overdue.
func after(from time.Time, d time.Duration) time.Time {
	if from.IsZero() || d <= 0 {
		return time.Time{}
	}
	return from.Add(d)
}

func firstSet(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// reached reports whether the due time is set and now is at or past it.
func reached(due, now time.Time) bool {
	return !due.IsZero() && !now.Before(due)
}
