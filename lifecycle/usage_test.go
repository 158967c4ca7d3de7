package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/latchkeyhq/latchkey/store"
	"github.com/latchkeyhq/latchkey/store/storetest"
)

func TestUsageConcurrentRecordThenFlush(t *testing.T) {
	const goroutines, perGoroutine = 64, 1000
	tests := []struct {
		name  string
		keyOf func(g int) string
	}{
		{"one shared key", func(int) string { return "shared" }},
		{"a key per goroutine", func(g int) string { return keyID(g) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t)
			want := map[string]store.KeyUsage{}
			for g := range goroutines {
				id := tt.keyOf(g)
				w := want[id]
				w.Count += perGoroutine
				// Goroutine g records t0+g s+i ms; its latest is below.
				if last := t0.Add(time.Duration(g)*time.Second + (perGoroutine-1)*time.Millisecond); last.After(w.LastUsedAt) {
					w.LastUsedAt = last
				}
				want[id] = w
			}
			for id := range want {
				create(t, s, newKey(id))
			}

			u := NewUsage(s)
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					id := tt.keyOf(g)
					// Newest first, so the maximum is not simply the last write.
					for i := perGoroutine - 1; i >= 0; i-- {
						u.Record(id, t0.Add(time.Duration(g)*time.Second+time.Duration(i)*time.Millisecond))
					}
				})
			}
			wg.Wait()
			if err := u.Flush(context.Background()); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			for id, w := range want {
				rec := get(t, s, id)
				if rec.UseCount != w.Count || !rec.LastUsedAt.Equal(w.LastUsedAt) {
					t.Errorf("%s: UseCount %d, LastUsedAt %v; want %d, %v", id, rec.UseCount, rec.LastUsedAt, w.Count, w.LastUsedAt)
				}
				if last, n := u.Pending(id); n != 0 || !last.IsZero() {
					t.Errorf("%s: pending %d at %v after Flush, want none", id, n, last)
				}
			}
		})
	}
}

func TestUsagePending(t *testing.T) {
	tests := []struct {
		name      string
		record    []time.Time
		wantLast  time.Time
		wantCount uint64
	}{
		{"nothing recorded", nil, time.Time{}, 0},
		{"one use", []time.Time{t0}, t0, 1},
		{"out of order keeps the latest", []time.Time{t0.Add(time.Hour), t0, t0.Add(time.Minute)}, t0.Add(time.Hour), 3},
		{"a zero time counts but sets no time", []time.Time{{}, t0, {}}, t0, 3},
		{"before 1970", []time.Time{t0.AddDate(-100, 0, 0)}, t0.AddDate(-100, 0, 0), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := NewUsage(&fakeUsageStore{})
			for _, at := range tt.record {
				u.Record("k", at)
			}
			u.Record("other", t0.Add(day))
			last, n := u.Pending("k")
			if n != tt.wantCount || !last.Equal(tt.wantLast) {
				t.Fatalf("Pending = %v, %d; want %v, %d", last, n, tt.wantLast, tt.wantCount)
			}
		})
	}
}

func TestUsageFlushFailureKeepsCounts(t *testing.T) {
	f := storetest.NewFaulty(openStore(t))
	create(t, f, newKey("k"))
	u := NewUsage(f)
	for i := range 3 {
		u.Record("k", t0.Add(time.Duration(i)*time.Minute))
	}

	f.SetFailing(true)
	if err := u.Flush(context.Background()); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Flush = %v, want ErrUnavailable", err)
	}
	if last, n := u.Pending("k"); n != 3 || !last.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("Pending after a failed flush = %v, %d; want t0+2m, 3", last, n)
	}
	u.Record("k", t0.Add(time.Minute))
	u.Record("k", t0.Add(time.Hour))

	f.SetFailing(false)
	if err := u.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	rec := get(t, f, "k")
	if rec.UseCount != 5 || !rec.LastUsedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("stored UseCount %d, LastUsedAt %v; want 5, t0+1h", rec.UseCount, rec.LastUsedAt)
	}
	if _, n := u.Pending("k"); n != 0 {
		t.Fatalf("Pending = %d after a good flush, want 0", n)
	}
}

func TestUsageFlushPutsBackOnlyUnwrittenBatches(t *testing.T) {
	const n = store.MaxUsageBatch + 100
	fake := &fakeUsageStore{failCall: 2}
	u := NewUsage(fake)
	for i := range n {
		u.Record(keyID(i), t0)
	}
	if err := u.Flush(context.Background()); !errors.Is(err, errFakeStore) {
		t.Fatalf("Flush = %v, want the store's error", err)
	}
	for i := range n {
		want := uint64(0)
		if i >= store.MaxUsageBatch {
			want = 1
		}
		if _, got := u.Pending(keyID(i)); got != want {
			t.Fatalf("%s pending %d, want %d", keyID(i), got, want)
		}
	}
	if err := u.Flush(context.Background()); err != nil {
		t.Fatalf("second Flush: %v", err)
	}
	got := fake.totals()
	if len(got) != n {
		t.Fatalf("%d keys written, want %d", len(got), n)
	}
	for id, c := range got {
		if c != 1 {
			t.Fatalf("%s written with count %d, want exactly 1", id, c)
		}
	}
}

func TestUsageFlushReleasesItsBatch(t *testing.T) {
	const n = 3*store.MaxUsageBatch + 7
	fake := &fakeUsageStore{}
	u := NewUsage(fake)
	for i := range n {
		u.Record(keyID(i), t0)
	}
	if err := u.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if got := len(fake.totals()); got != n {
		t.Fatalf("%d keys written, want %d", got, n)
	}
	if u.inflight != nil || u.written != 0 {
		t.Fatal("the written batch is still held after a good flush")
	}
	for i := range u.shards {
		if u.shards[i].m != nil || u.shards[i].counters != nil {
			t.Fatalf("shard %d still holds counters after a good flush", i)
		}
	}
	// Use counted after the flush is counted afresh.
	u.Record(keyID(1), t0.Add(time.Minute))
	if last, c := u.Pending(keyID(1)); c != 1 || !last.Equal(t0.Add(time.Minute)) {
		t.Fatalf("Pending = %v, %d; want t0+1m, 1", last, c)
	}
}

// TestUsageObjectsPerKey holds the heap objects a counted key adds, which
// every collection visits: its ID's copy, and no counter object of its own.
func TestUsageObjectsPerKey(t *testing.T) {
	const n = 50000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = keyID(i)
	}
	u := NewUsage(&fakeUsageStore{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, id := range ids {
		u.Record(id, t0)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(u)
	runtime.KeepAlive(ids)
	perKey := float64(int64(after.HeapObjects)-int64(before.HeapObjects)) / n
	t.Logf("%.2f heap objects per counted key", perKey)
	if perKey > 1.1 {
		t.Fatalf("%.2f heap objects per counted key, want at most 1.1", perKey)
	}
	if _, c := u.Pending(ids[n-1]); c != 1 {
		t.Fatalf("Pending count %d, want 1", c)
	}
}

// While a flush is part-way through its batch, every key's use is counted
// once: what the store holds plus what Pending reports is what was
// recorded, for keys written, keys waiting in the batch, and use recorded
// during the flush.
func TestUsagePendingDuringFlush(t *testing.T) {
	const n = 3*store.MaxUsageBatch + 11
	fake := &fakeUsageStore{}
	u := NewUsage(fake)
	for i := range n {
		u.Record(keyID(i), t0.Add(time.Duration(i)*time.Millisecond))
	}
	late := t0.Add(time.Hour)
	calls := 0
	fake.before = func() {
		calls++
		// Use of key 7 (in the first chunk) and of the batch's last key
		// arrives while the flush runs.
		u.Record(keyID(7), late)
		u.Record(keyID(n-1), late)
		written := fake.totals()
		for i := range n {
			want := uint64(1)
			if i == 7 || i == n-1 {
				want += uint64(calls)
			}
			_, pending := u.Pending(keyID(i))
			if got := written[keyID(i)] + pending; got != want {
				t.Errorf("before write %d: %s written %d + pending %d, want %d in all",
					calls, keyID(i), written[keyID(i)], pending, want)
			}
		}
	}
	if err := u.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if calls != 4 {
		t.Fatalf("%d writes, want 4", calls)
	}
	if last, pending := u.Pending(keyID(n - 1)); pending != 4 || !last.Equal(late) {
		t.Fatalf("Pending(last key) after the flush = %v, %d; want %v, 4", last, pending, late)
	}
	if _, pending := u.Pending(keyID(3)); pending != 0 {
		t.Fatalf("Pending(written key) after the flush = %d, want 0", pending)
	}
}

func TestUsageFlushEmptyWritesNothing(t *testing.T) {
	fake := &fakeUsageStore{}
	if err := NewUsage(fake).Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	if len(fake.calls) != 0 {
		t.Fatalf("%d store calls for nothing pending", len(fake.calls))
	}
}

func TestUsageRun(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	fake := &fakeUsageStore{written: make(chan writeContext, 1)}
	u := NewUsage(fake)
	ticks := make(chan time.Time)
	var periodsMu sync.Mutex
	var periods []time.Duration
	u.newTicker = func(d time.Duration) (<-chan time.Time, func()) {
		periodsMu.Lock()
		periods = append(periods, d)
		periodsMu.Unlock()
		return ticks, func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		u.Run(ctx, time.Hour)
	}()

	u.Record("a", t0)
	ticks <- t0
	<-fake.written
	if got, want := fake.totals(), map[string]uint64{"a": 1}; !mapsEqual(got, want) {
		t.Fatalf("written after the first tick %v, want %v", got, want)
	}
	u.Record("a", t0)
	ticks <- t0
	<-fake.written
	if got, want := fake.totals(), map[string]uint64{"a": 2}; !mapsEqual(got, want) {
		t.Fatalf("written after the second tick %v, want %v", got, want)
	}
	periodsMu.Lock()
	// Half an interval to the first flush, so that it falls between the
	// janitor's sweeps, then an interval between flushes.
	if want := []time.Duration{30 * time.Minute, time.Hour}; !slices.Equal(periods, want) {
		t.Errorf("ticker periods %v, want %v", periods, want)
	}
	periodsMu.Unlock()

	u.Record("b", t0)
	u.Record("b", t0)
	cancel()
	<-stopped
	select {
	case w := <-fake.written:
		if w.err != nil || !w.hasDeadline || time.Until(w.deadline) > finalFlushTimeout {
			t.Fatalf("final flush context: err %v, deadline %v (set %t); want live with a deadline within %v",
				w.err, w.deadline, w.hasDeadline, finalFlushTimeout)
		}
	default:
		t.Fatalf("no final flush when the context ended")
	}
	if got, want := fake.totals(), map[string]uint64{"a": 2, "b": 2}; !mapsEqual(got, want) {
		t.Fatalf("written %v, want %v", got, want)
	}
}

// A context that ends before the first flush still gets the final one.
func TestUsageRunStoppedBeforeTheFirstFlush(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	fake := &fakeUsageStore{}
	u := NewUsage(fake)
	u.newTicker = manualTicker(make(chan time.Time))
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		u.Run(ctx, time.Hour)
	}()
	u.Record("a", t0)
	cancel()
	<-stopped
	if got, want := fake.totals(), map[string]uint64{"a": 1}; !mapsEqual(got, want) {
		t.Fatalf("written %v, want %v", got, want)
	}
}

// writeContext is the state of a RecordUsage context at the call.
type writeContext struct {
	err         error
	deadline    time.Time
	hasDeadline bool
}

var errFakeStore = errors.New("fake store down")

// fakeUsageStore records what it is asked to write and can fail one call.
type fakeUsageStore struct {
	mu       sync.Mutex
	calls    [][]store.KeyUsage // good writes only
	n        int
	failCall int               // 1-based call that fails; 0 = none
	written  chan writeContext // receives the context state of each good write
	before   func()            // called at the start of every call, without mu
}

func (f *fakeUsageStore) RecordUsage(ctx context.Context, usage []store.KeyUsage) error {
	if f.before != nil {
		f.before()
	}
	f.mu.Lock()
	f.n++
	failed := f.n == f.failCall
	if !failed {
		f.calls = append(f.calls, slices.Clone(usage))
	}
	f.mu.Unlock()
	if failed {
		return errFakeStore
	}
	if f.written != nil {
		deadline, ok := ctx.Deadline()
		f.written <- writeContext{err: ctx.Err(), deadline: deadline, hasDeadline: ok}
	}
	return nil
}

func (f *fakeUsageStore) totals() map[string]uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[string]uint64{}
	for _, call := range f.calls {
		for _, u := range call {
			m[u.ID] += u.Count
		}
	}
	return m
}

func mapsEqual(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func BenchmarkUsageRecord(b *testing.B) {
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = fmt.Sprintf("k%011d", i)
	}
	u := NewUsage(&fakeUsageStore{})
	at := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			u.Record(ids[i%len(ids)], at)
			i++
		}
	})
}
