package badger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/latchkeyhq/latchkey/store"
)

// AppendRevocation stores r under the next revision. The counter and the
// entry are written in one transaction that reads the counter, so two
// concurrent appends conflict and the loser retries with a fresh revision:
// revisions are distinct and increase in commit order. The counter is never
// deleted, so a revision is not reused even when every entry has expired.
//
// "Already past" is judged by Options.Now.
func (s *Store) AppendRevocation(ctx context.Context, r store.Revocation) (store.Revocation, error) {
	if err := r.Validate(); err != nil {
		return store.Revocation{}, err
	}
	if !r.ExpiresAt.IsZero() && !r.ExpiresAt.After(s.now()) {
		return store.Revocation{}, nil
	}
	done, err := s.enter(ctx)
	if err != nil {
		return store.Revocation{}, err
	}
	defer done()
	r.Rev = 0
	val := encodeRevocation(r)
	var rev uint64
	err = s.update(ctx, func(txn *badger.Txn) error {
		last, err := readRevSeq(txn)
		if err != nil {
			return err
		}
		if last == ^uint64(0) {
			return fmt.Errorf("%w: revocation log revisions exhausted", store.ErrUnavailable)
		}
		rev = last + 1
		var seq [8]byte
		binary.BigEndian.PutUint64(seq[:], rev)
		if err := set(txn, badger.NewEntry([]byte(revLogSeqKey), seq[:])); err != nil {
			return err
		}
		e := badger.NewEntry(revLogKey(rev), val)
		if !r.ExpiresAt.IsZero() {
			e.ExpiresAt = expiresAt(r.ExpiresAt)
		}
		return set(txn, e)
	})
	if err != nil {
		return store.Revocation{}, err
	}
	r.Rev = rev
	return r, nil
}

func readRevSeq(txn *badger.Txn) (uint64, error) {
	val, found, err := get(txn, []byte(revLogSeqKey))
	if err != nil || !found {
		return 0, err
	}
	if len(val) != 8 {
		return 0, fmt.Errorf("%w: corrupt revocation counter of %d bytes", store.ErrUnavailable, len(val))
	}
	return binary.BigEndian.Uint64(val), nil
}

// LoadRevocations reads the whole log in one snapshot, so the entries and
// the last revision agree with each other.
func (s *Store) LoadRevocations(ctx context.Context) ([]store.Revocation, uint64, error) {
	done, err := s.enter(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer done()
	var (
		out  []store.Revocation
		last uint64
	)
	err = s.view(func(txn *badger.Txn) error {
		if last, err = readRevSeq(txn); err != nil {
			return err
		}
		// Badger rounds TTLs up to the second, so an entry can outlive its
		// ExpiresAt by up to a second; it is dropped here instead.
		now := s.now()
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(revLogPrefix)
		// Values this small live in the LSM tree beside their keys, so
		// prefetching would only copy each one a second time.
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		n := 0
		for it.Rewind(); it.Valid(); it.Next() {
			if n++; n%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			item := it.Item()
			rev, err := parseRevLogKey(item.Key())
			if err != nil {
				return fmt.Errorf("%w: corrupt revocation key: %v", store.ErrUnavailable, err)
			}
			var r store.Revocation
			err = item.Value(func(val []byte) error {
				r, err = decodeRevocation(rev, val)
				return err
			})
			if err != nil {
				if errors.Is(err, store.ErrUnavailable) {
					return err
				}
				return unavailable("read", err)
			}
			if !r.ExpiresAt.IsZero() && !r.ExpiresAt.After(now) {
				continue
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, last, nil
}
