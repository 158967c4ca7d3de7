package badger

import (
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

// Usage lives beside the key records, under usagePrefix: a few bytes per
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

// foldUsage applies batch in txn and reports how many entries it covered.
// A usage entry is usageWireLen bytes, so store.MaxUsageBatch of them
// stay far below Badger's transaction limit; should a smaller limit be
// met, the rest goes in the next transaction.
func foldUsage(txn *badger.Txn, batch []store.KeyUsage) (int, error) {
	for i, u := range batch {
		if _, err := txn.Get(keyKey(u.ID)); errors.Is(err, badger.ErrKeyNotFound) {
			continue
		} else if err != nil {
			return 0, unavailable("read", err)
		}
		stored, _, err := readUsage(txn, u.ID)
		if err != nil {
			return 0, err
		}
		if u.LastUsedAt.After(stored.LastUsedAt) {
			stored.LastUsedAt = u.LastUsedAt
		}
		stored.Count = store.AddSaturating(stored.Count, u.Count)
		if err := txn.SetEntry(badger.NewEntry(usageKey(u.ID), encodeUsage(stored))); err != nil {
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
