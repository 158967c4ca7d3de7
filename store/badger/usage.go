package badger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/latchkeyhq/latchkey/store"
)

// Usage lives apart from the key records, under usagePrefix: a few bytes per
// key holding the last use and the count since the record last took them
// in. A flush then writes those few bytes for every key used, instead of
// rewriting each whole record (its history, scopes and labels): with many
// busy keys that was most of the store's writing, and of its compactions.
// Reading a record adds its usage entry to the usage the record holds;
// UpdateKey writes the sum into the record and deletes the entry in the
// same transaction, so nothing is counted twice. Records written before
// usage had a keyspace of its own hold their usage and read the same way.
const usageWireLen = 20

func usageKey(id string) []byte { return []byte(usagePrefix + id) }

// encodeUsage is Unix seconds, nanoseconds (0xFFFFFFFF for the zero
// time) and the count, big-endian.
func encodeUsage(u store.KeyUsage) []byte {
	b := make([]byte, usageWireLen)
	if u.LastUsedAt.IsZero() {
		binary.BigEndian.PutUint32(b[8:], math.MaxUint32)
	} else {
		binary.BigEndian.PutUint64(b, uint64(u.LastUsedAt.Unix()))
		binary.BigEndian.PutUint32(b[8:], uint32(u.LastUsedAt.Nanosecond()))
	}
	binary.BigEndian.PutUint64(b[12:], u.Count)
	return b
}

func decodeUsage(id string, b []byte) (store.KeyUsage, error) {
	if len(b) != usageWireLen {
		return store.KeyUsage{}, corrupt("usage", id, fmt.Errorf("%d bytes, want %d", len(b), usageWireLen))
	}
	u := store.KeyUsage{ID: id, Count: binary.BigEndian.Uint64(b[12:])}
	switch nanos := binary.BigEndian.Uint32(b[8:]); {
	case nanos == math.MaxUint32:
	case nanos < 1e9:
		u.LastUsedAt = time.Unix(int64(binary.BigEndian.Uint64(b)), int64(nanos)).UTC()
	default:
		return store.KeyUsage{}, corrupt("usage", id, fmt.Errorf("nanoseconds %d out of range", nanos))
	}
	return u, nil
}

// readUsage returns the usage entry of id, if it has one.
func readUsage(txn *badger.Txn, id string) (store.KeyUsage, bool, error) {
	val, found, err := get(txn, usageKey(id))
	if err != nil || !found {
		return store.KeyUsage{}, false, err
	}
	u, err := decodeUsage(id, val)
	return u, err == nil, err
}

// RecordUsage folds usage into the usage entries of the keys, one
// transaction per up to store.MaxUsageBatch keys. Entries for the same id
// are merged first. Ids that name no stored key, including ids no key
// could have, are skipped: the key may have been deleted since its use was
// counted, and one stale entry must not lose the rest of the flush.
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

// foldUsage applies batch, sorted by id, in txn and reports how many
// entries it covered. A usage entry is usageWireLen bytes, so
// store.MaxUsageBatch of them stay far below Badger's transaction limit;
// should a smaller limit be met, the rest goes in the next transaction.
//
// The ids ascend, so the usage entries, and the key records where needed,
// are read by cursors moving forward through their keyspaces, each block
// decoded once for the ids it holds. A Get per id decoded a block per id:
// flushing 100,000 busy keys allocated 1 GB and took 2 s.
//
// A usage entry is written only for a stored key, and key records are
// never deleted, so an id with an entry names a key: its record is not
// read. Only ids without one (first used since their key was created or
// last updated) are looked up among the key records, so a flush of keys
// in steady use does not decode and decrypt the key records' blocks, most
// of a flush's work and allocation when it did. Either way the key read
// joins the transaction's reads: an UpdateKey folding the same entry into
// its record makes one of the two retry.
func foldUsage(txn *badger.Txn, batch []store.KeyUsage) (int, error) {
	uses := newCursor(txn, usagePrefix)
	defer uses.close()
	var keys *cursor // opened at the first id without a usage entry
	defer func() {
		if keys != nil {
			keys.close()
		}
	}()
	for i, u := range batch {
		stored := store.KeyUsage{ID: u.ID}
		if uses.at(usageKey(u.ID)) {
			var err error
			if verr := uses.it.Item().Value(func(val []byte) error {
				stored, err = decodeUsage(u.ID, val)
				return nil
			}); verr != nil {
				return 0, unavailable("read", verr)
			}
			if err != nil {
				return 0, err
			}
		} else {
			if keys == nil {
				keys = newCursor(txn, keyPrefix)
			}
			if !keys.at(keyKey(u.ID)) {
				continue
			}
		}
		combineUsage(&stored, u)
		if err := txn.SetEntry(badger.NewEntry(usageKey(u.ID), encodeUsage(stored))); err != nil {
			if errors.Is(err, badger.ErrTxnTooBig) && i > 0 {
				return i, nil
			}
			return 0, unavailable("write", err)
		}
	}
	return len(batch), nil
}

// cursorSteps is how many entries a cursor steps over before it seeks
// instead: a step decodes the next entry of a block already decoded, a
// seek decodes a block on every level.
const cursorSteps = 16

// cursor finds keys of one keyspace asked for in ascending order. Its
// iterator sees the transaction's writes made before it was created, and
// reads no values until asked.
type cursor struct {
	it      *badger.Iterator
	started bool
}

func newCursor(txn *badger.Txn, prefix string) *cursor {
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false
	opts.Prefix = []byte(prefix)
	return &cursor{it: txn.NewIterator(opts)}
}

// at moves to key, or past it when it is not stored, and reports whether
// it is; key must not be below any key asked for before.
func (c *cursor) at(key []byte) bool {
	if c.started {
		for range cursorSteps {
			if !c.it.Valid() {
				return false // past the keyspace's end, as every later key is
			}
			switch bytes.Compare(c.it.Item().Key(), key) {
			case 0:
				return true
			case 1:
				return false
			}
			c.it.Next()
		}
	}
	c.started = true
	c.it.Seek(key)
	return c.it.Valid() && bytes.Equal(c.it.Item().Key(), key)
}

func (c *cursor) close() { c.it.Close() }

// mergeUsage drops ids that cannot name a key, merges repeated ids and
// sorts by id, so that batches are deterministic. Sorting first puts
// repeats side by side: no map of every id, which for a flush of 100,000
// keys was 40 MB, and a flush arrives sorted already.
func mergeUsage(usage []store.KeyUsage) []store.KeyUsage {
	out := make([]store.KeyUsage, 0, len(usage))
	for _, u := range usage {
		if store.CheckID("key id", u.ID) == nil {
			out = append(out, u)
		}
	}
	slices.SortStableFunc(out, func(a, b store.KeyUsage) int { return strings.Compare(a.ID, b.ID) })
	merged := out[:0]
	for _, u := range out {
		last := len(merged) - 1
		if last < 0 || merged[last].ID != u.ID {
			merged = append(merged, u)
			continue
		}
		combineUsage(&merged[last], u)
	}
	return merged
}

// combineUsage adds u's uses to into: the later last use, the counts
// added.
func combineUsage(into *store.KeyUsage, u store.KeyUsage) {
	if u.LastUsedAt.After(into.LastUsedAt) {
		into.LastUsedAt = u.LastUsedAt
	}
	into.Count = store.AddSaturating(into.Count, u.Count)
}
