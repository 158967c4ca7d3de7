package store

import "time"

// MaxKeyHistory bounds a key's history so that a busy or long-lived key
// cannot grow its record without limit.
const MaxKeyHistory = 200

// KeyEvent is one entry of a key's history.
type KeyEvent struct {
	At time.Time
	// Action is one of "created", "updated", "rotated",
	// "old_secret_retired", "revoked", "disabled", "enabled", "attested",
	// "expired", "rotation_due", "scopes_widened".
	Action string
	Actor  string // the caller's identity, or "janitor"
	Reason string // e.g. "unused", "attestation_overdue", "leaked"
	// Detail is free text shown to administrators; it must never hold a
	// secret or a secret's hash.
	Detail string
}

// AddEvent appends e to the history and drops the oldest events beyond
// MaxKeyHistory.
func (r *KeyRecord) AddEvent(e KeyEvent) {
	if n := len(r.History) + 1 - MaxKeyHistory; n > 0 {
		// Copy into a fresh slice rather than reslicing, so the dropped
		// events do not stay reachable through the backing array, and a
		// caller's alias of the old slice is never written to.
		h := make([]KeyEvent, 0, MaxKeyHistory)
		h = append(h, r.History[n:]...)
		r.History = append(h, e)
		return
	}
	r.History = append(r.History, e)
}
