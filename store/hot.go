package store

import (
	"context"
	"time"
)

// Hot returns the part of r that token exchange and introspection read:
// identity, owner, secret hashes and grace period, state, expiry, what the
// key may be granted, its rate limit, and the dates its flags are computed
// from. Every other field is zero. A hot record is for reading only: it
// must never be written back, because it would erase the fields it lacks.
//
// Keeping only these fields is what lets a key cache hold every key of a
// large installation in a few dozen bytes beyond its scopes.
func (r KeyRecord) Hot() KeyRecord {
	return KeyRecord{
		ID:                 r.ID,
		Owner:              r.Owner,
		SecretHash:         r.SecretHash,
		PreviousSecretHash: r.PreviousSecretHash,
		GraceDeadline:      r.GraceDeadline,
		State:              r.State,
		RevocationReason:   r.RevocationReason,
		ExpiresAt:          r.ExpiresAt,
		Scopes:             r.Scopes,
		Audiences:          r.Audiences,
		BoundIdentities:    r.BoundIdentities,
		MaxTTL:             r.MaxTTL,
		RateLimit:          r.RateLimit,
		RotationPeriod:     r.RotationPeriod,
		CreatedAt:          r.CreatedAt,
		RotatedAt:          r.RotatedAt,
		LastAttestedAt:     r.LastAttestedAt,
	}
}

// HotKeyReader is a key store that can answer the hot paths from memory:
// GetHotKey returns rec.Hot() of the stored record, and KeyStatus the two
// fields introspection needs, without allocating.
type HotKeyReader interface {
	GetHotKey(ctx context.Context, id string) (KeyRecord, error)
	KeyStatus(ctx context.Context, id string) (KeyState, time.Time, error)
}

// GetHotKey returns the hot part of the record of id, from memory when ks
// keeps one.
func GetHotKey(ctx context.Context, ks KeyStore, id string) (KeyRecord, error) {
	if h, ok := ks.(HotKeyReader); ok {
		return h.GetHotKey(ctx, id)
	}
	rec, err := ks.GetKey(ctx, id)
	if err != nil {
		return KeyRecord{}, err
	}
	return rec.Hot(), nil
}

// GetKeyStatus returns the state and expiry of the key id, from memory
// when ks keeps them.
func GetKeyStatus(ctx context.Context, ks KeyStore, id string) (KeyState, time.Time, error) {
	if h, ok := ks.(HotKeyReader); ok {
		return h.KeyStatus(ctx, id)
	}
	rec, err := ks.GetKey(ctx, id)
	if err != nil {
		return KeyStateUnspecified, time.Time{}, err
	}
	return rec.State, rec.ExpiresAt, nil
}
