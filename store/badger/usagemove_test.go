package badger

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/latchkeyhq/latchkey/store"
)

// The prefixes written under load sort before the key records, so that no
// level-0 table of those writes spans them (codec.go).
func TestBusyPrefixesSortBeforeKeyRecords(t *testing.T) {
	for _, p := range []string{usagePrefix, auditBatchPrefix, auditIndexPrefix, auditMetaPrefix} {
		if p >= keyPrefix || strings.HasPrefix(keyPrefix, p) || strings.HasPrefix(p, keyPrefix) {
			t.Errorf("prefix %q does not sort before %q", p, keyPrefix)
		}
	}
	if strings.HasPrefix(legacyUsagePrefix, usagePrefix) || strings.HasPrefix(usagePrefix, legacyUsagePrefix) {
		t.Errorf("usage prefixes %q and %q overlap", usagePrefix, legacyUsagePrefix)
	}
}

// countPrefix counts the entries under prefix.
func countPrefix(t *testing.T, s *Store, prefix string) int {
	t.Helper()
	return countPrefixB(t, s, prefix)
}

func countPrefixB(t testing.TB, s *Store, prefix string) int {
	t.Helper()
	n := 0
	if err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.PrefetchValues = false
		opts.Prefix = []byte(prefix)
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// Usage entries written under the old prefix move on open, across several
// transactions, and an id found under both prefixes is merged once.
func TestOpenMovesLegacyUsage(t *testing.T) {
	ctx := context.Background()
	dir, key := t.TempDir(), newKey(t)
	const keys = 2*usageMoveBatch + 7
	id := func(i int) string { return fmt.Sprintf("k%05d", i) }
	s, err := Open(Options{Dir: dir, EncryptionKey: key})
	if err != nil {
		t.Fatal(err)
	}
	// What a binary from before the move wrote: a record and an entry per
	// key under the old prefix, written directly (CreateKey syncs each).
	// Key 1 also has one under the new prefix, as if a newer binary had run
	// in between.
	if err := s.db.Update(func(txn *badger.Txn) error {
		for i := range keys {
			val, err := encodeKey(store.KeyRecord{ID: id(i), Owner: "o", State: store.KeyStateActive})
			if err != nil {
				return err
			}
			if err := txn.Set(keyKey(id(i)), val); err != nil {
				return err
			}
			u := store.KeyUsage{LastUsedAt: time.Unix(int64(1000+i), 0), Count: uint64(i + 1)}
			if err := txn.Set([]byte(legacyUsagePrefix+id(i)), encodeUsage(u)); err != nil {
				return err
			}
		}
		return txn.Set(usageKey(id(1)), encodeUsage(store.KeyUsage{LastUsedAt: time.Unix(5000, 0), Count: 40}))
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = mustOpen(t, Options{Dir: dir, EncryptionKey: key})
	if n := countPrefix(t, s, legacyUsagePrefix); n != 0 {
		t.Fatalf("%d entries left under %q", n, legacyUsagePrefix)
	}
	if n := countPrefix(t, s, usagePrefix); n != keys {
		t.Fatalf("%d entries under %q, want %d", n, usagePrefix, keys)
	}
	for _, i := range []int{0, 1, 2, usageMoveBatch - 1, usageMoveBatch, keys - 1} {
		want := store.KeyUsage{LastUsedAt: time.Unix(int64(1000+i), 0).UTC(), Count: uint64(i + 1)}
		if i == 1 {
			want = store.KeyUsage{LastUsedAt: time.Unix(5000, 0).UTC(), Count: 42}
		}
		got := mustGetKey(t, s, id(i))
		if !got.LastUsedAt.Equal(want.LastUsedAt) || got.UseCount != want.Count {
			t.Errorf("%s: used %d at %v, want %d at %v", id(i), got.UseCount, got.LastUsedAt, want.Count, want.LastUsedAt)
		}
	}
	// A listing reads the moved entries too, and flushes add to them.
	page, err := s.ListKeys(ctx, store.KeyQuery{PageSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Keys) != 3 || page.Keys[1].UseCount != 42 || page.Keys[2].UseCount != 3 {
		t.Fatalf("listed %+v", page.Keys)
	}
	if err := s.RecordUsage(ctx, []store.KeyUsage{{ID: id(2), LastUsedAt: time.Unix(9000, 0), Count: 5}}); err != nil {
		t.Fatal(err)
	}
	if got := mustGetKey(t, s, id(2)); got.UseCount != 8 || !got.LastUsedAt.Equal(time.Unix(9000, 0)) {
		t.Fatalf("after a flush: used %d at %v", got.UseCount, got.LastUsedAt)
	}
}

// A damaged entry under the old prefix stops the open rather than being
// dropped, and the error names it without its bytes.
func TestOpenRefusesDamagedLegacyUsage(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	s, err := Open(Options{Dir: dir, EncryptionKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set([]byte(legacyUsagePrefix+"bad"), []byte("short"))
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Open(Options{Dir: dir, EncryptionKey: key})
	if err == nil || !strings.Contains(err.Error(), `"bad"`) || !strings.Contains(err.Error(), "moving usage entries") {
		t.Fatalf("Open = %v, want an error naming the damaged usage entry", err)
	}
	// The failed open released the directory: the next one gets it.
	if _, err := Open(Options{Dir: dir, EncryptionKey: key}); err == nil || strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open = %v, want the same refusal, not a held directory", err)
	}
}

// BenchmarkOpenMovesLegacyUsage measures the one-time move at open of a
// store written before usage entries moved (100,000 keys, each with an
// entry under the old prefix), beside opening the same store whose entries
// are already in place.
//
//	go test ./store/badger/ -run '^$' -bench OpenMovesLegacyUsage -benchtime 3x -count 3
func BenchmarkOpenMovesLegacyUsage(b *testing.B) {
	const keys = 100_000
	key := newKey(b)
	for _, bc := range []struct{ name, prefix string }{{"legacy", legacyUsagePrefix}, {"moved", usagePrefix}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				dir := b.TempDir()
				s, err := Open(Options{Dir: dir, EncryptionKey: key})
				if err != nil {
					b.Fatal(err)
				}
				for start := 0; start < keys; start += 1000 {
					if err := s.db.Update(func(txn *badger.Txn) error {
						for i := start; i < min(start+1000, keys); i++ {
							u := store.KeyUsage{LastUsedAt: time.Unix(int64(1e9+i), 0), Count: uint64(i + 1)}
							if err := txn.Set([]byte(fmt.Sprintf("%sk%07d", bc.prefix, i)), encodeUsage(u)); err != nil {
								return err
							}
						}
						return nil
					}); err != nil {
						b.Fatal(err)
					}
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				s, err = Open(Options{Dir: dir, EncryptionKey: key})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if n := countPrefixB(b, s, usagePrefix); n != keys {
					b.Fatalf("%d entries in place, want %d", n, keys)
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
