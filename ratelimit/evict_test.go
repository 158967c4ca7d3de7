package ratelimit

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// sweepAll runs the periodic sweep on every shard at once.
func sweepAll(k *Keyed) {
	for i := range k.shards {
		s := &k.shards[i]
		s.mu.Lock()
		s.sweep(k.ticks(), k.idleAfter)
		s.mu.Unlock()
	}
}

// With MaxKeys 1 there is a single one-slot shard, so inserting a second key
// must evict the first, and the counters say which kind of eviction it was.
func TestKeyedEvictionKind(t *testing.T) {
	const idleAfter = time.Minute
	tests := []struct {
		name         string
		lim          Limit
		calls        int
		advance      time.Duration
		wantIdle     uint64
		wantPressure uint64
	}{
		{"full and untouched for IdleAfter is idle", Limit{PerSecond: 10, Burst: 2}, 2, idleAfter, 1, 0},
		{"full and untouched for longer is idle", Limit{PerSecond: 10, Burst: 2}, 1, time.Hour, 1, 0},
		{"untouched but still refilling is not idle", Limit{PerSecond: 1.0 / 3600, Burst: 2}, 1, 2 * idleAfter, 0, 1},
		{"full but touched recently is not idle", Limit{PerSecond: 1000, Burst: 2}, 2, idleAfter - time.Nanosecond, 0, 1},
		{"refill ends exactly at IdleAfter", Limit{PerSecond: 1.0 / 30, Burst: 2}, 2, idleAfter, 1, 0},
		{"refill ends just after IdleAfter", Limit{PerSecond: 1.0 / 30, Burst: 2}, 2, idleAfter - time.Nanosecond, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			k := NewKeyed(KeyedConfig{MaxKeys: 1, IdleAfter: idleAfter, Now: clk.Now})
			for range tc.calls {
				k.Allow("first", tc.lim)
			}
			clk.Advance(tc.advance)
			if d := k.Allow("second", tc.lim); !d.OK {
				t.Fatalf("second key: got %+v, want OK", d)
			}
			if idle, pressure := k.Evicted(); idle != tc.wantIdle || pressure != tc.wantPressure {
				t.Fatalf("Evicted = (%d, %d), want (%d, %d)", idle, pressure, tc.wantIdle, tc.wantPressure)
			}
			if got := k.Len(); got != 1 {
				t.Fatalf("Len = %d, want 1", got)
			}
		})
	}
}

func TestKeyedSweepDropsOnlyIdleFullBuckets(t *testing.T) {
	const idleAfter = time.Minute
	fast := Limit{PerSecond: 100, Burst: 5}       // full again 50ms after use
	slow := Limit{PerSecond: 1.0 / 600, Burst: 2} // one token per 10 minutes
	tests := []struct {
		name     string
		lim      Limit
		calls    int
		advance  time.Duration
		wantKept bool
	}{
		{"never used past one call, long idle", fast, 1, 2 * idleAfter, false},
		{"exhausted, refilled, long idle", fast, 5, 2 * idleAfter, false},
		{"refilled but touched within IdleAfter", fast, 5, idleAfter / 2, true},
		{"untouched past IdleAfter but still refilling", slow, 2, 2 * idleAfter, true},
		{"untouched until just before full", slow, 2, 20*time.Minute - time.Second, true},
		{"untouched until full", slow, 2, 20 * time.Minute, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			k := NewKeyed(KeyedConfig{MaxKeys: 1000, IdleAfter: idleAfter, Now: clk.Now})
			for range tc.calls {
				k.Allow("key", tc.lim)
			}
			clk.Advance(tc.advance)
			sweepAll(k)
			wantLen, wantIdle := 0, uint64(1)
			if tc.wantKept {
				wantLen, wantIdle = 1, 0
			}
			if got := k.Len(); got != wantLen {
				t.Fatalf("Len after sweep = %d, want %d", got, wantLen)
			}
			if idle, pressure := k.Evicted(); idle != wantIdle || pressure != 0 {
				t.Fatalf("Evicted = (%d, %d), want (%d, 0)", idle, pressure, wantIdle)
			}
		})
	}
}

// Dropping idle buckets must be invisible: a limiter that sweeps after every
// call, with the shortest possible IdleAfter, makes exactly the decisions of
// one that never evicts. If eviction ever dropped a bucket that was not full,
// the evicting limiter would admit a call the other refuses.
func TestKeyedIdleEvictionNeverGrantsMore(t *testing.T) {
	limits := []Limit{
		{PerSecond: 1, Burst: 1},
		{PerSecond: 2.5, Burst: 4},
		{PerSecond: 0.1, Burst: 3},
		{PerSecond: 40, Burst: 10},
	}
	advances := []time.Duration{0, 0, 0, 0, time.Millisecond, 90 * time.Millisecond, 400 * time.Millisecond, time.Second, 45 * time.Second}
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, seed))
			clk := newFakeClock()
			evicting := NewKeyed(KeyedConfig{MaxKeys: 1000, IdleAfter: time.Nanosecond, Now: clk.Now})
			keeping := NewKeyed(KeyedConfig{MaxKeys: 1000, IdleAfter: 1000 * time.Hour, Now: clk.Now})
			var refused int
			for i := range 10_000 {
				clk.Advance(advances[rng.IntN(len(advances))])
				n := rng.IntN(8)
				key, lim := fmt.Sprintf("key-%d", n), limits[n%len(limits)]
				got, want := evicting.Allow(key, lim), keeping.Allow(key, lim)
				if got != want {
					t.Fatalf("call %d on %s: evicting limiter decided %+v, non-evicting %+v", i, key, got, want)
				}
				if !want.OK {
					refused++
				}
				sweepAll(evicting)
			}
			idle, _ := evicting.Evicted()
			if idle < 500 || refused < 500 {
				t.Fatalf("idle evictions %d, refusals %d: the sequence did not exercise both", idle, refused)
			}
		})
	}
}

// Under pressure the victim is the sampled bucket that would be full soonest,
// so a flood of fresh keys evicts its own buckets before an exhausted one:
// flooding does not reset the bucket of the key under attack.
func TestKeyedPressureEvictionSparesExhaustedBucket(t *testing.T) {
	tests := []struct {
		name    string
		maxKeys int
		flood   int
	}{
		{"two per shard", 128, 20_000},
		{"ten per shard", 640, 100_000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lim := Limit{PerSecond: 1.0 / 3600, Burst: 5}
			clk := newFakeClock()
			k := NewKeyed(KeyedConfig{MaxKeys: tc.maxKeys, Now: clk.Now})
			for range lim.Burst {
				k.Allow("target", lim)
			}
			for i := range tc.flood {
				k.Allow(fmt.Sprintf("flood-%d", i), lim)
			}
			if d := k.Allow("target", lim); d.OK {
				t.Fatal("target after the flood: got OK, want still refused")
			}
			if got := k.Len(); got != tc.maxKeys {
				t.Fatalf("Len = %d, want %d", got, tc.maxKeys)
			}
			if idle, pressure := k.Evicted(); idle != 0 || pressure != uint64(tc.flood+1-tc.maxKeys) {
				t.Fatalf("Evicted = (%d, %d), want (0, %d)", idle, pressure, tc.flood+1-tc.maxKeys)
			}
		})
	}
}
