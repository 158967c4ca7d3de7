package badger

import (
	"context"
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/latchkeyhq/latchkey/store"
)

func revokedKey(jti string) []byte { return []byte(revokedPrefix + jti) }

// expiresAt rounds until up to Badger's one-second TTL resolution, so the
// entry never disappears before until.
func expiresAt(until time.Time) uint64 {
	sec := until.Unix()
	if until.Nanosecond() > 0 {
		sec++
	}
	return uint64(sec)
}

// RevokeToken records jti as revoked until at least until. The write is
// synced before it returns. Revoking an already revoked jti keeps the later
// of the two expiries, so a second revocation can never shorten the first.
//
// Badger expires entries by the wall clock, so "already past" is judged by
// the wall clock too.
func (s *Store) RevokeToken(ctx context.Context, jti string, until time.Time) error {
	if err := store.CheckID("token id", jti); err != nil {
		return err
	}
	if !until.After(time.Now()) {
		return nil
	}
	done, err := s.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	exp := expiresAt(until)
	return s.update(ctx, func(txn *badger.Txn) error {
		item, err := txn.Get(revokedKey(jti))
		switch {
		case err == nil && item.ExpiresAt() >= exp:
			return nil
		case err != nil && !errors.Is(err, badger.ErrKeyNotFound):
			return unavailable("read", err)
		}
		e := badger.NewEntry(revokedKey(jti), nil)
		e.ExpiresAt = exp
		return set(txn, e)
	})
}

// IsTokenRevoked reports whether jti has a live revocation entry.
func (s *Store) IsTokenRevoked(ctx context.Context, jti string) (bool, error) {
	if err := store.CheckID("token id", jti); err != nil {
		return false, err
	}
	done, err := s.enter(ctx)
	if err != nil {
		return false, err
	}
	defer done()
	var revoked bool
	err = s.view(func(txn *badger.Txn) error {
		_, err := txn.Get(revokedKey(jti))
		switch {
		case err == nil:
			revoked = true
			return nil
		case errors.Is(err, badger.ErrKeyNotFound):
			return nil
		default:
			return unavailable("read", err)
		}
	})
	return revoked, err
}
