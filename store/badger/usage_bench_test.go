package badger

import (
	"context"
	"fmt"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/latchkeyhq/latchkey/store"
)

// benchUsageKeys is the key count of a busy server: every one of them is
// used between two flushes.
const benchUsageKeys = 100_000

// BenchmarkRecordUsageAllKeys is one usage flush of a store whose every
// key was used since the last: the flush a server with 100,000 busy keys
// makes each minute. Beside time and allocations it reports the largest
// heap seen while it ran (peak_heap_MB), sampled every millisecond.
func BenchmarkRecordUsageAllKeys(b *testing.B) {
	ctx := context.Background()
	s, ids := benchStoreOfKeys(b, benchUsageKeys)
	usage := make([]store.KeyUsage, len(ids))
	flush := func(at time.Time) {
		for i, id := range ids {
			usage[i] = store.KeyUsage{ID: id, LastUsedAt: at, Count: 7}
		}
		if err := s.RecordUsage(ctx, usage); err != nil {
			b.Fatal(err)
		}
	}
	flush(time.Unix(2e9, 0)) // every key has a usage entry, as after the first minute
	if err := s.db.Flatten(2); err != nil {
		b.Fatal(err)
	}
	peak, stop := sampleHeap()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		flush(time.Unix(2e9+int64(i+1), 0))
	}
	b.StopTimer()
	stop()
	b.ReportMetric(float64(peak())/(1<<20), "peak_heap_MB")
	// The last flush's counts are all there.
	var got store.KeyUsage
	if err := s.db.View(func(txn *badger.Txn) error {
		u, _, err := readUsage(txn, ids[len(ids)/2])
		got = u
		return err
	}); err != nil {
		b.Fatal(err)
	}
	if want := uint64(7 * (b.N + 1)); got.Count != want {
		b.Fatalf("count %d after %d flushes, want %d", got.Count, b.N+1, want)
	}
}

// benchStoreOfKeys opens a store on disk holding n key records, with ids
// in ascending order.
func benchStoreOfKeys(b *testing.B, n int) (*Store, []string) {
	b.Helper()
	s, err := Open(Options{Dir: b.TempDir(), EncryptionKey: newKey(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("k%07d", i)
	}
	// Written directly, a thousand records a transaction: CreateKey's
	// synced transaction per key would take minutes.
	for start := 0; start < len(ids); start += 1000 {
		err := s.db.Update(func(txn *badger.Txn) error {
			for _, id := range ids[start:min(start+1000, len(ids))] {
				val, err := encodeKey(store.KeyRecord{ID: id, Owner: "orders-team", State: store.KeyStateActive,
					Scopes: []string{"orders.read", "orders.write"}, Audiences: []string{"orders-api"}, CreatedAt: time.Unix(1e9, 0)})
				if err != nil {
					return err
				}
				if err := txn.SetEntry(badger.NewEntry(keyKey(id), val)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return s, ids
}

// BenchmarkListKeysScanAll is the janitor's sweep of a store of 100,000
// keys none of which needs work: one ListKeys whose filter matches
// nothing reads every record and its usage entry.
func BenchmarkListKeysScanAll(b *testing.B) {
	ctx := context.Background()
	s, ids := benchStoreOfKeys(b, benchUsageKeys)
	usage := make([]store.KeyUsage, len(ids))
	for i, id := range ids {
		usage[i] = store.KeyUsage{ID: id, LastUsedAt: time.Unix(2e9, 0), Count: 1}
	}
	if err := s.RecordUsage(ctx, usage); err != nil {
		b.Fatal(err)
	}
	if err := s.db.Flatten(2); err != nil {
		b.Fatal(err)
	}
	seen := 0
	q := store.KeyQuery{WithoutHistory: true, Match: func(rec store.KeyRecord) bool {
		if rec.UseCount == 1 {
			seen++
		}
		return false
	}}
	peak, stop := sampleHeap()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		page, err := s.ListKeys(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		if len(page.Keys) != 0 {
			b.Fatalf("%d keys listed, none matches", len(page.Keys))
		}
	}
	b.StopTimer()
	stop()
	b.ReportMetric(float64(peak())/(1<<20), "peak_heap_MB")
	if seen != b.N*len(ids) {
		b.Fatalf("%d records read with their usage, want %d", seen, b.N*len(ids))
	}
}

// sampleHeap samples the bytes of live and unswept heap objects every
// millisecond until stop is called; peak returns the largest sample.
func sampleHeap() (peak func() uint64, stop func()) {
	var mu sync.Mutex
	var most uint64
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			mu.Lock()
			most = max(most, sample[0].Value.Uint64())
			mu.Unlock()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { mu.Lock(); defer mu.Unlock(); return most },
		func() { close(done); <-finished }
}
