package badger

import (
	"bytes"
	"cmp"
	"context"
	"crypto/subtle"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"github.com/latchkeyhq/latchkey/store"
)

func signKey(kid string) []byte { return []byte(signPrefix + kid) }

// PutSigningKey stores rec. Storing an identical record again succeeds, so
// a caller may retry after an ambiguous failure; a different record under
// the same KID is store.ErrAlreadyExists.
func (s *Store) PutSigningKey(ctx context.Context, rec store.SigningKeyRecord) error {
	if err := rec.Validate(); err != nil {
		return err
	}
	val, err := encodeSigningKey(rec)
	if err != nil {
		return err
	}
	done, err := s.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	return s.update(ctx, func(txn *badger.Txn) error {
		old, found, err := get(txn, signKey(rec.KID))
		if err != nil {
			return err
		}
		if !found {
			return set(txn, badger.NewEntry(signKey(rec.KID), val))
		}
		prev, err := decodeSigningKey(rec.KID, old)
		if err != nil {
			return err
		}
		if sameSigningKey(prev, rec) {
			return nil
		}
		return fmt.Errorf("%w: signing key %q", store.ErrAlreadyExists, rec.KID)
	})
}

func sameSigningKey(a, b store.SigningKeyRecord) bool {
	return a.Alg == b.Alg && a.CreatedAt.Equal(b.CreatedAt) &&
		subtle.ConstantTimeCompare(a.Private, b.Private) == 1
}

// ListSigningKeys returns every signing key ordered by CreatedAt, then KID.
func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKeyRecord, error) {
	done, err := s.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	var out []store.SigningKeyRecord
	err = s.view(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(signPrefix)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.ValidForPrefix(opts.Prefix); it.Next() {
			item := it.Item()
			val, err := item.ValueCopy(nil)
			if err != nil {
				return unavailable("read", err)
			}
			rec, err := decodeSigningKey(string(bytes.TrimPrefix(item.Key(), opts.Prefix)), val)
			if err != nil {
				return err
			}
			out = append(out, rec)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b store.SigningKeyRecord) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.KID, b.KID)
	})
	return out, nil
}
