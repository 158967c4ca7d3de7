package ratelimit

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// refBucket is the bucket as the package built it on x/time/rate, kept as the
// reference the pointer-free bucket must match.
type refBucket struct {
	tb    *rate.Limiter
	limit Limit
}

func newRefBucket(l Limit) refBucket {
	return refBucket{tb: rate.NewLimiter(rate.Limit(l.PerSecond), l.Burst), limit: l}
}

func (r *refBucket) adopt(l Limit, now time.Time) {
	if l.PerSecond != r.limit.PerSecond {
		r.tb.SetLimitAt(now, rate.Limit(l.PerSecond))
	}
	if l.Burst != r.limit.Burst {
		r.tb.SetBurstAt(now, l.Burst)
	}
	r.limit = l
}

func (r *refBucket) take(now time.Time) Decision {
	if r.tb.AllowN(now, 1) {
		return Decision{OK: true, Limit: r.limit}
	}
	return Decision{RetryAfter: r.waitForOne(now), Limit: r.limit}
}

func (r *refBucket) waitForOne(now time.Time) time.Duration {
	secs := (1 - r.tb.TokensAt(now)) / r.limit.PerSecond
	if secs >= maxRetryAfter.Seconds() {
		return maxRetryAfter
	}
	d := time.Duration(math.Ceil(secs * float64(time.Second)))
	if d < 1 {
		d = 1
	}
	for step := time.Duration(1); step < time.Millisecond && r.tb.TokensAt(now.Add(d)) < 1; step *= 2 {
		d += step
	}
	return d
}

// bucketOp is one step of a differential run: move the clock (possibly
// backwards), optionally switch limit, then either take a token or only read
// the bucket as Peek does.
type bucketOp struct {
	step  time.Duration
	limit Limit // the zero Limit keeps the current one
	take  bool
}

// clockBound keeps a run's clock within 150 years either side of its start:
// far enough apart for differences to saturate time.Duration, near enough
// that a wait of maxRetryAfter beyond it still fits in int64 nanoseconds,
// as it does for any limiter that has run for less than 190 years.
const clockBound = 150 * 365 * 24 * time.Hour

// moveClock is offset+step held within ±clockBound; both are within it, so
// the sum cannot overflow.
func moveClock(offset, step time.Duration) time.Duration {
	step = min(max(step, -clockBound), clockBound)
	return min(max(offset+step, -clockBound), clockBound)
}

// diffBucket runs ops on a bucket and on the reference from the same start
// and fails on the first decision, wait or token count that differs.
func diffBucket(t *testing.T, start Limit, ops []bucketOp) {
	t.Helper()
	epoch := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	var offset time.Duration
	got, want := newBucket(start, 0), newRefBucket(start)
	for i, op := range ops {
		offset = moveClock(offset, op.step)
		at := epoch.Add(offset)
		now := ticks(at, epoch)
		if op.limit != (Limit{}) {
			got.adopt(op.limit, now)
			want.adopt(op.limit, at)
		}
		var gd, wd Decision
		if op.take {
			gd, wd = got.take(now), want.take(at)
		} else {
			gd = Decision{OK: got.tokensAt(now) >= 1, Limit: got.limit}
			wd = Decision{OK: want.tb.TokensAt(at) >= 1, Limit: want.limit}
			if !wd.OK {
				gd.RetryAfter, wd.RetryAfter = got.waitForOne(now), want.waitForOne(at)
			}
		}
		if gd != wd {
			t.Fatalf("op %d %+v at %v: bucket decided %+v, x/time/rate %+v", i, op, offset, gd, wd)
		}
		gt, wt := got.tokensAt(now), want.tb.TokensAt(at)
		if math.IsNaN(gt) || math.IsInf(gt, 0) {
			t.Fatalf("op %d %+v at %v: bucket holds %v tokens", i, op, offset, gt)
		}
		if math.Abs(gt-wt) > 1e-9*max(1, math.Abs(wt)) {
			t.Fatalf("op %d %+v at %v: bucket holds %v tokens, x/time/rate %v", i, op, offset, gt, wt)
		}
	}
}

// diffLimits mixes everyday limits, some differing only in burst, with the
// float edges: burst 1, bursts too large to count in a float exactly, rates
// so high a nanosecond refills everything, rates so low a century refills
// nothing, and the largest finite rate, which x/time/rate treats as
// unlimited.
var diffLimits = []Limit{
	{PerSecond: 10, Burst: 5},
	{PerSecond: 10, Burst: 1},
	{PerSecond: 10, Burst: 50},
	{PerSecond: 1, Burst: 1},
	{PerSecond: 1, Burst: 4},
	{PerSecond: 0.5, Burst: 3},
	{PerSecond: 3, Burst: 7},
	{PerSecond: 1000, Burst: 1},
	{PerSecond: 1.0 / 3600, Burst: 2},
	{PerSecond: 1e-9, Burst: 1},
	{PerSecond: 1e-300, Burst: 1},
	{PerSecond: 1e9, Burst: 1 << 30},
	{PerSecond: 1e12, Burst: 1},
	{PerSecond: 1e300, Burst: 4},
	{PerSecond: math.MaxFloat64, Burst: 1},
	{PerSecond: math.SmallestNonzeroFloat64, Burst: 1},
	{PerSecond: 7, Burst: math.MaxInt},
}

var diffSteps = []time.Duration{
	0, 0, 0, time.Nanosecond, 3 * time.Nanosecond, time.Microsecond,
	time.Millisecond, 90 * time.Millisecond, time.Second, time.Minute,
	time.Hour, 30 * 24 * time.Hour, 10 * 365 * 24 * time.Hour, 150 * 365 * 24 * time.Hour,
}

func TestBucketMatchesRate(t *testing.T) {
	tests := []struct {
		name string
		seed uint64
		// backwards is the share of steps that move the clock back.
		backwards float64
		// change is the share of steps that switch to another limit.
		change float64
	}{
		{"steady limit, clock only forwards", 1, 0, 0},
		{"limit changes, clock only forwards", 2, 0, 0.2},
		{"limit changes often", 3, 0, 0.6},
		{"clock sometimes goes back", 4, 0.15, 0.2},
		{"clock often goes back", 5, 0.5, 0.3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(tc.seed, 99))
			for run := range 200 {
				start := diffLimits[rng.IntN(len(diffLimits))]
				ops := make([]bucketOp, 200)
				for i := range ops {
					op := &ops[i]
					// Short steps dominate so buckets run dry; the long
					// ones still come up in every run.
					op.step = diffSteps[rng.IntN(len(diffSteps))]
					if rng.IntN(3) == 0 {
						op.step = time.Duration(rng.Int64N(int64(2 * time.Second)))
					}
					if rng.Float64() < tc.backwards {
						op.step = -op.step
					}
					if rng.Float64() < tc.change {
						op.limit = diffLimits[rng.IntN(len(diffLimits))]
					}
					op.take = rng.IntN(5) != 0
				}
				t.Run("", func(t *testing.T) {
					defer func() {
						if t.Failed() {
							t.Logf("run %d started at %+v", run, start)
						}
					}()
					diffBucket(t, start, ops)
				})
			}
		})
	}
}

// FuzzBucketMatchesRate drives a bucket and x/time/rate with the same two
// limits and the same script: each pair of script bytes is one step, the
// first choosing the clock step and its sign, a limit switch and whether to
// take, the second scaling the step.
func FuzzBucketMatchesRate(f *testing.F) {
	f.Add(10.0, 5, 1.0, 1, []byte{0x12, 1, 0x22, 7, 0x45, 200, 0x0f, 3})
	f.Fuzz(func(t *testing.T, rateA float64, burstA int, rateB float64, burstB int, script []byte) {
		a, b := Limit{PerSecond: rateA, Burst: burstA}, Limit{PerSecond: rateB, Burst: burstB}
		if !a.Valid() || !b.Valid() {
			t.Skip("the buckets only ever hold valid limits")
		}
		ops := make([]bucketOp, 0, len(script)/2)
		for i := 0; i+1 < len(script); i += 2 {
			c, scale := script[i], time.Duration(script[i+1])+1
			op := bucketOp{step: diffSteps[int(c&0x0f)%len(diffSteps)], take: c&0x80 == 0}
			switch {
			case op.step == 0:
				op.step = scale
			case op.step > clockBound/scale:
				op.step = clockBound
			default:
				op.step *= scale
			}
			if c&0x10 != 0 {
				op.step = -op.step
			}
			switch (c >> 5) & 3 {
			case 1:
				op.limit = a
			case 2:
				op.limit = b
			}
			ops = append(ops, op)
		}
		diffBucket(t, a, ops)
	})
}

// The float edges, checked against exact expectations rather than the
// reference, so a bug both share would still show.
func TestBucketFloatEdges(t *testing.T) {
	const year = 365 * 24 * time.Hour
	tests := []struct {
		name       string
		lim        Limit
		takes      int           // calls at time 0
		after      time.Duration // then the clock moves on
		wantTokens float64
		wantOK     bool // one more call after the move
	}{
		{"burst 1 spent, nothing refilled", Limit{PerSecond: 1, Burst: 1}, 1, 0, 0, false},
		{"burst 1 spent, refilled after one interval", Limit{PerSecond: 1, Burst: 1}, 1, time.Second, 1, true},
		{"huge rate refills in a nanosecond", Limit{PerSecond: 1e300, Burst: 3}, 3, time.Nanosecond, 3, true},
		{"huge rate over centuries is capped, not infinite", Limit{PerSecond: 1e300, Burst: 3}, 3, 290 * year, 3, true},
		{"the longest elapsed time refills a slow bucket", Limit{PerSecond: 1e-9, Burst: 2}, 2, math.MaxInt64, 2, true},
		{"tiny rate refills nothing in a century", Limit{PerSecond: 1e-300, Burst: 1}, 1, 100 * year, 1e-300 * (100 * year).Seconds(), false},
		{"smallest rate over the longest wait", Limit{PerSecond: math.SmallestNonzeroFloat64, Burst: 1}, 1, math.MaxInt64,
			time.Duration(math.MaxInt64).Seconds() * math.SmallestNonzeroFloat64, false},
		// 2⁶³ tokens: a float64 that large cannot count down by one, and
		// must not turn into anything but itself.
		{"largest burst stays finite", Limit{PerSecond: 1, Burst: math.MaxInt}, 3, 0, float64(math.MaxInt), true},
		{"unlimited rate never spends", Limit{PerSecond: math.MaxFloat64, Burst: 1}, 1000, 0, 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBucket(tc.lim, 0)
			for i := range tc.takes {
				if !b.allow(0) {
					t.Fatalf("call %d within burst refused", i+1)
				}
			}
			now := addTicks(0, tc.after)
			if got := b.tokensAt(now); got != tc.wantTokens {
				t.Fatalf("tokensAt = %v, want %v", got, tc.wantTokens)
			}
			d := b.take(now)
			if d.OK != tc.wantOK {
				t.Fatalf("take = %+v, want OK=%v", d, tc.wantOK)
			}
			if !d.OK && (d.RetryAfter <= 0 || d.RetryAfter > maxRetryAfter) {
				t.Fatalf("refused with RetryAfter %v, want within (0, %v]", d.RetryAfter, maxRetryAfter)
			}
		})
	}
}

func TestElapsedAndAddTicks(t *testing.T) {
	tests := []struct {
		name      string
		now, then int64
		want      time.Duration
	}{
		{"forwards", 10, 3, 7},
		{"same instant", 5, 5, 0},
		{"backwards counts as none", 3, 10, 0},
		{"overflowing difference saturates", math.MaxInt64, -5, math.MaxInt64},
		{"widest difference saturates", math.MaxInt64, math.MinInt64, math.MaxInt64},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := elapsed(tc.now, tc.then); got != tc.want {
				t.Fatalf("elapsed(%d, %d) = %d, want %d", tc.now, tc.then, got, tc.want)
			}
		})
	}
	adds := []struct {
		name string
		now  int64
		d    time.Duration
		want int64
	}{
		{"plain", 10, 5, 15},
		{"from negative", -10, 5, -5},
		{"saturates", math.MaxInt64 - 2, 5, math.MaxInt64},
	}
	for _, tc := range adds {
		t.Run(tc.name, func(t *testing.T) {
			if got := addTicks(tc.now, tc.d); got != tc.want {
				t.Fatalf("addTicks(%d, %d) = %d, want %d", tc.now, tc.d, got, tc.want)
			}
		})
	}
}
