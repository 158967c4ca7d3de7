package badger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/latchkeyhq/latchkey/store"
)

// smallLevels makes Badger's levels small enough that a few MB of key
// records spread over several of them, as 100,000 do with the real sizes.
func smallLevels(o badger.Options) badger.Options {
	return o.WithMemTableSize(256 << 10).
		WithBaseTableSize(32 << 10).
		WithBaseLevelSize(128 << 10).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(4)
}

func sizeAboveLast(db *badger.DB) (above, last int64) {
	levels := db.Levels()
	for _, l := range levels[:len(levels)-1] {
		above += l.Size
	}
	return above, levels[len(levels)-1].Size
}

// TestOpenSettlesLevels: key records created with random ids spread over
// several levels; the next open merges them all into the last level before
// it returns, and every record reads back.
func TestOpenSettlesLevels(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	h := hooks{tune: smallLevels}
	s, err := open(Options{Dir: dir, EncryptionKey: key}, h)
	if err != nil {
		t.Fatal(err)
	}
	// Whichever store is open when the test ends is closed; Close is a
	// no-op on a closed one.
	t.Cleanup(func() {
		if s != nil {
			s.Close()
		}
	})
	const n = 12000
	ids := make(map[string]bool, n)
	for len(ids) < n {
		err := s.db.Update(func(txn *badger.Txn) error {
			for range 100 {
				b := make([]byte, 12)
				rand.Read(b)
				id := "k_" + hex.EncodeToString(b)
				val, err := encodeKey(store.KeyRecord{ID: id, Owner: "orders-team", State: store.KeyStateActive,
					Scopes: []string{"orders.read", "orders.write"}, SecretHash: b, CreatedAt: time.Unix(1e9, 0)})
				if err != nil {
					return err
				}
				if err := txn.Set(keyKey(id), val); err != nil {
					return err
				}
				ids[id] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Compactions run on their own; wait until data lies both in the last
	// level and above it, as a server's store has it.
	deadline := time.Now().Add(20 * time.Second)
	var above, last int64
	for {
		above, last = sizeAboveLast(s.db)
		if above > 0 && last > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("levels never spread: %d bytes above the last level, %d in it", above, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = open(Options{Dir: dir, EncryptionKey: key}, h)
	if err != nil {
		t.Fatal(err)
	}
	// A clean close left every entry in a table, so nothing is above the
	// last level once Open returns.
	if after, lastAfter := sizeAboveLast(s.db); after != 0 || lastAfter <= last {
		t.Errorf("after reopening: %d bytes above the last level, %d in it; before closing %d and %d",
			after, lastAfter, above, last)
	}
	got := 0
	page := store.KeyPage{}
	for {
		page, err = s.ListKeys(context.Background(), store.KeyQuery{PageToken: page.NextPageToken, PageSize: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range page.Keys {
			if !ids[k.ID] {
				t.Fatalf("unexpected key %q", k.ID)
			}
			got++
		}
		if page.NextPageToken == "" {
			break
		}
	}
	if got != n {
		t.Errorf("%d key records read after reopening, want %d", got, n)
	}
}

func TestNeedsSettle(t *testing.T) {
	lv := func(sizes ...int64) []badger.LevelInfo {
		out := make([]badger.LevelInfo, len(sizes))
		for i, sz := range sizes {
			out[i] = badger.LevelInfo{Level: i, Size: sz}
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		levels []badger.LevelInfo
		above  int64
		settle bool
	}{
		{"empty store", lv(0, 0, 0, 0, 0, 0, 0), 0, false},
		{"all in the last level", lv(0, 0, 0, 0, 0, 0, 24<<20), 0, false},
		{"two levels", lv(0, 0, 0, 0, 0, 11<<20, 13<<20), 11 << 20, true},
		{"level 0 only above", lv(3<<20, 0, 0, 0, 0, 0, 13<<20), 3 << 20, true},
		{"nothing in the last level yet", lv(0, 0, 0, 0, 0, 5<<20, 0), 5 << 20, true},
		{"at the limit", lv(0, 0, 0, 0, 16<<20, 16<<20, 32<<20), 32 << 20, true},
		{"over the limit above", lv(0, 0, 0, 0, 32<<20, 32<<20+1, 0), 64<<20 + 1, false},
		{"over the limit in the last level", lv(0, 0, 0, 0, 0, 1<<20, 63<<20+1), 1 << 20, false},
		{"one level", lv(5 << 20), 0, false},
	} {
		above, settle := needsSettle(tc.levels, settleLimit)
		if above != tc.above || settle != tc.settle {
			t.Errorf("%s: needsSettle = %d, %v; want %d, %v", tc.name, above, settle, tc.above, tc.settle)
		}
	}
}
