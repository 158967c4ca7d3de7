package cache_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/store"
	"github.com/latchkeyhq/latchkey/store/cache"
)

// generated answers every GetKey with a record shaped like a production
// key's: a 12-character id, a 32-byte secret hash, and an owner, scopes,
// an audience and a bound identity that every key shares.
type generated struct{ store.Store }

func (generated) GetKey(_ context.Context, id string) (store.KeyRecord, error) {
	hash := make([]byte, 32)
	copy(hash, id)
	return store.KeyRecord{ID: id, Owner: "bench-team", State: store.KeyStateActive, SecretHash: hash,
		Scopes: []string{"demo.read", "demo.write"}, Audiences: []string{"demo-api"},
		BoundIdentities: []string{"spiffe://latchkey.dev/workload/demo"},
		CreatedAt:       time.Unix(1_700_000_000, 123), ExpiresAt: time.Unix(1_800_000_000, 0),
		MaxTTL: 15 * time.Minute, RateLimit: store.RateLimit{PerSecond: 50, Burst: 100}}, nil
}

func (generated) Close() error { return nil }

// The cache is the server's largest per-key structure: a hundred thousand
// cached keys must not cost more than about twenty megabytes.
func TestCacheBytesPerKey(t *testing.T) {
	const n = 50_000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("k%011d", i)
	}
	c := cache.New(generated{}, n)
	defer c.Close()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, id := range ids {
		if rec, err := c.GetHotKey(context.Background(), id); err != nil || rec.ID != id {
			t.Fatalf("GetHotKey(%s) = %v, %v", id, rec.ID, err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(ids)
	if c.Len() != n {
		t.Fatalf("%d keys cached, want %d", c.Len(), n)
	}
	perKey := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
	t.Logf("%.0f bytes per cached key", perKey)
	if perKey > 200 {
		t.Fatalf("%.0f bytes per cached key, want at most 200", perKey)
	}
}
