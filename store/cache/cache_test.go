package cache_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/latchkeyhq/latchkey/store"
	badgerstore "github.com/latchkeyhq/latchkey/store/badger"
	"github.com/latchkeyhq/latchkey/store/cache"
	"github.com/latchkeyhq/latchkey/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func openBadger(t *testing.T) store.Store {
	t.Helper()
	key := make([]byte, badgerstore.EncryptionKeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	s, err := badgerstore.Open(badgerstore.Options{InMemory: true, EncryptionKey: key})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// counting counts the key reads that reach the wrapped store. When gate is
// set, a read fetches its record and then waits for gate to be closed
// before returning it, so a test can hold a read in flight.
type counting struct {
	store.Store
	reads atomic.Int64

	mu      sync.Mutex
	gate    chan struct{}
	fetched chan struct{}
}

func (c *counting) GetKey(ctx context.Context, id string) (store.KeyRecord, error) {
	c.reads.Add(1)
	rec, err := c.Store.GetKey(ctx, id)
	c.mu.Lock()
	gate, fetched := c.gate, c.fetched
	c.gate, c.fetched = nil, nil
	c.mu.Unlock()
	if gate != nil {
		close(fetched)
		<-gate
	}
	return rec, err
}

// holdNextRead makes the next inner read pause after fetching; fetched is
// closed once it has fetched, and closing release lets it return.
func (c *counting) holdNextRead() (fetched <-chan struct{}, release chan<- struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gate, c.fetched = make(chan struct{}), make(chan struct{})
	return c.fetched, c.gate
}

// newCache returns a cache of size max over a fresh badger store, and the
// counter between them.
func newCache(t *testing.T, max int) (*cache.Store, *counting) {
	t.Helper()
	inner := &counting{Store: openBadger(t)}
	c := cache.New(inner, max)
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c, inner
}

func record(id string) store.KeyRecord {
	return store.KeyRecord{ID: id, Owner: "team", State: store.KeyStateActive,
		SecretHash: []byte{1, 2, 3}, Scopes: []string{"read"}, Labels: map[string]string{"env": "prod"},
		History: []store.KeyEvent{{At: time.Unix(1, 0).UTC(), Action: "created"}}}
}

func mustCreate(t *testing.T, s store.Store, id string) {
	t.Helper()
	if err := s.CreateKey(context.Background(), record(id)); err != nil {
		t.Fatalf("CreateKey(%q): %v", id, err)
	}
}

func mustGet(t *testing.T, s store.Store, id string) store.KeyRecord {
	t.Helper()
	rec, err := s.GetKey(context.Background(), id)
	if err != nil {
		t.Fatalf("GetKey(%q): %v", id, err)
	}
	return rec
}

func TestConformance(t *testing.T) {
	for _, size := range []int{0, 1} {
		t.Run(fmt.Sprint("size ", size), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store { return cache.New(openBadger(t), size) })
		})
	}
}

func TestRepeatedGetKeyReadsInnerOnce(t *testing.T) {
	c, inner := newCache(t, 0)
	mustCreate(t, c, "k")
	want := mustGet(t, inner.Store, "k")
	for i := range 1000 {
		if got := mustGet(t, c, "k"); got.Owner != want.Owner || got.UseCount != want.UseCount {
			t.Fatalf("GetKey #%d = %+v, want %+v", i, got, want)
		}
	}
	if n := inner.reads.Load(); n != 1 {
		t.Fatalf("inner reads = %d for 1000 GetKey of one id, want 1", n)
	}
}

func TestWritesAreSeen(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		write func(t *testing.T, s store.Store)
		check func(t *testing.T, rec store.KeyRecord)
	}{
		{
			name: "UpdateKey",
			write: func(t *testing.T, s store.Store) {
				if _, err := s.UpdateKey(ctx, "k", func(r *store.KeyRecord) error {
					r.Owner = "new-owner"
					return nil
				}); err != nil {
					t.Fatalf("UpdateKey: %v", err)
				}
			},
			check: func(t *testing.T, rec store.KeyRecord) {
				if rec.Owner != "new-owner" {
					t.Fatalf("Owner = %q after UpdateKey, want new-owner", rec.Owner)
				}
			},
		},
		{
			name: "RecordUsage",
			write: func(t *testing.T, s store.Store) {
				if err := s.RecordUsage(ctx, []store.KeyUsage{{ID: "k", LastUsedAt: time.Unix(100, 0), Count: 7}}); err != nil {
					t.Fatalf("RecordUsage: %v", err)
				}
			},
			check: func(t *testing.T, rec store.KeyRecord) {
				if rec.UseCount != 7 || !rec.LastUsedAt.Equal(time.Unix(100, 0)) {
					t.Fatalf("usage = %d at %v after RecordUsage, want 7 at %v", rec.UseCount, rec.LastUsedAt, time.Unix(100, 0))
				}
			},
		},
		{
			// An update that fails inside fn leaves the record unchanged,
			// and the cache must still answer with it.
			name: "failed UpdateKey",
			write: func(t *testing.T, s store.Store) {
				boom := errors.New("boom")
				if _, err := s.UpdateKey(ctx, "k", func(*store.KeyRecord) error { return boom }); !errors.Is(err, boom) {
					t.Fatalf("UpdateKey = %v, want boom", err)
				}
			},
			check: func(t *testing.T, rec store.KeyRecord) {
				if rec.Owner != "team" {
					t.Fatalf("Owner = %q after a failed update, want team", rec.Owner)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, inner := newCache(t, 0)
			mustCreate(t, c, "k")
			mustCreate(t, c, "other")
			mustGet(t, c, "k")
			mustGet(t, c, "other")
			tc.write(t, c)
			before := inner.reads.Load()
			tc.check(t, mustGet(t, c, "k"))
			tc.check(t, mustGet(t, c, "k"))
			mustGet(t, c, "other")
			// One re-read of the record written, except after a usage
			// flush, which updates the cached copy in place; the untouched
			// one stays cached.
			want := int64(1)
			if tc.name == "RecordUsage" {
				want = 0
			}
			if n := inner.reads.Load() - before; n != want {
				t.Fatalf("inner reads after the write = %d, want %d", n, want)
			}
		})
	}
}

func TestCreateAfterNotFoundIsSeen(t *testing.T) {
	c, _ := newCache(t, 0)
	if _, err := c.GetKey(context.Background(), "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetKey before CreateKey = %v, want ErrNotFound", err)
	}
	mustCreate(t, c, "k")
	if got := mustGet(t, c, "k"); got.Owner != "team" {
		t.Fatalf("GetKey after CreateKey = %+v", got)
	}
}

func TestNotFoundIsNotCached(t *testing.T) {
	c, inner := newCache(t, 0)
	for i := range 1000 {
		id := "unknown-" + strconv.Itoa(i%500)
		if _, err := c.GetKey(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetKey(%q) = %v, want ErrNotFound", id, err)
		}
	}
	if n := c.Len(); n != 0 {
		t.Fatalf("Len = %d after only unknown ids, want 0", n)
	}
	if n := inner.reads.Load(); n != 1000 {
		t.Fatalf("inner reads = %d, want 1000 (every miss asks again)", n)
	}
}

func TestErrorsAreNotCached(t *testing.T) {
	faulty := storetest.NewFaulty(openBadger(t))
	c := cache.New(faulty, 0)
	t.Cleanup(func() { _ = c.Close() })
	mustCreate(t, c, "k")
	faulty.SetFailing(true)
	if _, err := c.GetKey(context.Background(), "k"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("GetKey while failing = %v, want ErrUnavailable", err)
	}
	faulty.SetFailing(false)
	if got := mustGet(t, c, "k"); got.Owner != "team" {
		t.Fatalf("GetKey after recovery = %+v", got)
	}
	// Now cached: a failing store is not consulted.
	faulty.SetFailing(true)
	if got := mustGet(t, c, "k"); got.Owner != "team" {
		t.Fatalf("cached GetKey = %+v", got)
	}
	if n := faulty.FailedCalls(); n != 1 {
		t.Fatalf("failed inner calls = %d, want 1", n)
	}
	// A failed write may still have reached the disk, so it drops the copy.
	if err := c.RecordUsage(context.Background(), []store.KeyUsage{{ID: "k", Count: 1}}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("RecordUsage while failing = %v, want ErrUnavailable", err)
	}
	if _, err := c.GetKey(context.Background(), "k"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("GetKey after a failed write = %v, want ErrUnavailable from the inner store", err)
	}
}

func TestReturnedRecordsAreCopies(t *testing.T) {
	c, _ := newCache(t, 0)
	mustCreate(t, c, "k")
	for range 2 { // the filling read and a cached read
		got := mustGet(t, c, "k")
		got.SecretHash[0] = 0xff
		got.Scopes[0] = "admin"
		got.Labels["env"] = "dev"
		got.History[0].Action = "forged"
	}
	got := mustGet(t, c, "k")
	if got.SecretHash[0] != 1 || got.Scopes[0] != "read" || got.Labels["env"] != "prod" || got.History[0].Action != "created" {
		t.Fatalf("a caller's change reached the cache: %+v", got)
	}
}

func TestEvictionBoundsSize(t *testing.T) {
	c, inner := newCache(t, 10)
	for i := range 100 {
		mustCreate(t, c, "k"+strconv.Itoa(i))
	}
	for i := range 100 {
		mustGet(t, c, "k0") // kept recently used
		mustGet(t, c, "k"+strconv.Itoa(i))
		if n := c.Len(); n > 10 {
			t.Fatalf("Len = %d, want at most 10", n)
		}
	}
	if n := c.Len(); n != 10 {
		t.Fatalf("Len = %d, want 10", n)
	}
	before := inner.reads.Load()
	mustGet(t, c, "k0")
	mustGet(t, c, "k99")
	if n := inner.reads.Load() - before; n != 0 {
		t.Fatalf("recently used keys were evicted: %d inner reads", n)
	}
	mustGet(t, c, "k1")
	if n := inner.reads.Load() - before; n != 1 {
		t.Fatalf("least recently used key still cached: %d inner reads, want 1", n)
	}
}

// manyKeys answers GetKey for any id without storage, so the default bound
// can be filled quickly.
type manyKeys struct{ store.Store }

func (manyKeys) GetKey(_ context.Context, id string) (store.KeyRecord, error) {
	return store.KeyRecord{ID: id, State: store.KeyStateActive}, nil
}

func TestDefaultMaxEntries(t *testing.T) {
	for _, size := range []int{0, -1} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			c := cache.New(manyKeys{}, size)
			for i := range cache.DefaultMaxEntries + 50 {
				if _, err := c.GetKey(context.Background(), strconv.Itoa(i)); err != nil {
					t.Fatal(err)
				}
			}
			if n := c.Len(); n != cache.DefaultMaxEntries {
				t.Fatalf("Len = %d, want %d", n, cache.DefaultMaxEntries)
			}
		})
	}
}

// A usage flush updates cached records in place, exactly as the inner
// store folds them, and sends no later GetKey to the inner store.
func TestRecordUsageKeepsRecordsCached(t *testing.T) {
	ctx := context.Background()
	c, inner := newCache(t, 0)
	for _, id := range []string{"a", "b"} {
		mustCreate(t, c, id)
		mustGet(t, c, id)
	}
	reads := inner.reads.Load()
	flushes := [][]store.KeyUsage{
		{{ID: "a", LastUsedAt: time.Unix(200, 0), Count: 3}, {ID: "a", LastUsedAt: time.Unix(100, 0), Count: 2}},
		{{ID: "b", LastUsedAt: time.Unix(50, 0), Count: math.MaxUint64 - 1}, {ID: "unknown", Count: 1}},
		{{ID: "a", LastUsedAt: time.Unix(150, 0), Count: 1}, {ID: "b", LastUsedAt: time.Unix(60, 0), Count: 5}},
	}
	for _, f := range flushes {
		if err := c.RecordUsage(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]struct {
		at    time.Time
		count uint64
	}{"a": {time.Unix(200, 0), 6}, "b": {time.Unix(60, 0), math.MaxUint64}}
	for id, w := range want {
		got := mustGet(t, c, id)
		if !got.LastUsedAt.Equal(w.at) || got.UseCount != w.count {
			t.Errorf("%s cached: used %d at %v, want %d at %v", id, got.UseCount, got.LastUsedAt, w.count, w.at)
		}
		stored := mustGet(t, inner.Store, id)
		if !stored.LastUsedAt.Equal(got.LastUsedAt) || stored.UseCount != got.UseCount {
			t.Errorf("%s: cache says %d at %v, store says %d at %v", id, got.UseCount, got.LastUsedAt, stored.UseCount, stored.LastUsedAt)
		}
	}
	if n := inner.reads.Load() - reads; n != 0 {
		t.Fatalf("inner reads after usage flushes = %d, want 0", n)
	}
}

// Preload fills the cache from the inner store, across pages, up to its
// bound and never past it, and later reads of preloaded records stay in
// memory.
func TestPreload(t *testing.T) {
	cases := []struct {
		name        string
		keys, max   int
		wantPreload int
	}{
		{"empty store", 0, 10, 0},
		{"everything fits, several pages", 2*store.MaxPageSize + 7, 0, 2*store.MaxPageSize + 7},
		{"bounded", 25, 10, 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, inner := newCache(t, tc.max)
			ids := make([]string, tc.keys)
			for i := range ids {
				ids[i] = fmt.Sprintf("k%05d", i)
				mustCreate(t, inner.Store, ids[i])
			}
			n, err := c.Preload(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.wantPreload || c.Len() != tc.wantPreload {
				t.Fatalf("Preload cached %d (Len %d), want %d", n, c.Len(), tc.wantPreload)
			}
			reads := inner.reads.Load()
			for _, id := range ids[:tc.wantPreload] {
				if got := mustGet(t, c, id); got.ID != id || got.Owner != "team" {
					t.Fatalf("GetKey(%s) = %+v", id, got)
				}
			}
			if n := inner.reads.Load() - reads; n != 0 {
				t.Fatalf("%d inner reads for preloaded records, want 0", n)
			}
		})
	}
}

// ViewKey shows the cached record without a copy and without reading the
// inner store again; a miss fills the cache as GetKey does.
func TestViewKey(t *testing.T) {
	ctx := context.Background()
	c, inner := newCache(t, 0)
	mustCreate(t, c, "k")
	var owner string
	view := func(rec *store.KeyRecord) { owner = rec.Owner }
	if err := c.ViewKey(ctx, "k", view); err != nil || owner != "team" {
		t.Fatalf("ViewKey miss = %v, owner %q", err, owner)
	}
	if n := inner.reads.Load(); n != 1 {
		t.Fatalf("inner reads after a miss = %d, want 1", n)
	}
	for range 3 {
		owner = ""
		if err := c.ViewKey(ctx, "k", view); err != nil || owner != "team" {
			t.Fatalf("ViewKey hit = %v, owner %q", err, owner)
		}
	}
	if n := inner.reads.Load(); n != 1 {
		t.Fatalf("inner reads after hits = %d, want 1", n)
	}
	if err := c.ViewKey(ctx, "nope", view); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ViewKey of an unknown id = %v, want ErrNotFound", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.ViewKey(ctx, "k", view); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("ViewKey after Close = %v, want ErrUnavailable", err)
	}
}
