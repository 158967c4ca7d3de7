package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

func runHistory(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()
	event := func(i int) store.KeyEvent {
		return store.KeyEvent{At: epoch.Add(time.Duration(i) * time.Second), Action: "updated",
			Actor: "spiffe://example.org/admin", Detail: fmt.Sprint("event ", i)}
	}

	t.Run("a full history round trips", func(t *testing.T) {
		s := open(t)
		rec := base("full")
		rec.History = nil
		for i := range store.MaxKeyHistory {
			rec.History = append(rec.History, event(i))
		}
		mustCreate(t, s, rec)
		assertKey(t, mustGet(t, s, "full"), rec)
	})

	t.Run("AddEvent on a full history keeps the newest", func(t *testing.T) {
		s := open(t)
		rec := base("full")
		rec.History = nil
		for i := range store.MaxKeyHistory {
			rec.History = append(rec.History, event(i))
		}
		mustCreate(t, s, rec)
		for i := store.MaxKeyHistory; i < store.MaxKeyHistory+3; i++ {
			if _, err := s.UpdateKey(ctx, "full", func(r *store.KeyRecord) error {
				r.AddEvent(event(i))
				return nil
			}); err != nil {
				t.Fatalf("UpdateKey: %v", err)
			}
		}
		got := mustGet(t, s, "full").History
		if len(got) != store.MaxKeyHistory {
			t.Fatalf("history holds %d events, want %d", len(got), store.MaxKeyHistory)
		}
		for j, e := range got {
			if want := event(j + 3); e.Detail != want.Detail || !e.At.Equal(want.At) {
				t.Fatalf("history[%d] = %+v, want %+v", j, e, want)
			}
		}
	})

	t.Run("concurrent events are all kept", func(t *testing.T) {
		const workers = 40
		s := open(t)
		rec := base("busy")
		rec.History = nil
		mustCreate(t, s, rec)
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				_, err := s.UpdateKey(ctx, "busy", func(r *store.KeyRecord) error {
					r.AddEvent(event(w))
					return nil
				})
				if err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("UpdateKey: %v", err)
		}
		seen := map[string]bool{}
		for _, e := range mustGet(t, s, "busy").History {
			seen[e.Detail] = true
		}
		if len(seen) != workers {
			t.Fatalf("history holds %d distinct events, want %d", len(seen), workers)
		}
	})
}
