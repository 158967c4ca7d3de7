package badger

import (
	"bytes"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/latchkeyhq/latchkey/store"
)

// usageMoveBatch is how many usage entries one transaction of
// moveLegacyUsage moves: each is a set and a delete of a few bytes.
const usageMoveBatch = 1000

// moveLegacyUsage moves every usage entry from legacyUsagePrefix to
// usagePrefix and reports how many it moved. Each transaction moves a
// batch whole, writing the new entry and deleting the old one, so a crash
// leaves every entry in exactly one place and the next open finishes the
// move. An entry found in both places (a binary from before the move ran on
// the store after one from after it) is merged as a usage flush merges: the
// later last use, the counts added.
func moveLegacyUsage(db *badger.DB) (int, error) {
	moved := 0
	// Each batch starts after the last key the one before moved, so it
	// does not walk again over the deletions already made.
	next := []byte(legacyUsagePrefix)
	for {
		n, last, err := moveUsageBatch(db, next)
		moved += n
		if err != nil || n == 0 {
			return moved, err
		}
		next = append(last, 0)
	}
}

// moveUsageBatch moves up to usageMoveBatch entries from from onwards and
// returns how many it moved and the last old key it moved.
func moveUsageBatch(db *badger.DB, from []byte) (int, []byte, error) {
	n := 0
	var last []byte
	err := db.Update(func(txn *badger.Txn) error {
		n = 0
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(legacyUsagePrefix)
		it := txn.NewIterator(opts)
		defer it.Close()
		type entry struct {
			old []byte
			u   store.KeyUsage
		}
		var batch []entry
		for it.Seek(from); it.Valid() && len(batch) < usageMoveBatch; it.Next() {
			item := it.Item()
			key := item.KeyCopy(nil)
			id := string(bytes.TrimPrefix(key, []byte(legacyUsagePrefix)))
			var u store.KeyUsage
			var derr error
			if err := item.Value(func(val []byte) error {
				u, derr = decodeUsage(id, val)
				return nil
			}); err != nil {
				return unavailable("read", err)
			}
			if derr != nil {
				return derr
			}
			batch = append(batch, entry{key, u})
		}
		// The iterator sees the transaction as it began; close it before
		// writing.
		it.Close()
		for _, e := range batch {
			merged := e.u
			cur, found, err := readUsage(txn, e.u.ID)
			if err != nil {
				return err
			}
			if found {
				combineUsage(&merged, cur)
			}
			if err := txn.Set(usageKey(e.u.ID), encodeUsage(merged)); err != nil {
				return unavailable("write", err)
			}
			if err := txn.Delete(e.old); err != nil {
				return unavailable("write", err)
			}
		}
		n = len(batch)
		if n > 0 {
			last = batch[n-1].old
		}
		return nil
	})
	if err != nil {
		return 0, nil, fmt.Errorf("badgerstore: moving usage entries: %w", unavailableIfBadger(err))
	}
	return n, last, nil
}
