package storetest

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/latchkeyhq/latchkey/store"
)

func runListKeys(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()

	t.Run("empty store", func(t *testing.T) {
		s := open(t)
		page, err := s.ListKeys(ctx, store.KeyQuery{})
		if err != nil || len(page.Keys) != 0 || page.NextPageToken != "" {
			t.Fatalf("ListKeys = %+v, %v; want empty last page", page, err)
		}
	})

	t.Run("pages in id order", func(t *testing.T) {
		ids := []string{"a", "b", "b/1", "ba", "c"}
		cases := []struct {
			pageSize int
			want     [][]string
		}{
			{1, [][]string{{"a"}, {"b"}, {"b/1"}, {"ba"}, {"c"}}},
			{2, [][]string{{"a", "b"}, {"b/1", "ba"}, {"c"}}},
			{5, [][]string{ids}},
			{6, [][]string{ids}},
		}
		s := open(t)
		for _, i := range rand.Perm(len(ids)) {
			mustCreate(t, s, base(ids[i]))
		}
		for _, tc := range cases {
			t.Run(fmt.Sprint("size ", tc.pageSize), func(t *testing.T) {
				got := collect(t, s, store.KeyQuery{PageSize: tc.pageSize})
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Fatalf("pages = %v, want %v", got, tc.want)
				}
			})
		}
	})

	t.Run("filters", func(t *testing.T) {
		s := open(t)
		for i, spec := range []struct {
			owner string
			state store.KeyState
		}{
			{"alice", store.KeyStateActive}, {"bob", store.KeyStateActive},
			{"alice", store.KeyStateRevoked}, {"bob", store.KeyStateDisabled},
			{"alice", store.KeyStateActive}, {"carol", store.KeyStateExpired},
		} {
			rec := base(fmt.Sprintf("k%d", i))
			rec.Owner, rec.State = spec.owner, spec.state
			mustCreate(t, s, rec)
		}
		cases := []struct {
			name string
			q    store.KeyQuery
			want [][]string
		}{
			{"any", store.KeyQuery{PageSize: 10}, [][]string{{"k0", "k1", "k2", "k3", "k4", "k5"}}},
			{"owner", store.KeyQuery{Owner: "alice"}, [][]string{{"k0", "k2", "k4"}}},
			{"state", store.KeyQuery{State: store.KeyStateActive}, [][]string{{"k0", "k1", "k4"}}},
			{"owner and state", store.KeyQuery{Owner: "alice", State: store.KeyStateActive}, [][]string{{"k0", "k4"}}},
			{"paged filter", store.KeyQuery{Owner: "alice", PageSize: 2}, [][]string{{"k0", "k2"}, {"k4"}}},
			{"no match", store.KeyQuery{Owner: "dave"}, [][]string{{}}},
			{"owner is exact", store.KeyQuery{Owner: "ali"}, [][]string{{}}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got := collect(t, s, tc.q)
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Fatalf("pages = %v, want %v", got, tc.want)
				}
			})
		}
		if _, err := s.ListKeys(ctx, store.KeyQuery{State: 42}); !errors.Is(err, store.ErrInvalidArgument) {
			t.Fatalf("unknown state filter = %v, want ErrInvalidArgument", err)
		}
	})

	t.Run("without history", func(t *testing.T) {
		s := open(t)
		for i := range 3 {
			rec := base(fmt.Sprintf("h%d", i))
			for n := range i * 2 {
				rec.AddEvent(store.KeyEvent{At: rec.CreatedAt, Action: "attested", Actor: "alice", Detail: fmt.Sprint("event ", n)})
			}
			mustCreate(t, s, rec)
		}
		full, err := s.ListKeys(ctx, store.KeyQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(full.Keys) != 3 || len(full.Keys[2].History) < 4 {
			t.Fatalf("full listing: %d keys, the last with %d events", len(full.Keys), len(full.Keys[len(full.Keys)-1].History))
		}
		seen := 0
		lean, err := s.ListKeys(ctx, store.KeyQuery{WithoutHistory: true, Match: func(rec store.KeyRecord) bool {
			if len(rec.History) != 0 {
				t.Errorf("Match saw %d events of %s", len(rec.History), rec.ID)
			}
			seen++
			return true
		}})
		if err != nil || len(lean.Keys) != 3 || seen != 3 {
			t.Fatalf("lean listing: %d keys, %d matched, %v", len(lean.Keys), seen, err)
		}
		for i, rec := range lean.Keys {
			want := full.Keys[i].Clone()
			want.History = nil
			if rec.History != nil || !reflect.DeepEqual(rec, want) {
				t.Errorf("lean record %s:\n got %+v\nwant %+v", rec.ID, rec, want)
			}
		}
	})

	t.Run("page size limits", func(t *testing.T) {
		s := open(t)
		createMany(t, s, store.MaxPageSize+1)
		cases := []struct {
			pageSize int
			want     int
		}{
			{0, store.DefaultPageSize},
			{-5, store.DefaultPageSize},
			{7, 7},
			{store.MaxPageSize, store.MaxPageSize},
			{store.MaxPageSize + 1, store.MaxPageSize},
			{1 << 30, store.MaxPageSize},
		}
		for _, tc := range cases {
			t.Run(fmt.Sprint(tc.pageSize), func(t *testing.T) {
				page, err := s.ListKeys(ctx, store.KeyQuery{PageSize: tc.pageSize})
				if err != nil {
					t.Fatalf("ListKeys: %v", err)
				}
				if len(page.Keys) != tc.want || page.NextPageToken == "" {
					t.Fatalf("got %d keys, next token %q; want %d keys and a token",
						len(page.Keys), page.NextPageToken, tc.want)
				}
			})
		}
	})

	t.Run("foreign page tokens are rejected", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, base("a"))
		mustCreate(t, s, base("b"))
		page, err := s.ListKeys(ctx, store.KeyQuery{PageSize: 1})
		if err != nil || page.NextPageToken == "" {
			t.Fatalf("ListKeys = %+v, %v; want a next token", page, err)
		}
		good := page.NextPageToken
		b64 := base64.RawURLEncoding.EncodeToString
		cases := map[string]string{
			"garbage":        "not a token!",
			"bare id":        "a",
			"base64 of id":   b64([]byte("a")),
			"padded":         good + "=",
			"truncated":      good[:len(good)-1],
			"json":           `{"last":"a"}`,
			"oversized":      strings.Repeat("A", 64<<10),
			"nul bytes":      "\x00\x00\x00",
			"space appended": good + " ",
		}
		for name, tok := range cases {
			t.Run(name, func(t *testing.T) {
				_, err := s.ListKeys(ctx, store.KeyQuery{PageToken: tok})
				if !errors.Is(err, store.ErrInvalidPageToken) {
					t.Fatalf("ListKeys(token %.40q) = %v, want ErrInvalidPageToken", tok, err)
				}
			})
		}
	})
}

// collect follows page tokens to the end and returns the IDs of each page.
func collect(t *testing.T, s store.Store, q store.KeyQuery) [][]string {
	t.Helper()
	var pages [][]string
	for range 100 {
		page, err := s.ListKeys(context.Background(), q)
		if err != nil {
			t.Fatalf("ListKeys(%+v): %v", q, err)
		}
		ids := []string{}
		for _, k := range page.Keys {
			ids = append(ids, k.ID)
		}
		pages = append(pages, ids)
		if page.NextPageToken == "" {
			return pages
		}
		q.PageToken = page.NextPageToken
	}
	t.Fatalf("listing did not end after 100 pages: %v", pages)
	return nil
}

// createMany creates n records from several goroutines.
func createMany(t *testing.T, s store.Store, n int) {
	t.Helper()
	forEach(t, n, func(i int) error {
		return s.CreateKey(context.Background(), base(fmt.Sprintf("bulk-%05d", i)))
	})
}
