package badger

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/latchkeyhq/latchkey/store"
)

func keyKey(id string) []byte { return []byte(keyPrefix + id) }

// CreateKey stores rec, or returns store.ErrAlreadyExists if its ID is taken.
func (s *Store) CreateKey(ctx context.Context, rec store.KeyRecord) error {
	if err := rec.Validate(); err != nil {
		return err
	}
	val, err := encodeKey(rec)
	if err != nil {
		return err
	}
	done, err := s.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	return s.update(ctx, func(txn *badger.Txn) error {
		_, found, err := get(txn, keyKey(rec.ID))
		if err != nil {
			return err
		}
		if found {
			return fmt.Errorf("%w: key %q", store.ErrAlreadyExists, rec.ID)
		}
		// Usage left by an earlier key of the same id is not this key's.
		if err := dropUsage(txn, rec.ID); err != nil {
			return err
		}
		return set(txn, badger.NewEntry(keyKey(rec.ID), val))
	})
}

// GetKey returns the record with the given id, or store.ErrNotFound.
func (s *Store) GetKey(ctx context.Context, id string) (store.KeyRecord, error) {
	if err := store.CheckID("key id", id); err != nil {
		return store.KeyRecord{}, err
	}
	done, err := s.enter(ctx)
	if err != nil {
		return store.KeyRecord{}, err
	}
	defer done()
	var rec store.KeyRecord
	err = s.view(func(txn *badger.Txn) error {
		rec, err = readKey(txn, id)
		return err
	})
	return rec, err
}

// readKey returns the record with its usage entry added in.
func readKey(txn *badger.Txn, id string) (store.KeyRecord, error) {
	val, found, err := get(txn, keyKey(id))
	if err != nil {
		return store.KeyRecord{}, err
	}
	if !found {
		return store.KeyRecord{}, fmt.Errorf("%w: key %q", store.ErrNotFound, id)
	}
	rec, err := decodeKey(id, val)
	if err != nil {
		return store.KeyRecord{}, err
	}
	u, found, err := readUsage(txn, id)
	if err != nil {
		return store.KeyRecord{}, err
	}
	if found {
		store.ApplyUsage(&rec, u)
	}
	return rec, nil
}

// dropUsage deletes the usage entry of id, if there is one.
func dropUsage(txn *badger.Txn, id string) error {
	if _, err := txn.Get(usageKey(id)); errors.Is(err, badger.ErrKeyNotFound) {
		return nil
	} else if err != nil {
		return unavailable("read", err)
	}
	if err := txn.Delete(usageKey(id)); err != nil {
		return unavailable("write", err)
	}
	return nil
}

// UpdateKey applies fn to the current record and stores the result in one
// transaction. fn sees a fresh copy on every attempt, so it may run more
// than once and must not have side effects beyond the record.
func (s *Store) UpdateKey(ctx context.Context, id string, fn func(*store.KeyRecord) error) (store.KeyRecord, error) {
	if err := store.CheckID("key id", id); err != nil {
		return store.KeyRecord{}, err
	}
	done, err := s.enter(ctx)
	if err != nil {
		return store.KeyRecord{}, err
	}
	defer done()
	var out store.KeyRecord
	err = s.update(ctx, func(txn *badger.Txn) error {
		rec, err := readKey(txn, id)
		if err != nil {
			return err
		}
		if err := fn(&rec); err != nil {
			return err
		}
		if rec.ID != id {
			return fmt.Errorf("%w: update may not change key id %q", store.ErrInvalidArgument, id)
		}
		if err := rec.Validate(); err != nil {
			return err
		}
		val, err := encodeKey(rec)
		if err != nil {
			return err
		}
		out = rec
		// The record now holds the usage readKey added in.
		if err := dropUsage(txn, id); err != nil {
			return err
		}
		return set(txn, badger.NewEntry(keyKey(id), val))
	})
	if err != nil {
		return store.KeyRecord{}, err
	}
	// fn may have kept a pointer to the record it was given.
	return out.Clone(), nil
}

// ListKeys returns one page of records ordered by ID (byte order).
func (s *Store) ListKeys(ctx context.Context, q store.KeyQuery) (store.KeyPage, error) {
	if err := q.Validate(); err != nil {
		return store.KeyPage{}, err
	}
	size := q.PageSize
	switch {
	case size <= 0:
		size = store.DefaultPageSize
	case size > store.MaxPageSize:
		size = store.MaxPageSize
	}
	start := []byte(keyPrefix)
	if q.PageToken != "" {
		lastID, err := decodePageToken(q.PageToken)
		if err != nil {
			return store.KeyPage{}, err
		}
		// The smallest key after key/<lastID>.
		start = append(keyKey(lastID), 0)
	}
	done, err := s.enter(ctx)
	if err != nil {
		return store.KeyPage{}, err
	}
	defer done()

	var page store.KeyPage
	err = s.view(func(txn *badger.Txn) error {
		// Values are read in place, not prefetched and copied: the decoders
		// copy what they keep, and a sweep of 100,000 records allocated
		// each value twice over.
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = []byte(keyPrefix)
		it := txn.NewIterator(opts)
		defer it.Close()
		// Usage entries are read alongside, in the same id order.
		uopts := opts
		uopts.Prefix = []byte(usagePrefix)
		uit := txn.NewIterator(uopts)
		defer uit.Close()
		uit.Seek([]byte(usagePrefix + string(start[len(keyPrefix):])))
		want := []byte(usagePrefix)
		for it.Seek(start); it.ValidForPrefix(opts.Prefix); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			item := it.Item()
			id := string(item.Key()[len(keyPrefix):])
			var rec store.KeyRecord
			var derr error
			if err := item.Value(func(val []byte) error {
				rec, derr = decodeKeyWith(id, val, !q.WithoutHistory)
				return nil
			}); err != nil {
				return unavailable("read", err)
			}
			if derr != nil {
				return derr
			}
			want = append(want[:len(usagePrefix)], id...)
			if err := addUsage(uit, want, &rec); err != nil {
				return err
			}
			if !q.Matches(rec) {
				continue
			}
			if len(page.Keys) == size {
				// One more match exists, so there is a next page.
				page.NextPageToken = encodePageToken(page.Keys[size-1].ID)
				return nil
			}
			page.Keys = append(page.Keys, rec)
		}
		return nil
	})
	if err != nil {
		return store.KeyPage{}, err
	}
	return page, nil
}

// addUsage moves uit, an iterator over usage entries, up to want, the
// usage key of rec's id, and adds rec's entry, if it has one, to rec.
func addUsage(uit *badger.Iterator, want []byte, rec *store.KeyRecord) error {
	for ; uit.ValidForPrefix(want[:len(usagePrefix)]); uit.Next() {
		switch bytes.Compare(uit.Item().Key(), want) {
		case -1:
			continue
		case 1:
			return nil
		}
		var u store.KeyUsage
		var derr error
		if err := uit.Item().Value(func(val []byte) error {
			u, derr = decodeUsage(rec.ID, val)
			return nil
		}); err != nil {
			return unavailable("read", err)
		}
		if derr != nil {
			return derr
		}
		store.ApplyUsage(rec, u)
		return nil
	}
	return nil
}

func set(txn *badger.Txn, e *badger.Entry) error {
	if err := txn.SetEntry(e); err != nil {
		return unavailable("write", err)
	}
	return nil
}
