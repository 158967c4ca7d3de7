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

// UpdateSigningKey changes a signing key's lifecycle fields in one
// transaction; the key material itself is immutable.
func (s *Store) UpdateSigningKey(ctx context.Context, kid string, fn func(*store.SigningKeyRecord) error) (store.SigningKeyRecord, error) {
	if err := store.CheckID("signing key id", kid); err != nil {
		return store.SigningKeyRecord{}, err
	}
	done, err := s.enter(ctx)
	if err != nil {
		return store.SigningKeyRecord{}, err
	}
	defer done()
	var out store.SigningKeyRecord
	err = s.update(ctx, func(txn *badger.Txn) error {
		val, found, err := get(txn, signKey(kid))
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("%w: signing key %q", store.ErrNotFound, kid)
		}
		prev, err := decodeSigningKey(kid, val)
		if err != nil {
			return err
		}
		rec := prev.Clone()
		if err := fn(&rec); err != nil {
			return err
		}
		if rec.KID != prev.KID || rec.Alg != prev.Alg || !rec.CreatedAt.Equal(prev.CreatedAt) ||
			subtle.ConstantTimeCompare(rec.Private, prev.Private) != 1 {
			return fmt.Errorf("%w: update may not change signing key %q's material", store.ErrInvalidArgument, kid)
		}
		if err := rec.Validate(); err != nil {
			return err
		}
		enc, err := encodeSigningKey(rec)
		if err != nil {
			return err
		}
		out = rec
		return set(txn, badger.NewEntry(signKey(kid), enc))
	})
	if err != nil {
		return store.SigningKeyRecord{}, err
	}
	return out.Clone(), nil
}

// DeleteSigningKey erases a signing key record; a missing one is a no-op.
func (s *Store) DeleteSigningKey(ctx context.Context, kid string) error {
	if err := store.CheckID("signing key id", kid); err != nil {
		return err
	}
	done, err := s.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	return s.update(ctx, func(txn *badger.Txn) error {
		if err := txn.Delete(signKey(kid)); err != nil {
			return unavailable("delete", err)
		}
		return nil
	})
}
