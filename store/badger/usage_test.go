package badger

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/latchkeyhq/latchkey/store"
)

func hasUsageEntry(t *testing.T, s *Store, id string) bool {
	t.Helper()
	var found bool
	if err := s.db.View(func(txn *badger.Txn) error {
		var err error
		_, found, err = get(txn, usageKey(id))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return found
}

// Usage kept beside a record is folded into it by the next update, once:
// the total a reader sees never counts a use twice or loses one.
func TestUsageEntryFoldsIntoTheRecordOnUpdate(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, Options{InMemory: true, EncryptionKey: newKey(t)})
	if err := s.CreateKey(ctx, store.KeyRecord{ID: "k", Owner: "o", State: store.KeyStateActive}); err != nil {
		t.Fatal(err)
	}
	use := func(at int64, n uint64) {
		t.Helper()
		if err := s.RecordUsage(ctx, []store.KeyUsage{{ID: "k", LastUsedAt: time.Unix(at, 0), Count: n}}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(step string, at int64, n uint64, entry bool) {
		t.Helper()
		got := mustGetKey(t, s, "k")
		if got.UseCount != n || !got.LastUsedAt.Equal(time.Unix(at, 0)) {
			t.Fatalf("%s: used %d at %v, want %d at %v", step, got.UseCount, got.LastUsedAt, n, time.Unix(at, 0))
		}
		if e := hasUsageEntry(t, s, "k"); e != entry {
			t.Fatalf("%s: usage entry present = %v, want %v", step, e, entry)
		}
	}
	use(100, 3)
	check("after a flush", 100, 3, true)
	rec, err := s.UpdateKey(ctx, "k", func(r *store.KeyRecord) error {
		r.Description = "updated"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rec.UseCount != 3 {
		t.Fatalf("UpdateKey returned UseCount %d, want 3", rec.UseCount)
	}
	check("after an update", 100, 3, false)
	use(50, 2) // an older use still counts, and leaves the last use alone
	check("after another flush", 100, 5, true)
	if _, err := s.UpdateKey(ctx, "k", func(*store.KeyRecord) error { return fmt.Errorf("refused") }); err == nil {
		t.Fatal("a failing update succeeded")
	}
	check("after a failed update", 100, 5, true)
}

// A record written before usage had a keyspace of its own holds its usage
// in the record; later flushes add to it.
func TestUsageHeldInTheRecordStillCounts(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, Options{InMemory: true, EncryptionKey: newKey(t)})
	old := store.KeyRecord{ID: "k", Owner: "o", State: store.KeyStateActive, LastUsedAt: time.Unix(500, 0).UTC(), UseCount: 10}
	if err := s.CreateKey(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordUsage(ctx, []store.KeyUsage{{ID: "k", LastUsedAt: time.Unix(400, 0), Count: 1}}); err != nil {
		t.Fatal(err)
	}
	if got := mustGetKey(t, s, "k"); got.UseCount != 11 || !got.LastUsedAt.Equal(time.Unix(500, 0)) {
		t.Fatalf("used %d at %v, want 11 at %v", got.UseCount, got.LastUsedAt, time.Unix(500, 0))
	}
}

// ListKeys adds each record's usage entry, across pages, whichever keys
// have one.
func TestListKeysAddsUsage(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, Options{InMemory: true, EncryptionKey: newKey(t)})
	const n = 25
	var usage []store.KeyUsage
	for i := range n {
		id := fmt.Sprintf("k%02d", i)
		if err := s.CreateKey(ctx, store.KeyRecord{ID: id, Owner: "o", State: store.KeyStateActive}); err != nil {
			t.Fatal(err)
		}
		if i%3 != 1 {
			usage = append(usage, store.KeyUsage{ID: id, LastUsedAt: time.Unix(int64(1000+i), 0), Count: uint64(i + 1)})
		}
	}
	usage = append(usage, store.KeyUsage{ID: "ghost", Count: 9}) // no such key: skipped
	if err := s.RecordUsage(ctx, usage); err != nil {
		t.Fatal(err)
	}
	if hasUsageEntry(t, s, "ghost") {
		t.Fatal("usage was stored for a key that does not exist")
	}
	seen := 0
	q := store.KeyQuery{PageSize: 4}
	for {
		page, err := s.ListKeys(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range page.Keys {
			var i int
			fmt.Sscanf(rec.ID, "k%02d", &i)
			want, at := uint64(i+1), time.Unix(int64(1000+i), 0)
			if i%3 == 1 {
				want, at = 0, time.Time{}
			}
			if rec.UseCount != want || !rec.LastUsedAt.Equal(at) {
				t.Fatalf("%s: used %d at %v, want %d at %v", rec.ID, rec.UseCount, rec.LastUsedAt, want, at)
			}
			seen++
		}
		if page.NextPageToken == "" {
			break
		}
		q.PageToken = page.NextPageToken
	}
	if seen != n {
		t.Fatalf("listed %d keys, want %d", seen, n)
	}
	// The unused-since filter sees the usage entries too.
	page, err := s.ListKeys(ctx, store.KeyQuery{UnusedSince: time.Unix(1010, 0), PageSize: store.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range page.Keys {
		if !rec.LastUsedAt.IsZero() && !rec.LastUsedAt.Before(time.Unix(1010, 0)) {
			t.Fatalf("%s used at %v listed as unused since %v", rec.ID, rec.LastUsedAt, time.Unix(1010, 0))
		}
	}
}

// Usage survives a restart, and a usage entry that does not decode is
// damage, reported as the store being unavailable.
func TestUsageEntryDurableAndChecked(t *testing.T) {
	ctx := context.Background()
	dir, key := t.TempDir(), newKey(t)
	s, err := Open(Options{Dir: dir, EncryptionKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateKey(ctx, store.KeyRecord{ID: "k", Owner: "o", State: store.KeyStateActive}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordUsage(ctx, []store.KeyUsage{{ID: "k", LastUsedAt: time.Unix(7, 8), Count: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, Options{Dir: dir, EncryptionKey: key})
	if got := mustGetKey(t, s, "k"); got.UseCount != 2 || !got.LastUsedAt.Equal(time.Unix(7, 8)) {
		t.Fatalf("after reopening: used %d at %v", got.UseCount, got.LastUsedAt)
	}
	for _, bad := range [][]byte{{1, 2, 3}, append(make([]byte, 8), 0x3b, 0x9a, 0xca, 0x00, 0, 0, 0, 0, 0, 0, 0, 0)} {
		if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(usageKey("k"), bad) }); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetKey(ctx, "k"); err == nil {
			t.Fatalf("GetKey with usage entry %x succeeded", bad)
		}
	}
}

func TestUsageWireRoundTrip(t *testing.T) {
	for _, u := range []store.KeyUsage{
		{ID: "k"},
		{ID: "k", LastUsedAt: time.Unix(0, 0).UTC(), Count: 1},
		{ID: "k", LastUsedAt: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), Count: ^uint64(0)},
		{ID: "k", LastUsedAt: time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC), Count: 42},
	} {
		got, err := decodeUsage("k", encodeUsage(u))
		if err != nil || got != u {
			t.Fatalf("round trip of %+v = %+v, %v", u, got, err)
		}
	}
}

// A flush reads key records and usage entries with cursors that step
// forward or seek: ids close together, far apart (more than cursorSteps
// entries between them), missing between stored ones, before the first
// and after the last all fold into the right entries, flush after flush.
func TestRecordUsageStepsAndSeeks(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, Options{Dir: t.TempDir(), EncryptionKey: newKey(t)})
	const n = 120
	for i := range n {
		if err := s.CreateKey(ctx, store.KeyRecord{ID: fmt.Sprintf("k%03d", i), Owner: "o", State: store.KeyStateActive}); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]uint64{}
	flush := func(used []int, ghosts ...string) {
		t.Helper()
		var usage []store.KeyUsage
		for _, i := range used {
			id := fmt.Sprintf("k%03d", i)
			usage = append(usage, store.KeyUsage{ID: id, LastUsedAt: time.Unix(int64(5000+i), 0), Count: uint64(i + 1)})
			want[id] += uint64(i + 1)
		}
		for _, g := range ghosts {
			usage = append(usage, store.KeyUsage{ID: g, LastUsedAt: time.Unix(1, 0), Count: 1})
		}
		if err := s.RecordUsage(ctx, usage); err != nil {
			t.Fatal(err)
		}
	}
	// Dense (one id twice), then sparse with gaps of 38 and 80 keys, then every third id
	// with ghosts around and between them, some keys with an entry already.
	flush([]int{0, 1, 2, 3, 4, 5, 3}) // unsorted, and 3 twice
	flush([]int{1, 40, 119}, "a", "k0405", "zz")
	var third []int
	for i := 0; i < n; i += 3 {
		third = append(third, i)
	}
	flush(third, "k000a", "k050x", "k1199", "k200")
	for i := range n {
		id := fmt.Sprintf("k%03d", i)
		rec, err := s.GetKey(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.UseCount != want[id] {
			t.Errorf("%s: use count %d, want %d", id, rec.UseCount, want[id])
		}
		if want[id] > 0 && !rec.LastUsedAt.Equal(time.Unix(int64(5000+i), 0)) {
			t.Errorf("%s: last used %v, want %v", id, rec.LastUsedAt, time.Unix(int64(5000+i), 0))
		}
	}
	for _, g := range []string{"a", "k0405", "zz", "k000a", "k050x", "k1199", "k200"} {
		if hasUsageEntry(t, s, g) {
			t.Errorf("usage stored for %q, which names no key", g)
		}
	}
}
