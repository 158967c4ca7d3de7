package ratelimit

import (
	"runtime"
	"strconv"
	"testing"
	"time"
	"unsafe"
)

// A flood of distinct attacker-chosen keys must leave memory bounded by
// MaxKeys, not by the number of keys seen.
func TestKeyedMillionKeysStayBounded(t *testing.T) {
	const (
		maxKeys   = 10_000
		keyPrefix = "flood-key-"
		idleAfter = time.Second
	)
	lim := Limit{PerSecond: 10, Burst: 3}
	tests := []struct {
		name  string
		flood int
		// tick is how far the clock moves per call.
		tick time.Duration
		// wantIdle reports whether evictions are of idle buckets (the clock
		// moves on, so old flood buckets refill and go idle) or all under
		// pressure (the clock stands still, so no bucket ever refills).
		wantIdle bool
	}{
		{"a million keys, clock stands still", 1_000_000, 0, false},
		{"a quarter million keys, clock moves a millisecond per call", 250_000, time.Millisecond, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)

			k := NewKeyed(KeyedConfig{MaxKeys: maxKeys, IdleAfter: idleAfter, Now: clk.Now})
			buf := make([]byte, 0, 32)
			for i := range tc.flood {
				buf = strconv.AppendInt(append(buf[:0], keyPrefix...), int64(i), 10)
				if d := k.Allow(string(buf), lim); !d.OK {
					t.Fatalf("key %d: got %+v, want a fresh bucket to allow", i, d)
				}
				if i%1000 == 0 {
					if n := k.Len(); n > maxKeys {
						t.Fatalf("after %d keys Len = %d, want <= %d", i+1, n, maxKeys)
					}
				}
				clk.Advance(tc.tick)
			}

			runtime.GC()
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)

			// What one tracked bucket may cost: a map slot (the key's hash
			// and the entry, held inline; keys are not kept) counted twice
			// for the map's spare capacity and control bytes; then doubled
			// for allocator size classes. The fixed part covers the shards
			// and runtime noise.
			perKey := 2 * (unsafe.Sizeof(uint64(0)) + unsafe.Sizeof(entry{}))
			bound := int64(2*perKey*maxKeys) + 1<<20
			// The bound is only meaningful if keeping every key would
			// break it several times over.
			if unbounded := int64(perKey * uintptr(tc.flood)); bound*5 > unbounded {
				t.Fatalf("bound %d bytes is too loose against %d for all keys", bound, unbounded)
			}
			if growth > bound {
				t.Fatalf("heap grew by %d bytes after %d keys, want <= %d (MaxKeys %d)", growth, tc.flood, bound, maxKeys)
			}
			t.Logf("heap growth %d bytes, bound %d", growth, bound)

			n := k.Len()
			if n > maxKeys {
				t.Fatalf("Len = %d, want <= %d", n, maxKeys)
			}
			idle, pressure := k.Evicted()
			if idle+pressure != uint64(tc.flood-n) {
				t.Fatalf("Evicted = (%d, %d) with Len %d, want them to account for all %d keys", idle, pressure, n, tc.flood)
			}
			if tc.wantIdle && pressure != 0 {
				t.Fatalf("pressure evictions = %d, want 0 when old buckets go idle", pressure)
			}
			if !tc.wantIdle && (idle != 0 || n != maxKeys) {
				t.Fatalf("Evicted idle = %d with Len %d, want 0 idle and a full limiter", idle, n)
			}
			runtime.KeepAlive(k)
		})
	}
}
