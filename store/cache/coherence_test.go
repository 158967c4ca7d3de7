package cache_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/latchkeyhq/latchkey/store"
)

// A read that fetched the old record before an update finished must not
// put it in the cache once the update has returned.
func TestReadInFlightDuringUpdateIsNotCached(t *testing.T) {
	ctx := context.Background()
	c, inner := newCache(t, 0)
	mustCreate(t, c, "k")
	fetched, release := inner.holdNextRead()
	stale := make(chan store.KeyRecord)
	go func() {
		rec, _ := c.GetHotKey(ctx, "k")
		stale <- rec
	}()
	<-fetched
	if _, err := c.UpdateKey(ctx, "k", func(r *store.KeyRecord) error {
		r.Owner = "new-owner"
		return nil
	}); err != nil {
		t.Fatalf("UpdateKey: %v", err)
	}
	close(release)
	if rec := <-stale; rec.Owner != "team" {
		t.Fatalf("the held read returned %q, want the old owner (it fetched before the update)", rec.Owner)
	}
	if got := mustHot(t, c, "k"); got.Owner != "new-owner" {
		t.Fatalf("GetHotKey after UpdateKey returned = %q, want new-owner", got.Owner)
	}
}

func TestConcurrentReadersNeverSeeStaleAfterUpdate(t *testing.T) {
	ctx := context.Background()
	c, _ := newCache(t, 0)
	mustCreate(t, c, "k")
	const updates, readers = 200, 4
	var (
		published atomic.Int64 // the highest version whose UpdateKey returned
		done      = make(chan struct{})
		wg        sync.WaitGroup
		failures  = make(chan string, readers)
	)
	for range readers {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				min := published.Load()
				rec, err := c.GetHotKey(ctx, "k")
				if err != nil {
					failures <- err.Error()
					return
				}
				got, _ := strconv.ParseInt(rec.Owner, 10, 64)
				if got < min {
					failures <- fmt.Sprintf("read version %d after version %d was stored", got, min)
					return
				}
			}
		})
	}
	for i := int64(1); i <= updates; i++ {
		if _, err := c.UpdateKey(ctx, "k", func(r *store.KeyRecord) error {
			r.Owner = strconv.FormatInt(i, 10)
			return nil
		}); err != nil {
			t.Fatalf("UpdateKey: %v", err)
		}
		published.Store(i)
	}
	close(done)
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
}

func TestClosedCacheIsUnavailable(t *testing.T) {
	c, _ := newCache(t, 0)
	mustCreate(t, c, "k")
	mustHot(t, c, "k")
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := c.GetHotKey(context.Background(), "k"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("GetHotKey of a cached id after Close = %v, want ErrUnavailable", err)
	}
	if _, err := c.GetKey(context.Background(), "k"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("GetKey after Close = %v, want ErrUnavailable", err)
	}
	if n := c.Len(); n != 0 {
		t.Fatalf("Len after Close = %d, want 0", n)
	}
}
