package badger

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/latchkeyhq/latchkey/store"
)

// RecordUsage folds usage into the stored records, one transaction per up
// to store.MaxUsageBatch keys. Entries for the same id are merged first.
// Ids that name no stored key, including ids no key could have, are
// skipped: the key may have been deleted since its use was counted, and
// one stale entry must not lose the rest of the flush.
func (s *Store) RecordUsage(ctx context.Context, usage []store.KeyUsage) error {
	done, err := s.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	merged := mergeUsage(usage)
	for len(merged) > 0 {
		batch := merged[:min(len(merged), store.MaxUsageBatch)]
		var n int
		err := s.update(ctx, func(txn *badger.Txn) error {
			var err error
			n, err = foldUsage(txn, batch)
			return err
		})
		if err != nil {
			return err
		}
		merged = merged[n:]
	}
	return nil
}

// foldUsage applies as much of batch as fits in txn and reports how many
// entries it covered. Large histories can make a full batch exceed
// Badger's transaction limit; the rest then goes in the next transaction.
func foldUsage(txn *badger.Txn, batch []store.KeyUsage) (int, error) {
	for i, u := range batch {
		val, found, err := get(txn, keyKey(u.ID))
		if err != nil {
			return 0, err
		}
		if !found {
			continue
		}
		rec, err := decodeKey(u.ID, val)
		if err != nil {
			return 0, err
		}
		store.ApplyUsage(&rec, u)
		val, err = encodeKey(rec)
		if err != nil {
			return 0, err
		}
		if err := txn.SetEntry(badger.NewEntry(keyKey(u.ID), val)); err != nil {
			if errors.Is(err, badger.ErrTxnTooBig) && i > 0 {
				return i, nil
			}
			return 0, unavailable("write", err)
		}
	}
	return len(batch), nil
}

// mergeUsage drops ids that cannot name a key, merges repeated ids and
// sorts by id, so that batches are deterministic.
func mergeUsage(usage []store.KeyUsage) []store.KeyUsage {
	byID := make(map[string]int, len(usage))
	var out []store.KeyUsage
	for _, u := range usage {
		if store.CheckID("key id", u.ID) != nil {
			continue
		}
		i, ok := byID[u.ID]
		if !ok {
			byID[u.ID] = len(out)
			out = append(out, u)
			continue
		}
		if u.LastUsedAt.After(out[i].LastUsedAt) {
			out[i].LastUsedAt = u.LastUsedAt
		}
		out[i].Count = store.AddSaturating(out[i].Count, u.Count)
	}
	slices.SortFunc(out, func(a, b store.KeyUsage) int { return strings.Compare(a.ID, b.ID) })
	return out
}
