package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/latchkeyhq/latchkey/store"
)

func runUpdateKey(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()

	t.Run("changes are returned and stored", func(t *testing.T) {
		s := open(t)
		mustCreate(t, s, base("k"))
		want := base("k")
		want.State = store.KeyStateRevoked
		want.RevocationReason = store.ReasonCompromised
		want.RevokedAt = want.CreatedAt.Add(1)
		want.Labels["extra"] = "x"
		got, err := s.UpdateKey(ctx, "k", func(r *store.KeyRecord) error {
			r.State = store.KeyStateRevoked
			r.RevocationReason = store.ReasonCompromised
			r.RevokedAt = r.CreatedAt.Add(1)
			r.Labels["extra"] = "x"
			return nil
		})
		if err != nil {
			t.Fatalf("UpdateKey: %v", err)
		}
		assertKey(t, got, want)
		assertKey(t, mustGet(t, s, "k"), want)
	})

	errVeto := errors.New("caller says no")
	cases := []struct {
		name    string
		id      string
		fn      func(*store.KeyRecord) error
		wantErr error
		exact   bool // the error must be the very value fn returned
	}{
		{"fn error is returned as is", "k", func(r *store.KeyRecord) error {
			r.Owner = "changed before failing"
			return errVeto
		}, errVeto, true},
		{"wrapped fn error is returned as is", "k", func(*store.KeyRecord) error {
			return fmt.Errorf("context: %w", errVeto)
		}, errVeto, false},
		{"fn may not change the id", "k", func(r *store.KeyRecord) error {
			r.ID = "other"
			return nil
		}, store.ErrInvalidArgument, false},
		{"fn may not store an invalid state", "k", func(r *store.KeyRecord) error {
			r.State = store.KeyStateUnspecified
			return nil
		}, store.ErrInvalidArgument, false},
		{"missing id", "absent", func(*store.KeyRecord) error {
			panic("fn must not run for a missing record")
		}, store.ErrNotFound, false},
		{"empty id", "", func(*store.KeyRecord) error {
			panic("fn must not run for an invalid id")
		}, store.ErrInvalidArgument, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			mustCreate(t, s, base("k"))
			got, err := s.UpdateKey(ctx, tc.id, tc.fn)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("UpdateKey = %v, want %v", err, tc.wantErr)
			}
			if tc.exact && err != tc.wantErr { // identity, not errors.Is, is the promise
				t.Fatalf("UpdateKey returned %#v, want fn's error value itself", err)
			}
			if got.ID != "" {
				t.Fatalf("failed UpdateKey returned a record: %+v", got)
			}
			assertKey(t, mustGet(t, s, "k"), base("k"))
		})
	}

	t.Run("concurrent updates are not lost", func(t *testing.T) {
		const workers, perWorker = 32, 8
		s := open(t)
		rec := base("counter")
		rec.Scopes = nil
		mustCreate(t, s, rec)
		var wg sync.WaitGroup
		errs := make(chan error, workers*perWorker)
		for w := range workers {
			wg.Go(func() {
				for i := range perWorker {
					_, err := s.UpdateKey(ctx, "counter", func(r *store.KeyRecord) error {
						r.Scopes = append(r.Scopes, fmt.Sprintf("w%02d-%d", w, i))
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
			t.Fatalf("UpdateKey: %v", err)
		}
		got := mustGet(t, s, "counter").Scopes
		var want []string
		for w := range workers {
			for i := range perWorker {
				want = append(want, fmt.Sprintf("w%02d-%d", w, i))
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("after %d updates the record holds %d entries; lost or duplicated updates",
				len(want), len(got))
		}
	})
}
