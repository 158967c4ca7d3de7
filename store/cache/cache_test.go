package cache_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"reflect"
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

func mustHot(t *testing.T, c *cache.Store, id string) store.KeyRecord {
	t.Helper()
	rec, err := c.GetHotKey(context.Background(), id)
	if err != nil {
		t.Fatalf("GetHotKey(%q): %v", id, err)
	}
	return rec
}

// utc puts every time of rec in UTC, so that records read from different
// places compare equal when they name the same instants.
func utc(rec store.KeyRecord) store.KeyRecord {
	for _, t := range []*time.Time{&rec.CreatedAt, &rec.ExpiresAt, &rec.RevokedAt, &rec.LastUsedAt, &rec.LastAttestedAt,
		&rec.RotatedAt, &rec.GraceDeadline, &rec.DisabledAt, &rec.EnabledAt, &rec.RotationFlaggedAt} {
		if !t.IsZero() {
			*t = t.UTC()
		}
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

func TestRepeatedGetHotKeyReadsInnerOnce(t *testing.T) {
	c, inner := newCache(t, 0)
	mustCreate(t, c, "k")
	want := utc(mustGet(t, inner.Store, "k").Hot())
	for i := range 1000 {
		if got := mustHot(t, c, "k"); !reflect.DeepEqual(got, want) {
			t.Fatalf("GetHotKey #%d = %+v, want %+v", i, got, want)
		}
	}
	if n := inner.reads.Load(); n != 1 {
		t.Fatalf("inner reads = %d for 1000 GetHotKey of one id, want 1", n)
	}
	// Whole records are read from the store every time.
	if got := mustGet(t, c, "k"); got.Labels["env"] != "prod" || len(got.History) != 1 {
		t.Fatalf("GetKey = %+v, want the whole record", got)
	}
	if n := inner.reads.Load(); n != 2 {
		t.Fatalf("inner reads after a GetKey = %d, want 2", n)
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
				if rec.Owner != "team" {
					t.Fatalf("Owner = %q after RecordUsage, want team", rec.Owner)
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
			mustHot(t, c, "k")
			mustHot(t, c, "other")
			tc.write(t, c)
			before := inner.reads.Load()
			tc.check(t, mustHot(t, c, "k"))
			tc.check(t, mustHot(t, c, "k"))
			mustHot(t, c, "other")
			// One re-read of the record written, except after a usage
			// flush, which changes nothing a hot record holds; the
			// untouched one stays cached.
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
	if _, err := c.GetHotKey(context.Background(), "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetHotKey before CreateKey = %v, want ErrNotFound", err)
	}
	mustCreate(t, c, "k")
	if got := mustHot(t, c, "k"); got.Owner != "team" {
		t.Fatalf("GetHotKey after CreateKey = %+v", got)
	}
}

func TestNotFoundIsNotCached(t *testing.T) {
	c, inner := newCache(t, 0)
	for i := range 1000 {
		id := "unknown-" + strconv.Itoa(i%500)
		if _, err := c.GetHotKey(context.Background(), id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetHotKey(%q) = %v, want ErrNotFound", id, err)
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
	ctx := context.Background()
	faulty := storetest.NewFaulty(openBadger(t))
	c := cache.New(faulty, 0)
	t.Cleanup(func() { _ = c.Close() })
	mustCreate(t, c, "k")
	faulty.SetFailing(true)
	if _, err := c.GetHotKey(ctx, "k"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("GetHotKey while failing = %v, want ErrUnavailable", err)
	}
	faulty.SetFailing(false)
	if got := mustHot(t, c, "k"); got.Owner != "team" {
		t.Fatalf("GetHotKey after recovery = %+v", got)
	}
	// Now cached: a failing store is not consulted.
	faulty.SetFailing(true)
	if got := mustHot(t, c, "k"); got.Owner != "team" {
		t.Fatalf("cached GetHotKey = %+v", got)
	}
	if state, _, err := c.KeyStatus(ctx, "k"); err != nil || state != store.KeyStateActive {
		t.Fatalf("cached KeyStatus = %v, %v", state, err)
	}
	if n := faulty.FailedCalls(); n != 1 {
		t.Fatalf("failed inner calls = %d, want 1", n)
	}
	// A failed write may still have reached the disk, so it drops the copy.
	if _, err := c.UpdateKey(ctx, "k", func(r *store.KeyRecord) error {
		r.Owner = "other"
		return nil
	}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("UpdateKey while failing = %v, want ErrUnavailable", err)
	}
	if _, err := c.GetHotKey(ctx, "k"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("GetHotKey after a failed write = %v, want ErrUnavailable from the inner store", err)
	}
}

func TestReturnedRecordsAreCopies(t *testing.T) {
	c, _ := newCache(t, 0)
	rec := record("k")
	rec.Audiences = []string{"api"}
	if err := c.CreateKey(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the filling read and a cached read
		got := mustHot(t, c, "k")
		got.SecretHash[0] = 0xff
		got.Scopes[0] = "admin"
		// Appending to one list must not write over the next.
		_ = append(got.Scopes, "sneaked")
	}
	got := mustHot(t, c, "k")
	if got.SecretHash[0] != 1 || got.Scopes[0] != "read" || len(got.Audiences) != 1 || got.Audiences[0] != "api" {
		t.Fatalf("a caller's change reached the cache: %+v", got)
	}
}

func TestEvictionBoundsSize(t *testing.T) {
	c, inner := newCache(t, 10)
	for i := range 100 {
		mustCreate(t, c, "k"+strconv.Itoa(i))
	}
	for i := range 100 {
		mustHot(t, c, "k0") // kept recently used
		mustHot(t, c, "k"+strconv.Itoa(i))
		if n := c.Len(); n > 10 {
			t.Fatalf("Len = %d, want at most 10", n)
		}
	}
	if n := c.Len(); n != 10 {
		t.Fatalf("Len = %d, want 10", n)
	}
	// An eviction takes the least recently used of a sample of eight of
	// the eleven keys then cached: the two just used are never taken, and
	// a key left unused while ninety others came in is gone.
	before := inner.reads.Load()
	mustHot(t, c, "k0")
	mustHot(t, c, "k99")
	if n := inner.reads.Load() - before; n != 0 {
		t.Fatalf("recently used keys were evicted: %d inner reads", n)
	}
	mustHot(t, c, "k1")
	if n := inner.reads.Load() - before; n != 1 {
		t.Fatalf("a long unused key still cached: %d inner reads, want 1", n)
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
				if _, err := c.GetHotKey(context.Background(), strconv.Itoa(i)); err != nil {
					t.Fatal(err)
				}
			}
			if n := c.Len(); n != cache.DefaultMaxEntries {
				t.Fatalf("Len = %d, want %d", n, cache.DefaultMaxEntries)
			}
		})
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
				if got := mustHot(t, c, id); got.ID != id || got.Owner != "team" || got.Scopes[0] != "read" {
					t.Fatalf("GetHotKey(%s) = %+v", id, got)
				}
			}
			if n := inner.reads.Load() - reads; n != 0 {
				t.Fatalf("%d inner reads for preloaded records, want 0", n)
			}
		})
	}
}

// KeyStatus answers from the cached record without allocating; a miss
// fills the cache as GetHotKey does.
func TestKeyStatus(t *testing.T) {
	ctx := context.Background()
	c, inner := newCache(t, 0)
	rec := record("k")
	rec.ExpiresAt = time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	if err := c.CreateKey(ctx, rec); err != nil {
		t.Fatal(err)
	}
	check := func() {
		t.Helper()
		state, expires, err := c.KeyStatus(ctx, "k")
		if err != nil || state != store.KeyStateActive || !expires.Equal(rec.ExpiresAt) {
			t.Fatalf("KeyStatus = %v, %v, %v; want active, %v", state, expires, err, rec.ExpiresAt)
		}
	}
	check()
	if n := inner.reads.Load(); n != 1 {
		t.Fatalf("inner reads after a miss = %d, want 1", n)
	}
	for range 3 {
		check()
	}
	if n := inner.reads.Load(); n != 1 {
		t.Fatalf("inner reads after hits = %d, want 1", n)
	}
	if a := testing.AllocsPerRun(100, func() { _, _, _ = c.KeyStatus(ctx, "k") }); a != 0 {
		t.Fatalf("KeyStatus hit allocates %v times, want 0", a)
	}
	if _, err := c.UpdateKey(ctx, "k", func(r *store.KeyRecord) error {
		r.State, r.DisabledAt = store.KeyStateDisabled, time.Unix(5, 0)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if state, _, err := c.KeyStatus(ctx, "k"); err != nil || state != store.KeyStateDisabled {
		t.Fatalf("KeyStatus after disabling = %v, %v; want disabled", state, err)
	}
	if _, _, err := c.KeyStatus(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("KeyStatus of an unknown id = %v, want ErrNotFound", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.KeyStatus(ctx, "k"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("KeyStatus after Close = %v, want ErrUnavailable", err)
	}
}
