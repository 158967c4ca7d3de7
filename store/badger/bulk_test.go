package badger

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

func TestImportRevocations(t *testing.T) {
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	live := func(i int) store.Revocation {
		return store.Revocation{Kind: store.RevokeJTI, Value: fmt.Sprintf("jti-%d", i), At: now, ExpiresAt: now.Add(time.Hour), Actor: "importer"}
	}
	cases := []struct {
		name string
		// appended before the import with AppendRevocation
		before   int
		n        int
		gen      func(int) store.Revocation
		wantLast uint64
		// revisions LoadRevocations returns afterwards
		wantRevs []uint64
		wantErr  error
	}{
		{name: "empty log", n: 3, gen: live, wantLast: 3, wantRevs: []uint64{1, 2, 3}},
		{name: "after appended entries", before: 2, n: 2, gen: live, wantLast: 4, wantRevs: []uint64{1, 2, 3, 4}},
		{name: "nothing to import", before: 1, n: 0, gen: live, wantLast: 1, wantRevs: []uint64{1}},
		{name: "expired entries leave gaps", n: 4, wantLast: 4, wantRevs: []uint64{2, 4},
			gen: func(i int) store.Revocation {
				r := live(i)
				if i%2 == 0 {
					r.ExpiresAt = now.Add(-time.Minute)
				}
				return r
			}},
		{name: "one invalid entry stores nothing", before: 1, n: 3, wantErr: store.ErrInvalidArgument, wantRevs: []uint64{1},
			gen: func(i int) store.Revocation {
				r := live(i)
				if i == 2 {
					r.Kind = store.RevokeKeyTokens // without Before
				}
				return r
			}},
		{name: "negative count", n: -1, gen: live, wantErr: store.ErrInvalidArgument},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpen(t, Options{InMemory: true, EncryptionKey: newKey(t)})
			for i := range tc.before {
				if _, err := s.AppendRevocation(ctx, live(1000+i)); err != nil {
					t.Fatalf("AppendRevocation: %v", err)
				}
			}
			last, err := s.ImportRevocations(ctx, tc.n, tc.gen)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("ImportRevocations error = %v, want %v", err, tc.wantErr)
			}
			if err == nil && last != tc.wantLast {
				t.Fatalf("last revision = %d, want %d", last, tc.wantLast)
			}
			got, gotLast, err := s.LoadRevocations(ctx)
			if err != nil {
				t.Fatalf("LoadRevocations: %v", err)
			}
			var revs []uint64
			for _, r := range got {
				revs = append(revs, r.Rev)
			}
			if fmt.Sprint(revs) != fmt.Sprint(tc.wantRevs) {
				t.Fatalf("revisions = %v, want %v", revs, tc.wantRevs)
			}
			if tc.wantErr == nil && gotLast != tc.wantLast {
				t.Fatalf("LoadRevocations last = %d, want %d", gotLast, tc.wantLast)
			}
			// An append afterwards takes the next revision, never one the
			// import used.
			r, err := s.AppendRevocation(ctx, live(2000))
			if err != nil {
				t.Fatalf("AppendRevocation after import: %v", err)
			}
			if r.Rev != gotLast+1 {
				t.Fatalf("next append got revision %d, want %d", r.Rev, gotLast+1)
			}
		})
	}
}

// Imported entries keep every field, so the loaded view revokes exactly
// what was imported.
func TestImportRevocationsRoundTrip(t *testing.T) {
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	want := []store.Revocation{
		{Kind: store.RevokeJTI, Value: "a", At: now, ExpiresAt: now.Add(time.Hour), Actor: "x", Reason: "leaked"},
		{Kind: store.RevokeKeyTokens, Value: "key-1", Before: now, At: now, Actor: "y"},
		{Kind: store.RevokeSubjectTokens, Value: "spiffe://a/b", Before: now.Add(-time.Second), At: now, ExpiresAt: now.Add(2 * time.Hour)},
		{Kind: store.RevokeSigningKeyTokens, Value: "kid-1", At: now},
	}
	dir, key := t.TempDir(), newKey(t)
	s, err := Open(Options{Dir: dir, EncryptionKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ImportRevocations(ctx, len(want), func(i int) store.Revocation { return want[i] }); err != nil {
		t.Fatalf("ImportRevocations: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, Options{Dir: dir, EncryptionKey: key})
	got, last, err := s.LoadRevocations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if last != uint64(len(want)) || len(got) != len(want) {
		t.Fatalf("loaded %d entries, last %d; want %d", len(got), last, len(want))
	}
	for i := range want {
		w := want[i]
		w.Rev = uint64(i + 1)
		g := got[i]
		if g.Rev != w.Rev || g.Kind != w.Kind || g.Value != w.Value || !g.Before.Equal(w.Before) ||
			!g.At.Equal(w.At) || !g.ExpiresAt.Equal(w.ExpiresAt) || g.Actor != w.Actor || g.Reason != w.Reason {
			t.Errorf("entry %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestImportRevocationsRefused(t *testing.T) {
	gen := func(int) store.Revocation { return store.Revocation{Kind: store.RevokeJTI, Value: "j"} }
	t.Run("closed store", func(t *testing.T) {
		s, err := Open(Options{InMemory: true, EncryptionKey: newKey(t)})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if _, err := s.ImportRevocations(context.Background(), 1, gen); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("error = %v, want ErrUnavailable", err)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		s := mustOpen(t, Options{InMemory: true, EncryptionKey: newKey(t)})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.ImportRevocations(ctx, 1, gen); !errors.Is(err, context.Canceled) {
			t.Fatalf("error = %v, want context.Canceled", err)
		}
		if _, last, _ := s.LoadRevocations(context.Background()); last != 0 {
			t.Fatalf("counter moved to %d", last)
		}
	})
}
