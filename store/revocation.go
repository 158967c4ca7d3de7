package store

import (
	"context"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// RevocationKind says what a Revocation covers.
type RevocationKind uint8

// Revocation kinds. Unspecified is never stored.
const (
	RevocationUnspecified RevocationKind = iota
	// RevokeJTI revokes the one token whose jti is Value.
	RevokeJTI
	// RevokeKeyTokens revokes every token minted from root key Value at or
	// before Before.
	RevokeKeyTokens
	// RevokeSubjectTokens revokes every token for subject Value issued at or
	// before Before.
	RevokeSubjectTokens
	// RevokeSigningKeyTokens revokes every token signed by kid Value.
	RevokeSigningKeyTokens
)

var revocationKindNames = [...]string{"unspecified", "jti", "key", "subject", "signing_key"}

// String returns the kind's short name: "jti", "key", "subject" or
// "signing_key".
func (k RevocationKind) String() string {
	if int(k) < len(revocationKindNames) {
		return revocationKindNames[k]
	}
	return "RevocationKind(" + strconv.Itoa(int(k)) + ")"
}

// ParseRevocationKind is the inverse of RevocationKind.String for the kinds
// that can be stored.
func ParseRevocationKind(name string) (RevocationKind, error) {
	for i, n := range revocationKindNames {
		if i > 0 && n == name {
			return RevocationKind(i), nil
		}
	}
	return RevocationUnspecified, fmt.Errorf("%w: unknown revocation kind %q", ErrInvalidArgument, name)
}

// hasBefore reports whether the kind is bounded by an issue time rather
// than naming its tokens exactly.
func (k RevocationKind) hasBefore() bool {
	return k == RevokeKeyTokens || k == RevokeSubjectTokens
}

// MaxRevocationTextLength bounds Revocation.Actor and Revocation.Reason, so
// an entry that every replica loads at start-up stays small.
const MaxRevocationTextLength = 1024

// Revocation is one entry of the revocation log. Entries are never changed
// once appended: revoking is only ever undone by the entry expiring.
type Revocation struct {
	// Rev is assigned by AppendRevocation: strictly increasing, never
	// reused, and it survives restarts.
	Rev  uint64
	Kind RevocationKind
	// Value is the jti, root key id, subject or signing kid
	// (1..MaxIDLength bytes of UTF-8).
	Value string
	// Before is set for key and subject revocations only: tokens issued at
	// or before this instant are revoked. It is zero for the other kinds.
	Before time.Time
	// At is when the revocation was made.
	At time.Time
	// ExpiresAt is when the entry may be forgotten, because no token it
	// covers can still be valid. Zero keeps it for ever.
	ExpiresAt time.Time
	Actor     string
	Reason    string
}

// Validate checks the storage rules for a revocation; Rev is not checked,
// since the log assigns it.
func (r Revocation) Validate() error {
	if r.Kind == RevocationUnspecified || int(r.Kind) >= len(revocationKindNames) {
		return fmt.Errorf("%w: revocation kind %v", ErrInvalidArgument, r.Kind)
	}
	if err := CheckID("revocation value", r.Value); err != nil {
		return err
	}
	// A key or subject revocation without a bound would revoke tokens not
	// yet issued, locking the key or subject out for ever; a bound on the
	// other kinds would be silently ignored.
	if r.Kind.hasBefore() == r.Before.IsZero() {
		if r.Before.IsZero() {
			return fmt.Errorf("%w: %v revocation needs Before", ErrInvalidArgument, r.Kind)
		}
		return fmt.Errorf("%w: %v revocation must not set Before", ErrInvalidArgument, r.Kind)
	}
	for _, f := range [...]struct{ name, s string }{{"actor", r.Actor}, {"reason", r.Reason}} {
		if len(f.s) > MaxRevocationTextLength {
			return fmt.Errorf("%w: revocation %s longer than %d bytes", ErrInvalidArgument, f.name, MaxRevocationTextLength)
		}
		if !utf8.ValidString(f.s) {
			return fmt.Errorf("%w: revocation %s is not valid UTF-8", ErrInvalidArgument, f.name)
		}
	}
	return nil
}

// RevocationLog is an append-only, durable log of revocations, which the
// service loads whole at start-up and then follows in memory.
type RevocationLog interface {
	// AppendRevocation validates r (ErrInvalidArgument), stores it with the
	// next revision, synced to disk before it returns, and returns it with
	// Rev set. An ExpiresAt already past stores nothing and returns Rev 0
	// with a nil error.
	AppendRevocation(ctx context.Context, r Revocation) (Revocation, error)
	// LoadRevocations returns every entry not yet expired, in revision
	// order, and the last revision ever assigned (which may belong to an
	// expired, pruned entry; zero when nothing was ever appended).
	LoadRevocations(ctx context.Context) ([]Revocation, uint64, error)
}
