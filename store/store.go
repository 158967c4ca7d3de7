package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Backends wrap them so that callers can use errors.Is
// without knowing which engine is underneath.
var (
	ErrNotFound      = errors.New("store: not found")
	ErrAlreadyExists = errors.New("store: already exists")
	// ErrUnavailable is wrapped by every storage failure and by every call
	// made after Close, so callers can fail closed on one condition.
	ErrUnavailable = errors.New("store: unavailable")
	ErrLocked      = errors.New("store: data directory is in use by another process")
	// ErrInvalidPageToken means a ListKeys page token was not produced by
	// this backend.
	ErrInvalidPageToken = errors.New("store: invalid page token")
	// ErrInvalidArgument means a record or query breaks a storage rule
	// (empty or oversized identifier, unknown enum value, ...).
	ErrInvalidArgument = errors.New("store: invalid argument")
)

// Limits on the page size of ListKeys.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// MaxIDLength bounds key IDs, token IDs and signing-key IDs, so that a
// caller cannot make the store hold arbitrarily large index entries.
const MaxIDLength = 512

// KeyStore holds root-key records.
type KeyStore interface {
	// CreateKey stores rec; ErrAlreadyExists if rec.ID is taken.
	CreateKey(ctx context.Context, rec KeyRecord) error
	// GetKey returns the record with the given id, or ErrNotFound.
	GetKey(ctx context.Context, id string) (KeyRecord, error)
	// ListKeys returns one page of records ordered by ID. A PageSize of zero
	// or less means DefaultPageSize, and above MaxPageSize means MaxPageSize.
	// A page token that this backend did not issue yields an error wrapping
	// ErrInvalidPageToken.
	ListKeys(ctx context.Context, q KeyQuery) (KeyPage, error)
	// UpdateKey reads the record, applies fn and writes the result in one
	// transaction, retrying fn on a write conflict. An error from fn aborts
	// the update and is returned unchanged. fn must not change the ID.
	UpdateKey(ctx context.Context, id string, fn func(*KeyRecord) error) (KeyRecord, error)
}

// SigningKeyStore holds token-signing keys.
type SigningKeyStore interface {
	// PutSigningKey stores rec. Storing the same record again is a no-op;
	// a different record under an existing KID is ErrAlreadyExists, because
	// silently replacing a signing key would orphan the tokens it signed.
	PutSigningKey(ctx context.Context, rec SigningKeyRecord) error
	// ListSigningKeys returns every signing key ordered by CreatedAt, then
	// KID.
	ListSigningKeys(ctx context.Context) ([]SigningKeyRecord, error)
	// UpdateSigningKey changes a key's lifecycle fields in one transaction.
	// fn may not change KID, Alg or Private (ErrInvalidArgument); a missing
	// key is ErrNotFound.
	UpdateSigningKey(ctx context.Context, kid string, fn func(*SigningKeyRecord) error) (SigningKeyRecord, error)
	// DeleteSigningKey erases a key that no token can need any more, so its
	// private half does not outlive its use. Deleting a missing key is a no-op.
	DeleteSigningKey(ctx context.Context, kid string) error
}

// KeyUsage is usage of one root key counted in memory since the last flush.
type KeyUsage struct {
	ID         string
	LastUsedAt time.Time
	Count      uint64
}

// MaxUsageBatch is the most keys RecordUsage folds in one transaction.
const MaxUsageBatch = 500

// UsageStore folds counted usage into root-key records.
type UsageStore interface {
	// RecordUsage folds usage counted in memory into the records, in as
	// few transactions as possible (one per up to MaxUsageBatch keys),
	// retried on conflict: LastUsedAt = max(stored, u.LastUsedAt) and
	// UseCount += Count, saturating at the maximum rather than wrapping.
	// Unknown ids are skipped, not errors.
	RecordUsage(ctx context.Context, usage []KeyUsage) error
}

// Store is everything a backend provides. After Close every method returns
// an error wrapping ErrUnavailable.
type Store interface {
	KeyStore
	RevocationLog
	SigningKeyStore
	UsageStore
	Close() error
}
