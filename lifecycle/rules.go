package lifecycle

import (
	"time"

	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/store"
)

// Actor is the history actor of every change the janitor makes.
const Actor = "janitor"

// History actions and reasons written by the janitor.
const (
	ActionExpired            = "expired"
	ActionDisabled           = "disabled"
	ActionRotationDue        = "rotation_due"
	ActionOldSecretRetired   = "old_secret_retired"
	ReasonUnused             = "unused"
	ReasonAttestationOverdue = "attestation_overdue"
)

// outcome is what the rules require of one record at one instant. It is
// computed twice: on the listed copy, to skip keys with nothing to do
// without a write, and on the record read inside UpdateKey, which is the
// one that counts.
type outcome struct {
	expire        bool
	disableReason string // "" = stay as is
	disableDue    time.Time
	flagRotation  bool
	rotationDue   time.Time
	retire        bool
}

func (o outcome) empty() bool {
	return !o.expire && o.disableReason == "" && !o.flagRotation && !o.retire
}

// plan applies the lifecycle rules to rec at now without changing it.
func plan(rec store.KeyRecord, rules policy.KeyRules, now time.Time) outcome {
	var o outcome
	state := rec.State
	if state == store.KeyStateActive && reached(rec.ExpiresAt, now) {
		o.expire = true
		state = store.KeyStateExpired
	}
	if state == store.KeyStateActive {
		// One reason is enough to disable; unused is checked first because
		// it is the more specific signal to the owner.
		if due := UnusedDisableAt(rec, rules); reached(due, now) {
			o.disableReason, o.disableDue = ReasonUnused, due
			state = store.KeyStateDisabled
		} else if due := AttestationDueAt(rec, rules); reached(due, now) {
			o.disableReason, o.disableDue = ReasonAttestationOverdue, due
			state = store.KeyStateDisabled
		}
	}
	if state == store.KeyStateActive || state == store.KeyStateDisabled {
		// Flag once per due date: a flag set at or after the due time
		// already covers it, and rotating moves the due time past it.
		if due := RotationDueAt(rec, rules); reached(due, now) && rec.RotationFlaggedAt.Before(due) {
			o.flagRotation, o.rotationDue = true, due
		}
	}
	// A previous hash without a deadline has no grace left at all.
	if len(rec.PreviousSecretHash) > 0 && !now.Before(rec.GraceDeadline) {
		o.retire = true
	}
	return o
}

// apply makes the changes o describes and records each in rec's history.
func (o outcome) apply(rec *store.KeyRecord, now time.Time) {
	event := func(action, reason, detail string) {
		rec.AddEvent(store.KeyEvent{At: now, Action: action, Actor: Actor, Reason: reason, Detail: detail})
	}
	if o.expire {
		event(ActionExpired, "", "expiry time "+stamp(rec.ExpiresAt)+" reached")
		rec.State = store.KeyStateExpired
	}
	if o.disableReason != "" {
		rec.State = store.KeyStateDisabled
		rec.DisabledAt = now
		rec.DisabledReason = o.disableReason
		event(ActionDisabled, o.disableReason, "due at "+stamp(o.disableDue))
	}
	if o.flagRotation {
		rec.RotationFlaggedAt = now
		event(ActionRotationDue, "", "rotation due at "+stamp(o.rotationDue))
	}
	if o.retire {
		// The detail names the deadline only: a hash must never reach the
		// history.
		detail := "no grace deadline"
		if !rec.GraceDeadline.IsZero() {
			detail = "grace ended at " + stamp(rec.GraceDeadline)
		}
		rec.PreviousSecretHash = nil
		rec.GraceDeadline = time.Time{}
		event(ActionOldSecretRetired, "", detail)
	}
}

// count adds o to r.
func (o outcome) count(r *SweepReport) {
	if o.expire {
		r.Expired++
	}
	switch o.disableReason {
	case ReasonUnused:
		r.DisabledUnused++
	case ReasonAttestationOverdue:
		r.DisabledAttestation++
	}
	if o.flagRotation {
		r.RotationFlagged++
	}
	if o.retire {
		r.GraceRetired++
	}
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
