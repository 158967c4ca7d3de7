package ratelimit

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestKeyedBurstThenRefill(t *testing.T) {
	tests := []struct {
		name string
		lim  Limit
	}{
		{"ten per second burst five", Limit{PerSecond: 10, Burst: 5}},
		{"three per second burst seven", Limit{PerSecond: 3, Burst: 7}},
		{"one per two seconds burst one", Limit{PerSecond: 0.5, Burst: 1}},
		{"thousand per second burst three", Limit{PerSecond: 1000, Burst: 3}},
		{"seven per second burst hundred", Limit{PerSecond: 7, Burst: 100}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			k := NewKeyed(KeyedConfig{Now: clk.Now})
			for i := range tc.lim.Burst {
				if got, want := k.Allow("key", tc.lim), (Decision{OK: true, Limit: tc.lim}); got != want {
					t.Fatalf("call %d: got %+v, want %+v", i+1, got, want)
				}
			}
			d := k.Allow("key", tc.lim)
			if d.OK || d.Limit != tc.lim {
				t.Fatalf("call %d: got %+v, want a refusal under %+v", tc.lim.Burst+1, d, tc.lim)
			}
			if diff := absDuration(d.RetryAfter - perToken(tc.lim)); diff > time.Nanosecond {
				t.Fatalf("RetryAfter = %v, want %v within 1ns", d.RetryAfter, perToken(tc.lim))
			}

			// The bucket, like x/time/rate, truncates its own wait to whole
			// nanoseconds, so it may admit up to 1ns early; 2ns early must
			// still be refused.
			clk.Advance(d.RetryAfter - 2*time.Nanosecond)
			if early := k.Allow("key", tc.lim); early.OK || early.RetryAfter <= 0 || early.RetryAfter > 3*time.Nanosecond {
				t.Fatalf("2ns before RetryAfter: got %+v, want a refusal of at most 3ns", early)
			}
			clk.Advance(2 * time.Nanosecond)
			if got := k.Allow("key", tc.lim); !got.OK {
				t.Fatalf("after waiting RetryAfter: got %+v, want OK", got)
			}
			again := k.Allow("key", tc.lim)
			if again.OK {
				t.Fatalf("second call after one refill: got OK, want refused")
			}
			if diff := absDuration(again.RetryAfter - perToken(tc.lim)); diff > time.Nanosecond {
				t.Fatalf("RetryAfter after refill = %v, want %v within 1ns", again.RetryAfter, perToken(tc.lim))
			}
		})
	}
}

func TestKeyedKeysAreIndependent(t *testing.T) {
	tests := []struct {
		name string
		a, b Limit
	}{
		{"same limit", Limit{PerSecond: 1, Burst: 3}, Limit{PerSecond: 1, Burst: 3}},
		{"different limits", Limit{PerSecond: 1, Burst: 3}, Limit{PerSecond: 50, Burst: 10}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			k := NewKeyed(KeyedConfig{Now: clk.Now})
			for range tc.a.Burst {
				if d := k.Allow("A", tc.a); !d.OK {
					t.Fatalf("A within burst: got %+v", d)
				}
			}
			if d := k.Allow("A", tc.a); d.OK {
				t.Fatalf("A past burst: got OK, want refused")
			}
			for i := range tc.b.Burst {
				if d := k.Allow("B", tc.b); d != (Decision{OK: true, Limit: tc.b}) {
					t.Fatalf("B call %d while A is exhausted: got %+v", i+1, d)
				}
			}
			if d := k.Allow("A", tc.a); d.OK {
				t.Fatalf("A after B's calls: got OK, want still refused")
			}
			if got := k.Len(); got != 2 {
				t.Fatalf("Len = %d, want 2", got)
			}
		})
	}
}

// step advances the clock, then makes n calls with lim and expects each to
// have the given outcome.
type step struct {
	advance   time.Duration
	lim       Limit
	n         int
	ok        bool
	retry     time.Duration // checked within 1ns when !ok
	wantLimit Limit         // zero means lim
}

func runSteps(t *testing.T, k *Keyed, clk *fakeClock, key string, steps []step) {
	t.Helper()
	for i, s := range steps {
		clk.Advance(s.advance)
		want := s.wantLimit
		if want == (Limit{}) {
			want = s.lim
		}
		for j := range s.n {
			d := k.Allow(key, s.lim)
			if d.OK != s.ok || d.Limit != want {
				t.Fatalf("step %d call %d: got %+v, want OK=%v Limit=%+v", i, j+1, d, s.ok, want)
			}
			if !s.ok && absDuration(d.RetryAfter-s.retry) > time.Nanosecond {
				t.Fatalf("step %d call %d: RetryAfter = %v, want %v", i, j+1, d.RetryAfter, s.retry)
			}
		}
	}
}

func TestKeyedLimitChangeIsAdoptedOnNextCall(t *testing.T) {
	var (
		tenBurst10 = Limit{PerSecond: 10, Burst: 10}
		tenBurst2  = Limit{PerSecond: 10, Burst: 2}
		tenBurst1  = Limit{PerSecond: 10, Burst: 1}
		oneBurst1  = Limit{PerSecond: 1, Burst: 1}
		hundred1   = Limit{PerSecond: 100, Burst: 1}
		oneBurst10 = Limit{PerSecond: 1, Burst: 10}
		hundred10  = Limit{PerSecond: 100, Burst: 10}
	)
	tests := []struct {
		name  string
		steps []step
	}{
		{"lower rate", []step{
			{lim: tenBurst1, n: 1, ok: true},
			{lim: oneBurst1, n: 1, ok: false, retry: time.Second},
		}},
		{"higher rate", []step{
			{lim: oneBurst1, n: 1, ok: true},
			{lim: oneBurst1, n: 1, ok: false, retry: time.Second},
			{lim: hundred1, n: 1, ok: false, retry: 10 * time.Millisecond},
			{advance: 10 * time.Millisecond, lim: hundred1, n: 1, ok: true},
		}},
		{"lower burst caps the tokens held", []step{
			{lim: tenBurst10, n: 3, ok: true},
			{lim: tenBurst2, n: 2, ok: true},
			{lim: tenBurst2, n: 1, ok: false, retry: 100 * time.Millisecond},
		}},
		{"higher burst keeps the tokens held", []step{
			{lim: tenBurst2, n: 2, ok: true},
			{lim: tenBurst10, n: 1, ok: false, retry: 100 * time.Millisecond},
			{advance: time.Second, lim: tenBurst10, n: 10, ok: true},
			{lim: tenBurst10, n: 1, ok: false, retry: 100 * time.Millisecond},
		}},
		{"refill before the change is credited at the old rate", []step{
			{lim: oneBurst10, n: 10, ok: true},
			{advance: 2 * time.Second, lim: hundred10, n: 2, ok: true},
			{lim: hundred10, n: 1, ok: false, retry: 10 * time.Millisecond},
		}},
		{"back and forth", []step{
			{lim: tenBurst2, n: 2, ok: true},
			{lim: oneBurst1, n: 1, ok: false, retry: time.Second},
			{lim: tenBurst2, n: 1, ok: false, retry: 100 * time.Millisecond},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			runSteps(t, NewKeyed(KeyedConfig{Now: clk.Now}), clk, "key", tc.steps)
		})
	}
}

func TestKeyedInvalidLimitFailsClosed(t *testing.T) {
	good := Limit{PerSecond: 1, Burst: 2}
	tests := []struct {
		name string
		lim  Limit
	}{
		{"zero", Limit{}},
		{"negative rate", Limit{PerSecond: -1, Burst: 2}},
		{"NaN rate", Limit{PerSecond: math.NaN(), Burst: 2}},
		{"infinite rate", Limit{PerSecond: math.Inf(1), Burst: 2}},
		{"zero burst", Limit{PerSecond: 1, Burst: 0}},
		{"negative burst", Limit{PerSecond: 1, Burst: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			k := NewKeyed(KeyedConfig{Now: clk.Now})
			if d := k.Allow("new", tc.lim); d != (Decision{}) {
				t.Fatalf("new key: got %+v, want the zero Decision", d)
			}
			if got := k.Len(); got != 0 {
				t.Fatalf("Len after refusing an invalid limit = %d, want 0", got)
			}

			// An existing bucket is neither consumed nor reconfigured.
			if d := k.Allow("old", good); !d.OK {
				t.Fatalf("first valid call: got %+v", d)
			}
			if d := k.Allow("old", tc.lim); d != (Decision{}) {
				t.Fatalf("existing key: got %+v, want the zero Decision", d)
			}
			if d := k.Allow("old", good); d != (Decision{OK: true, Limit: good}) {
				t.Fatalf("valid call after the invalid one: got %+v, want the second token", d)
			}
			if d := k.Allow("old", good); d.OK || d.Limit != good || d.RetryAfter != time.Second {
				t.Fatalf("third call: got %+v, want refused for 1s under %+v", d, good)
			}
		})
	}
}

func TestKeyedForget(t *testing.T) {
	lim := Limit{PerSecond: 1.0 / 3600, Burst: 1}
	tests := []struct {
		name   string
		forget string
		wantOK bool
		keep   int
	}{
		{"forgotten key restarts full", "revoked", true, 1},
		{"unknown key is a no-op", "never-seen", false, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			k := NewKeyed(KeyedConfig{Now: clk.Now})
			k.Allow("revoked", lim)
			k.Allow("other", lim)
			k.Forget(tc.forget)
			if got := k.Len(); got != tc.keep {
				t.Fatalf("Len after Forget = %d, want %d", got, tc.keep)
			}
			if d := k.Allow("revoked", lim); d.OK != tc.wantOK {
				t.Fatalf("Allow after Forget: got %+v, want OK=%v", d, tc.wantOK)
			}
			if idle, pressure := k.Evicted(); idle != 0 || pressure != 0 {
				t.Fatalf("Evicted = (%d, %d), want (0, 0): Forget is not an eviction", idle, pressure)
			}
		})
	}
}

func TestNewKeyedDefaultsAndShardLimits(t *testing.T) {
	tests := []struct {
		name       string
		cfg        KeyedConfig
		wantShards int
		wantMax    int
		wantIdle   time.Duration
	}{
		{"defaults", KeyedConfig{}, 64, 100_000, 10 * time.Minute},
		{"negative values take defaults", KeyedConfig{MaxKeys: -5, IdleAfter: -time.Second}, 64, 100_000, 10 * time.Minute},
		{"one key", KeyedConfig{MaxKeys: 1, IdleAfter: time.Second}, 1, 1, time.Second},
		{"fewer keys than shards", KeyedConfig{MaxKeys: 63}, 63, 63, 10 * time.Minute},
		{"exactly one per shard", KeyedConfig{MaxKeys: 64}, 64, 64, 10 * time.Minute},
		{"uneven split", KeyedConfig{MaxKeys: 1001}, 64, 1001, 10 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := NewKeyed(tc.cfg)
			if len(k.shards) != tc.wantShards {
				t.Fatalf("shards = %d, want %d", len(k.shards), tc.wantShards)
			}
			total, lo, hi := 0, math.MaxInt, 0
			for i := range k.shards {
				l := k.shards[i].limit
				total += l
				lo, hi = min(lo, l), max(hi, l)
			}
			if total != tc.wantMax || lo < 1 || hi-lo > 1 {
				t.Fatalf("shard limits sum %d (min %d, max %d), want sum %d, each >= 1, even to within 1", total, lo, hi, tc.wantMax)
			}
			if k.idleAfter != tc.wantIdle {
				t.Fatalf("idleAfter = %v, want %v", k.idleAfter, tc.wantIdle)
			}
			if k.now == nil {
				t.Fatal("now is nil, want time.Now")
			}
		})
	}
}

func TestKeyedConcurrentCallsNeverExceedBurst(t *testing.T) {
	lim := Limit{PerSecond: 1, Burst: 37}
	tests := []struct {
		name string
		keys int
	}{
		{"one key", 1},
		{"many keys", 16},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			k := NewKeyed(KeyedConfig{MaxKeys: 1000, Now: clk.Now})
			keys := make([]string, tc.keys)
			allowed := make([]atomic.Int64, tc.keys)
			for i := range keys {
				keys[i] = fmt.Sprintf("key-%d", i)
			}

			const workers, callsPerKey = 32, 10
			start := make(chan struct{})
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					<-start
					for c := range callsPerKey * tc.keys {
						i := (w + c) % tc.keys
						if k.Allow(keys[i], lim).OK {
							allowed[i].Add(1)
						}
						// Readers and Forget of an unrelated key run
						// alongside, so -race sees every path.
						switch c % 7 {
						case 0:
							k.Len()
						case 1:
							k.Evicted()
						case 2:
							k.Forget("unrelated")
						}
					}
				})
			}
			close(start)
			wg.Wait()

			for i := range keys {
				if got := allowed[i].Load(); got != int64(lim.Burst) {
					t.Errorf("%s: %d calls allowed at one instant, want exactly %d", keys[i], got, lim.Burst)
				}
			}
			if idle, pressure := k.Evicted(); idle != 0 || pressure != 0 {
				t.Fatalf("Evicted = (%d, %d), want none below MaxKeys", idle, pressure)
			}
		})
	}
}

func TestKeyedRetryAfterForSlowLimits(t *testing.T) {
	tests := []struct {
		name string
		lim  Limit
		want time.Duration
	}{
		{"one per hour", Limit{PerSecond: 1.0 / 3600, Burst: 1}, time.Hour},
		{"one per billion seconds", Limit{PerSecond: 1e-9, Burst: 1}, 1e9 * time.Second},
		{"slower than a century is capped", Limit{PerSecond: 1e-300, Burst: 1}, maxRetryAfter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			k := NewKeyed(KeyedConfig{Now: clk.Now})
			k.Allow("key", tc.lim)
			d := k.Allow("key", tc.lim)
			if d.OK || absDuration(d.RetryAfter-tc.want) > time.Microsecond {
				t.Fatalf("got %+v, want refused with RetryAfter %v", d, tc.want)
			}
		})
	}
}

func TestKeyedPeekNeverSpends(t *testing.T) {
	clk := newFakeClock()
	k := NewKeyed(KeyedConfig{Now: clk.Now})
	lim := Limit{PerSecond: 1, Burst: 2}
	for range 5 {
		if d := k.Peek("a", lim); !d.OK {
			t.Fatalf("Peek on an unseen key = %+v, want OK", d)
		}
	}
	if k.Len() != 0 {
		t.Fatalf("Peek created %d buckets", k.Len())
	}
	k.Allow("a", lim)
	if d := k.Peek("a", lim); !d.OK {
		t.Fatalf("Peek with one token left = %+v, want OK", d)
	}
	k.Allow("a", lim)
	d := k.Peek("a", lim)
	if d.OK || d.RetryAfter != time.Second {
		t.Fatalf("Peek on an empty bucket = %+v, want refused for 1s", d)
	}
	clk.Advance(time.Second)
	if d := k.Peek("a", lim); !d.OK {
		t.Fatalf("Peek after refill = %+v, want OK", d)
	}
	if d := k.Allow("a", lim); !d.OK {
		t.Fatalf("the token Peek saw was spent: %+v", d)
	}
	if d := k.Peek("a", Limit{}); d.OK {
		t.Fatal("Peek with an invalid limit allowed")
	}
}
