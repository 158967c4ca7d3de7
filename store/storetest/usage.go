package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

func runUsage(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()
	at := func(h int) time.Time { return epoch.Add(time.Duration(h) * time.Hour) }
	east := time.FixedZone("UTC+9", 9*3600)

	type state struct {
		last  time.Time
		count uint64
	}
	cases := []struct {
		name  string
		seed  map[string]state
		usage []store.KeyUsage
		want  map[string]state
	}{
		{"later use moves last use and adds",
			map[string]state{"k": {at(0), 10}}, []store.KeyUsage{{ID: "k", LastUsedAt: at(1), Count: 3}},
			map[string]state{"k": {at(1), 13}}},
		{"earlier use keeps last use and adds",
			map[string]state{"k": {at(0), 10}}, []store.KeyUsage{{ID: "k", LastUsedAt: at(-1), Count: 2}},
			map[string]state{"k": {at(0), 12}}},
		{"equal instant in another zone keeps last use",
			map[string]state{"k": {at(0), 10}}, []store.KeyUsage{{ID: "k", LastUsedAt: at(0).In(east), Count: 1}},
			map[string]state{"k": {at(0), 11}}},
		{"zero time keeps last use",
			map[string]state{"k": {at(0), 10}}, []store.KeyUsage{{ID: "k", Count: 5}},
			map[string]state{"k": {at(0), 15}}},
		{"zero count still moves last use",
			map[string]state{"k": {at(0), 10}}, []store.KeyUsage{{ID: "k", LastUsedAt: at(2)}},
			map[string]state{"k": {at(2), 10}}},
		{"first use",
			map[string]state{"k": {}}, []store.KeyUsage{{ID: "k", LastUsedAt: at(0), Count: 1}},
			map[string]state{"k": {at(0), 1}}},
		{"repeated id in one call",
			map[string]state{"k": {at(0), 10}},
			[]store.KeyUsage{{ID: "k", LastUsedAt: at(2), Count: 1}, {ID: "k", LastUsedAt: at(1), Count: 2}},
			map[string]state{"k": {at(2), 13}}},
		{"several keys",
			map[string]state{"a": {at(0), 1}, "b": {at(5), 2}, "c": {at(0), 3}},
			[]store.KeyUsage{{ID: "b", LastUsedAt: at(4), Count: 1}, {ID: "a", LastUsedAt: at(3), Count: 1}},
			map[string]state{"a": {at(3), 2}, "b": {at(5), 3}, "c": {at(0), 3}}},
		{"unknown ids are skipped",
			map[string]state{"k": {at(0), 10}},
			[]store.KeyUsage{{ID: "ghost", LastUsedAt: at(9), Count: 9}, {ID: "", Count: 1},
				{ID: strings.Repeat("x", store.MaxIDLength+1), Count: 1}, {ID: "k", LastUsedAt: at(1), Count: 1}},
			map[string]state{"k": {at(1), 11}}},
		{"count saturates instead of wrapping",
			map[string]state{"k": {at(0), math.MaxUint64 - 1}}, []store.KeyUsage{{ID: "k", Count: 5}},
			map[string]state{"k": {at(0), math.MaxUint64}}},
		{"nothing to record", map[string]state{"k": {at(0), 10}}, nil, map[string]state{"k": {at(0), 10}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			for id, st := range tc.seed {
				rec := base(id)
				rec.LastUsedAt, rec.UseCount = st.last, st.count
				mustCreate(t, s, rec)
			}
			if err := s.RecordUsage(ctx, tc.usage); err != nil {
				t.Fatalf("RecordUsage: %v", err)
			}
			for id, st := range tc.want {
				// Usage touches nothing but the two usage fields.
				want := base(id)
				want.LastUsedAt, want.UseCount = st.last, st.count
				assertKey(t, mustGet(t, s, id), want)
			}
			if _, err := s.GetKey(ctx, "ghost"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("GetKey(ghost) = %v, want ErrNotFound: usage must not create keys", err)
			}
		})
	}

	t.Run("more keys than one batch", func(t *testing.T) {
		s := open(t)
		const n = 2*store.MaxUsageBatch + 7
		createMany(t, s, n)
		usage := []store.KeyUsage{{ID: "bulk-ghost", Count: 1}}
		for i := range n {
			usage = append(usage, store.KeyUsage{ID: fmt.Sprintf("bulk-%05d", i), LastUsedAt: at(i), Count: uint64(i)})
		}
		if err := s.RecordUsage(ctx, usage); err != nil {
			t.Fatalf("RecordUsage: %v", err)
		}
		assertBulkUsage(t, s, n, at, base("").UseCount)
	})

	t.Run("large records are all updated", func(t *testing.T) {
		// Records with long histories make a full batch large enough to
		// exceed a backend's transaction size limit.
		s := open(t)
		const n = store.MaxUsageBatch + 100
		big := base("")
		for i := range 10 {
			big.AddEvent(store.KeyEvent{At: at(i), Action: "updated", Detail: strings.Repeat("d", 3000)})
		}
		forEach(t, n, func(i int) error {
			rec := big.Clone()
			rec.ID = fmt.Sprintf("bulk-%05d", i)
			return s.CreateKey(ctx, rec)
		})
		var usage []store.KeyUsage
		for i := range n {
			usage = append(usage, store.KeyUsage{ID: fmt.Sprintf("bulk-%05d", i), LastUsedAt: at(i), Count: uint64(i)})
		}
		if err := s.RecordUsage(ctx, usage); err != nil {
			t.Fatalf("RecordUsage: %v", err)
		}
		assertBulkUsage(t, s, n, at, big.UseCount)
	})

	t.Run("concurrent usage and updates are not lost", func(t *testing.T) {
		const workers, rounds = 16, 8
		s := open(t)
		rec := base("hot")
		rec.History, rec.LastUsedAt, rec.UseCount = nil, time.Time{}, 0
		mustCreate(t, s, rec)
		var wg sync.WaitGroup
		errs := make(chan error, 2*workers*rounds)
		for w := range workers {
			wg.Go(func() {
				for i := range rounds {
					u := store.KeyUsage{ID: "hot", LastUsedAt: at(w*rounds + i), Count: 1}
					if err := s.RecordUsage(ctx, []store.KeyUsage{u}); err != nil {
						errs <- err
					}
				}
			})
			wg.Go(func() {
				for i := range rounds {
					_, err := s.UpdateKey(ctx, "hot", func(r *store.KeyRecord) error {
						r.AddEvent(store.KeyEvent{Action: "updated", Detail: fmt.Sprint(w, "-", i)})
						return nil
					})
					if err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("concurrent call: %v", err)
		}
		got := mustGet(t, s, "hot")
		if got.UseCount != workers*rounds || !got.LastUsedAt.Equal(at(workers*rounds-1)) {
			t.Fatalf("usage = %d at %v, want %d at %v", got.UseCount, got.LastUsedAt,
				workers*rounds, at(workers*rounds-1))
		}
		if len(got.History) != workers*rounds {
			t.Fatalf("history holds %d events, want %d", len(got.History), workers*rounds)
		}
	})
}

func assertBulkUsage(t *testing.T, s store.Store, n int, at func(int) time.Time, seedCount uint64) {
	t.Helper()
	q := store.KeyQuery{PageSize: store.MaxPageSize}
	seen := 0
	for {
		page, err := s.ListKeys(context.Background(), q)
		if err != nil {
			t.Fatalf("ListKeys: %v", err)
		}
		for _, r := range page.Keys {
			var i int
			if _, err := fmt.Sscanf(r.ID, "bulk-%05d", &i); err != nil {
				t.Fatalf("unexpected id %q", r.ID)
			}
			if r.UseCount != seedCount+uint64(i) || !r.LastUsedAt.Equal(at(i)) {
				t.Fatalf("%s: usage = %d at %v, want %d at %v", r.ID, r.UseCount, r.LastUsedAt,
					seedCount+uint64(i), at(i))
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
}

// forEach runs fn for 0..n-1 from several goroutines, so that a backend
// that syncs every commit can batch them.
func forEach(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	const workers = 16
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
