package ratelimit

import (
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestGlobal(t *testing.T) {
	var (
		fiveBurst3  = Limit{PerSecond: 5, Burst: 3}
		fiveBurst1  = Limit{PerSecond: 5, Burst: 1}
		fiftyBurst3 = Limit{PerSecond: 50, Burst: 3}
		tenBurst10  = Limit{PerSecond: 10, Burst: 10}
	)
	// op advances the clock, optionally sets a new limit, then makes n
	// calls that must all end as described.
	type op struct {
		advance time.Duration
		set     *Limit
		n       int
		ok      bool
		retry   time.Duration
		limit   Limit
	}
	set := func(l Limit) *Limit { return &l }
	tests := []struct {
		name  string
		start Limit
		ops   []op
	}{
		{"burst then refill", fiveBurst3, []op{
			{n: 3, ok: true, limit: fiveBurst3},
			{n: 1, ok: false, retry: 200 * time.Millisecond, limit: fiveBurst3},
			{advance: 200 * time.Millisecond, n: 1, ok: true, limit: fiveBurst3},
			{n: 1, ok: false, retry: 200 * time.Millisecond, limit: fiveBurst3},
		}},
		{"zero limit is unlimited", Limit{}, []op{
			{n: 10_000, ok: true},
		}},
		{"invalid limit is unlimited", Limit{PerSecond: math.NaN(), Burst: 3}, []op{
			{n: 10_000, ok: true},
		}},
		{"SetLimit lower burst caps tokens", tenBurst10, []op{
			{n: 4, ok: true, limit: tenBurst10},
			{set: set(fiveBurst1), n: 1, ok: true, limit: fiveBurst1},
			{n: 1, ok: false, retry: 200 * time.Millisecond, limit: fiveBurst1},
		}},
		{"SetLimit higher rate applies to the wait", fiveBurst3, []op{
			{n: 3, ok: true, limit: fiveBurst3},
			{set: set(fiftyBurst3), n: 1, ok: false, retry: 20 * time.Millisecond, limit: fiftyBurst3},
			{advance: 60 * time.Millisecond, n: 3, ok: true, limit: fiftyBurst3},
		}},
		{"SetLimit zero turns limiting off", fiveBurst1, []op{
			{n: 1, ok: true, limit: fiveBurst1},
			{n: 1, ok: false, retry: 200 * time.Millisecond, limit: fiveBurst1},
			{set: set(Limit{}), n: 1000, ok: true},
		}},
		{"SetLimit after unlimited starts full", Limit{}, []op{
			{n: 100, ok: true},
			{set: set(fiveBurst3), n: 3, ok: true, limit: fiveBurst3},
			{n: 1, ok: false, retry: 200 * time.Millisecond, limit: fiveBurst3},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			g := NewGlobal(tc.start, clk.Now)
			for i, o := range tc.ops {
				clk.Advance(o.advance)
				if o.set != nil {
					g.SetLimit(*o.set)
				}
				for j := range o.n {
					d := g.Allow()
					if d.OK != o.ok || d.Limit != o.limit {
						t.Fatalf("op %d call %d: got %+v, want OK=%v Limit=%+v", i, j+1, d, o.ok, o.limit)
					}
					if o.ok && d.RetryAfter != 0 {
						t.Fatalf("op %d call %d: allowed with RetryAfter %v, want 0", i, j+1, d.RetryAfter)
					}
					if !o.ok && absDuration(d.RetryAfter-o.retry) > time.Nanosecond {
						t.Fatalf("op %d call %d: RetryAfter = %v, want %v", i, j+1, d.RetryAfter, o.retry)
					}
				}
			}
		})
	}
}

func TestNewGlobalNilClockUsesTimeNow(t *testing.T) {
	g := NewGlobal(Limit{PerSecond: 1, Burst: 1}, nil)
	if d := g.Allow(); !d.OK {
		t.Fatalf("first call: got %+v, want OK", d)
	}
	if d := g.Allow(); d.OK || d.RetryAfter <= 0 || d.RetryAfter > time.Second {
		t.Fatalf("second call: got %+v, want refused within 1s", d)
	}
}

func TestGlobalConcurrentCallsNeverExceedBurst(t *testing.T) {
	lim := Limit{PerSecond: 1, Burst: 53}
	clk := newFakeClock()
	g := NewGlobal(lim, clk.Now)
	var allowed atomic.Int64
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			<-start
			for c := range 20 {
				if g.Allow().OK {
					allowed.Add(1)
				}
				// Setting the same limit keeps the tokens, so it must not
				// change the total.
				if (w+c)%5 == 0 {
					g.SetLimit(lim)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if got := allowed.Load(); got != int64(lim.Burst) {
		t.Fatalf("%d calls allowed at one instant, want exactly %d", got, lim.Burst)
	}
}
