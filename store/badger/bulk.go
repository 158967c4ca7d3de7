package badger

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/latchkeyhq/latchkey/store"
)

// ImportRevocations appends n revocations, the i-th being gen(i), to the log
// in one write batch, for seeding or restoring a store that no server is
// serving: nothing is audited and no watcher hears of them. Appending a
// million entries one synced AppendRevocation at a time takes minutes;
// this takes seconds.
//
// gen must return the same revocation for the same i: every entry is
// validated first, so an invalid one (ErrInvalidArgument) stores nothing.
// The revisions are then reserved with one synced write before any entry is
// written, so an import cut short leaves a gap in the revisions, never an
// entry beyond the counter that a later append would overwrite. Entries
// already expired are skipped, and their revisions stay unused.
//
// The store is held exclusively while it runs. It returns the last revision
// reserved, which is the counter's value afterwards.
func (s *Store) ImportRevocations(ctx context.Context, n int, gen func(i int) store.Revocation) (uint64, error) {
	if n < 0 {
		return 0, fmt.Errorf("%w: negative revocation count %d", store.ErrInvalidArgument, n)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, fmt.Errorf("%w: store is closed", store.ErrUnavailable)
	}
	for i := range n {
		if err := gen(i).Validate(); err != nil {
			return 0, fmt.Errorf("revocation %d: %w", i, err)
		}
	}
	first, last, err := s.reserveRevisions(ctx, uint64(n))
	if err != nil || n == 0 {
		return last, err
	}
	now := s.now()
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for i := range n {
		if i%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
		}
		r := gen(i)
		if !r.ExpiresAt.IsZero() && !r.ExpiresAt.After(now) {
			continue
		}
		r.Rev = 0
		e := badger.NewEntry(revLogKey(first+uint64(i)), encodeRevocation(r))
		if !r.ExpiresAt.IsZero() {
			e.ExpiresAt = expiresAt(r.ExpiresAt)
		}
		if err := wb.SetEntry(e); err != nil {
			return 0, unavailable("import", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return 0, unavailable("import", err)
	}
	if err := s.db.Sync(); err != nil {
		return 0, unavailable("sync", err)
	}
	return last, nil
}

// reserveRevisions advances the revision counter by n in one synced
// transaction and returns the first and last revisions reserved (first is
// last+1 when n is 0).
func (s *Store) reserveRevisions(ctx context.Context, n uint64) (first, last uint64, err error) {
	err = s.update(ctx, func(txn *badger.Txn) error {
		cur, err := readRevSeq(txn)
		if err != nil {
			return err
		}
		if cur > ^uint64(0)-n {
			return fmt.Errorf("%w: revocation log revisions exhausted", store.ErrUnavailable)
		}
		first, last = cur+1, cur+n
		if n == 0 {
			return nil
		}
		var seq [8]byte
		binary.BigEndian.PutUint64(seq[:], last)
		return set(txn, badger.NewEntry([]byte(revLogSeqKey), seq[:]))
	})
	return first, last, err
}
