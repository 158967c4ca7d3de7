package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

// epoch anchors the query fixtures; stores never read the clock for
// queries, so any fixed instant works.
var epoch = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

func day(n int) time.Time { return epoch.Add(time.Duration(n) * 24 * time.Hour) }

type fixture struct {
	id, owner        string
	state            store.KeyState
	labels           map[string]string
	created, expires time.Time
	lastUsed         time.Time
}

// queryFixtures put records exactly on the filter bounds used below, so
// that an inclusive comparison where an exclusive one is required shows.
var queryFixtures = []fixture{
	{"k00", "alice", store.KeyStateActive, map[string]string{"env": "prod", "team": "pay"}, day(-100), day(10), day(-1)},
	{"k01", "bob", store.KeyStateActive, map[string]string{"env": "dev"}, day(-50), time.Time{}, time.Time{}},
	{"k02", "alice", store.KeyStateDisabled, map[string]string{"env": "prod"}, day(-200), day(5), day(-60)},
	{"k03", "alice", store.KeyStateActive, map[string]string{"team": "pay", "tier": ""}, day(-5), day(100), time.Time{}},
	{"k04", "bob", store.KeyStateRevoked, map[string]string{"env": "prod", "team": "ops"}, day(-300), day(0), day(-30)},
	{"k05", "alice", store.KeyStateActive, map[string]string{"env": "prod=eu"}, day(-90), day(1), day(-90)},
	{"k06", "carol", store.KeyStateExpired, nil, day(-400), day(-10), day(-365)},
	{"k07", "alice", store.KeyStateActive, map[string]string{"env": "prod", "team": "pay"}, day(-40), day(20), day(-31)},
}

func (f fixture) record(useCount uint64) store.KeyRecord {
	rec := base(f.id)
	rec.Owner, rec.State, rec.Labels = f.owner, f.state, f.labels
	rec.CreatedAt, rec.ExpiresAt, rec.LastUsedAt = f.created, f.expires, f.lastUsed
	rec.UseCount = useCount
	return rec
}

func runQueries(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()
	s := open(t)
	stored := map[string]store.KeyRecord{}
	for i, f := range queryFixtures {
		rec := f.record(uint64(i))
		mustCreate(t, s, rec)
		stored[rec.ID] = rec
	}
	even := func(r store.KeyRecord) bool { return r.UseCount%2 == 0 }

	cases := []struct {
		name string
		q    store.KeyQuery
		want []string
	}{
		{"label present", store.KeyQuery{Label: "env"}, ids("k00", "k01", "k02", "k04", "k05", "k07")},
		{"label value", store.KeyQuery{Label: "env=prod"}, ids("k00", "k02", "k04", "k07")},
		{"label value holding =", store.KeyQuery{Label: "env=prod=eu"}, ids("k05")},
		{"empty label present", store.KeyQuery{Label: "tier"}, ids("k03")},
		{"empty label value", store.KeyQuery{Label: "tier="}, ids("k03")},
		{"label names are exact", store.KeyQuery{Label: "Env"}, nil},
		{"label values are exact", store.KeyQuery{Label: "env=pro"}, nil},
		{"expiring before", store.KeyQuery{ExpiringBefore: day(10)}, ids("k02", "k04", "k05", "k06")},
		{"expiring before is exclusive", store.KeyQuery{ExpiringBefore: day(0)}, ids("k06")},
		{"unused since", store.KeyQuery{UnusedSince: day(-30)}, ids("k01", "k02", "k05", "k06", "k07")},
		{"never used counts from creation", store.KeyQuery{UnusedSince: day(-4)},
			ids("k01", "k02", "k03", "k04", "k05", "k06", "k07")},
		{"match", store.KeyQuery{Match: even}, ids("k00", "k02", "k04", "k06")},
		{"match rejecting all", store.KeyQuery{Match: func(store.KeyRecord) bool { return false }}, nil},
		{"owner state label", store.KeyQuery{Owner: "alice", State: store.KeyStateActive, Label: "team=pay"},
			ids("k00", "k03", "k07")},
		{"label and unused", store.KeyQuery{Label: "env=prod", UnusedSince: day(-30)}, ids("k02", "k07")},
		{"owner expiring unused", store.KeyQuery{Owner: "alice", ExpiringBefore: day(10), UnusedSince: day(-30)},
			ids("k02", "k05")},
		{"state label expiring", store.KeyQuery{State: store.KeyStateActive, Label: "team", ExpiringBefore: day(30)},
			ids("k00", "k07")},
		{"match and owner", store.KeyQuery{Owner: "alice", Match: even}, ids("k00", "k02")},
		{"every filter", store.KeyQuery{Owner: "alice", State: store.KeyStateActive, Label: "env",
			ExpiringBefore: day(30), UnusedSince: day(-10), Match: func(r store.KeyRecord) bool { return r.UseCount > 0 }},
			ids("k05", "k07")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for size := 1; size <= len(tc.want)+1; size++ {
				q := tc.q
				q.PageSize = size
				assertPages(t, collect(t, s, q), tc.want, size)
			}
		})
	}

	t.Run("records come back whole", func(t *testing.T) {
		page, err := s.ListKeys(ctx, store.KeyQuery{Label: "team=pay", UnusedSince: day(-30)})
		if err != nil || len(page.Keys) != 1 {
			t.Fatalf("ListKeys = %v, %v; want k07 only", page.Keys, err)
		}
		assertKey(t, page.Keys[0], stored["k07"])
	})

	t.Run("match sees a copy", func(t *testing.T) {
		var seen []string
		_, err := s.ListKeys(ctx, store.KeyQuery{Match: func(r store.KeyRecord) bool {
			seen = append(seen, r.ID)
			r.History[0].Detail = "scribbled"
			r.PreviousSecretHash[0] ^= 0xff
			r.Scopes[0] = "scribbled"
			return true
		}})
		if err != nil {
			t.Fatalf("ListKeys: %v", err)
		}
		// A backend may evaluate Match more than once per record, but must
		// offer every record.
		if want := ids("k00", "k01", "k02", "k03", "k04", "k05", "k06", "k07"); !slices.Equal(slices.Compact(seen), want) {
			t.Fatalf("Match saw %v, want every record in id order %v", seen, want)
		}
		page, err := s.ListKeys(ctx, store.KeyQuery{})
		if err != nil {
			t.Fatalf("ListKeys: %v", err)
		}
		for _, got := range page.Keys {
			assertKey(t, got, stored[got.ID])
		}
	})

	t.Run("invalid label filter", func(t *testing.T) {
		for _, label := range []string{"=", "=prod"} {
			if _, err := s.ListKeys(ctx, store.KeyQuery{Label: label}); !errors.Is(err, store.ErrInvalidArgument) {
				t.Fatalf("ListKeys(label %q) = %v, want ErrInvalidArgument", label, err)
			}
		}
	})

	t.Run("token resumes after a record that stopped matching", func(t *testing.T) {
		s := open(t)
		for _, id := range []string{"a", "b", "c", "d"} {
			rec := base(id)
			rec.Labels = map[string]string{"team": "x"}
			mustCreate(t, s, rec)
		}
		q := store.KeyQuery{Label: "team", PageSize: 2}
		first, err := s.ListKeys(ctx, q)
		if err != nil || first.NextPageToken == "" {
			t.Fatalf("first page = %+v, %v", first, err)
		}
		// The last returned record leaves the result set and a new match
		// appears right after it; the scan must neither restart nor skip.
		if _, err := s.UpdateKey(ctx, "b", func(r *store.KeyRecord) error { r.Labels = nil; return nil }); err != nil {
			t.Fatalf("UpdateKey: %v", err)
		}
		late := base("b0")
		late.Labels = map[string]string{"team": "y"}
		mustCreate(t, s, late)
		q.PageToken = first.NextPageToken
		rest := collect(t, s, q)
		if got := fmt.Sprint(pageIDs(first.Keys), rest); got != "[a b] [[b0 c] [d]]" {
			t.Fatalf("pages = %s, want [a b] [[b0 c] [d]]", got)
		}
	})

	t.Run("random filters page without skip or repeat", func(t *testing.T) {
		runRandomQueries(t, open(t))
	})
}

func ids(s ...string) []string { return s }

func pageIDs(recs []store.KeyRecord) []string {
	out := []string{}
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

// assertPages checks that pages hold exactly want, in order, split into
// full pages of size and one last, possibly short or empty, page.
func assertPages(t *testing.T, pages [][]string, want []string, size int) {
	t.Helper()
	var expect [][]string
	for rest := want; ; rest = rest[min(size, len(rest)):] {
		expect = append(expect, append([]string{}, rest[:min(size, len(rest))]...))
		if len(rest) <= size {
			break
		}
	}
	if fmt.Sprint(pages) != fmt.Sprint(expect) {
		t.Fatalf("page size %d: pages = %v, want %v", size, pages, expect)
	}
}

// runRandomQueries compares ListKeys against a filter written out
// independently here, over random records and random filter combinations.
func runRandomQueries(t *testing.T, s store.Store) {
	rng := rand.New(rand.NewPCG(7, 11))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	var all []store.KeyRecord
	for i := range 60 {
		rec := base(fmt.Sprintf("%s%02d", pick("a", "a/", "b", "ab"), i))
		rec.Owner = pick("o1", "o2", "o3")
		rec.State = store.KeyState(1 + rng.IntN(4))
		rec.Labels = map[string]string{}
		if rng.IntN(2) == 0 {
			rec.Labels["env"] = pick("prod", "dev")
		}
		if rng.IntN(3) == 0 {
			rec.Labels["team"] = pick("x", "")
		}
		rec.CreatedAt = day(-rng.IntN(100))
		rec.ExpiresAt, rec.LastUsedAt = time.Time{}, time.Time{}
		if rng.IntN(3) > 0 {
			rec.ExpiresAt = day(rng.IntN(40) - 20)
		}
		if rng.IntN(3) > 0 {
			rec.LastUsedAt = day(-rng.IntN(100))
		}
		rec.UseCount = uint64(rng.IntN(5))
		mustCreate(t, s, rec)
		all = append(all, rec)
	}
	slices.SortFunc(all, func(a, b store.KeyRecord) int { return strings.Compare(a.ID, b.ID) })

	for n := range 150 {
		var q store.KeyQuery
		if rng.IntN(3) == 0 {
			q.Owner = pick("o1", "o2", "o3")
		}
		if rng.IntN(3) == 0 {
			q.State = store.KeyState(rng.IntN(5))
		}
		if rng.IntN(2) == 0 {
			q.Label = pick("env", "env=prod", "env=dev", "team", "team=", "team=x")
		}
		if rng.IntN(2) == 0 {
			q.ExpiringBefore = day(rng.IntN(40) - 20)
		}
		if rng.IntN(2) == 0 {
			q.UnusedSince = day(-rng.IntN(100))
		}
		var minUse uint64
		if rng.IntN(3) == 0 {
			minUse = uint64(rng.IntN(5))
			q.Match = func(r store.KeyRecord) bool { return r.UseCount >= minUse }
		}
		var want []string
		for _, r := range all {
			if referenceMatch(q, minUse, r) {
				want = append(want, r.ID)
			}
		}
		size := 1 + rng.IntN(8)
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			q.PageSize = size
			assertPages(t, collect(t, s, q), want, size)
		})
	}
}

func referenceMatch(q store.KeyQuery, minUse uint64, r store.KeyRecord) bool {
	if q.Owner != "" && r.Owner != q.Owner {
		return false
	}
	if q.State != store.KeyStateUnspecified && r.State != q.State {
		return false
	}
	if q.Label != "" {
		name, value, hasValue := strings.Cut(q.Label, "=")
		got, ok := r.Labels[name]
		if !ok || (hasValue && got != value) {
			return false
		}
	}
	if !q.ExpiringBefore.IsZero() && (r.ExpiresAt.IsZero() || r.ExpiresAt.Compare(q.ExpiringBefore) >= 0) {
		return false
	}
	last := r.LastUsedAt
	if last.IsZero() {
		last = r.CreatedAt
	}
	if !q.UnusedSince.IsZero() && last.Compare(q.UnusedSince) >= 0 {
		return false
	}
	return q.Match == nil || r.UseCount >= minUse
}
