package store

import (
	"fmt"
	"strings"
	"time"
)

// KeyQuery selects root-key records for ListKeys. Every set filter must
// hold (AND); the zero value of a filter means "any".
type KeyQuery struct {
	Owner string
	State KeyState // KeyStateUnspecified = any state
	// Label is "k=v" (label k equals v) or "k" (label k is present).
	Label string
	// ExpiringBefore selects records whose ExpiresAt is set and before it.
	ExpiringBefore time.Time
	// UnusedSince selects records not used since then: LastUsedAt, or
	// CreatedAt for a key never used, is before it.
	UnusedSince time.Time
	// Match is an extra predicate evaluated inside the scan, so that pages
	// stay full and page tokens stay exact; nil matches every record. It
	// must not call back into the store.
	Match func(KeyRecord) bool
	// WithoutHistory leaves History empty in the records Match sees and
	// the page holds. A scan that never reads it, such as the janitor's
	// once a minute over every key, is spared decoding it: a key's history
	// only grows, and decoding it was most of a listing's cost.
	WithoutHistory bool
	PageSize       int
	PageToken      string
}

// Validate checks the parts of a query that do not depend on the backend.
func (q KeyQuery) Validate() error {
	if q.State > KeyStateExpired {
		return fmt.Errorf("%w: unknown key state %v", ErrInvalidArgument, q.State)
	}
	if q.Label != "" {
		if k, _, _ := strings.Cut(q.Label, "="); k == "" {
			return fmt.Errorf("%w: label filter without a label name", ErrInvalidArgument)
		}
	}
	return nil
}

// Matches reports whether rec passes every filter of q. Backends use it so
// that all of them select exactly the same records.
func (q KeyQuery) Matches(rec KeyRecord) bool {
	switch {
	case q.Owner != "" && rec.Owner != q.Owner:
		return false
	case q.State != KeyStateUnspecified && rec.State != q.State:
		return false
	case q.Label != "" && !hasLabel(rec.Labels, q.Label):
		return false
	case !q.ExpiringBefore.IsZero() && (rec.ExpiresAt.IsZero() || !rec.ExpiresAt.Before(q.ExpiringBefore)):
		return false
	case !q.UnusedSince.IsZero() && !lastUse(rec).Before(q.UnusedSince):
		return false
	case q.Match != nil && !q.Match(rec.Clone()):
		return false
	}
	return true
}

func hasLabel(labels map[string]string, filter string) bool {
	k, v, withValue := strings.Cut(filter, "=")
	got, ok := labels[k]
	return ok && (!withValue || got == v)
}

func lastUse(rec KeyRecord) time.Time {
	if rec.LastUsedAt.IsZero() {
		return rec.CreatedAt
	}
	return rec.LastUsedAt
}
