package ratelimit

import (
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
)

// BenchmarkKeyedAllow measures Allow on existing keys from parallel callers,
// spread over 10k keys as exchanges from many workloads would be.
func BenchmarkKeyedAllow(b *testing.B) {
	const nKeys = 10_000
	keys := make([]string, nKeys)
	for i := range keys {
		keys[i] = "root-key-" + strconv.Itoa(i)
	}
	tests := []struct {
		name string
		lim  Limit
	}{
		// A generous limit: almost every call is allowed.
		{"allowed", Limit{PerSecond: 1e9, Burst: 1 << 30}},
		// A tight limit: almost every call is refused and computes a wait.
		{"refused", Limit{PerSecond: 1e-3, Burst: 1}},
	}
	for _, tc := range tests {
		b.Run(tc.name, func(b *testing.B) {
			k := NewKeyed(KeyedConfig{MaxKeys: 2 * nKeys})
			for _, key := range keys {
				k.Allow(key, tc.lim)
			}
			var worker atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(worker.Add(1)) * 7919
				for pb.Next() {
					k.Allow(keys[i%nKeys], tc.lim)
					i++
				}
			})
		})
	}
}

// BenchmarkGCWithTrackedKeys measures a full garbage collection while a
// limiter tracks 100k keys: the marking work the per-key state adds to every
// cycle of the server's collector.
func BenchmarkGCWithTrackedKeys(b *testing.B) {
	const nKeys = 100_000
	k := NewKeyed(KeyedConfig{MaxKeys: 2 * nKeys})
	lim := Limit{PerSecond: 1, Burst: 2}
	for i := range nKeys {
		k.Allow("root-key-"+strconv.Itoa(i), lim)
	}
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
	}
	b.StopTimer()
	if n := k.Len(); n != nKeys {
		b.Fatalf("Len = %d, want %d", n, nKeys)
	}
}
