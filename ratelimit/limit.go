package ratelimit

import (
	"math"
	"time"

	"golang.org/x/time/rate"
)

// maxRetryAfter bounds RetryAfter for absurdly slow limits, keeping the
// arithmetic below far away from time.Duration overflow.
const maxRetryAfter = 100 * 365 * 24 * time.Hour

// Limit is a token bucket: Burst tokens, refilled at PerSecond.
type Limit struct {
	PerSecond float64
	Burst     int
}

// Valid reports whether l describes a bucket that can ever admit a call:
// a positive, finite refill rate and room for at least one token.
func (l Limit) Valid() bool {
	return l.PerSecond > 0 && !math.IsInf(l.PerSecond, 1) && l.Burst >= 1
}

// Decision is the outcome of one Allow.
//
// A call refused because the bucket is empty has OK false and RetryAfter > 0:
// the wait until one token will be available, assuming no one else takes it.
// Keyed.Allow given an invalid Limit returns the zero Decision (OK false,
// RetryAfter 0): that is a configuration fault, not a rate decision, and the
// server must report it as an internal error rather than ResourceExhausted.
type Decision struct {
	OK         bool
	RetryAfter time.Duration
	Limit      Limit
}

// bucket pairs a rate.Limiter with the Limit it was configured from, so a
// changed Limit is noticed with a plain comparison and without taking the
// limiter's lock.
type bucket struct {
	tb    *rate.Limiter
	limit Limit
}

// newBucket returns a full bucket; l must be valid.
func newBucket(l Limit) bucket {
	return bucket{tb: rate.NewLimiter(rate.Limit(l.PerSecond), l.Burst), limit: l}
}

// adopt switches b to l, keeping the tokens it holds at now. Refill up to now
// is credited at the old rate before the new one applies; a lower burst caps
// the tokens on the limiter's next refill computation, which every later
// read performs.
func (b *bucket) adopt(l Limit, now time.Time) {
	if l.PerSecond != b.limit.PerSecond {
		b.tb.SetLimitAt(now, rate.Limit(l.PerSecond))
	}
	if l.Burst != b.limit.Burst {
		b.tb.SetBurstAt(now, l.Burst)
	}
	b.limit = l
}

// take consumes one token at now if there is one.
func (b *bucket) take(now time.Time) Decision {
	if b.tb.AllowN(now, 1) {
		return Decision{OK: true, Limit: b.limit}
	}
	return Decision{RetryAfter: b.waitForOne(now), Limit: b.limit}
}

// waitForOne is how long after now the bucket will hold one whole token.
func (b *bucket) waitForOne(now time.Time) time.Duration {
	missing := 1 - b.tb.TokensAt(now)
	secs := missing / b.limit.PerSecond
	if secs >= maxRetryAfter.Seconds() {
		return maxRetryAfter
	}
	d := time.Duration(math.Ceil(secs * float64(time.Second)))
	if d < 1 {
		d = 1
	}
	// The limiter refills with its own float arithmetic, which can leave it a
	// hair short of one token at exactly now+d. Nudge d forward until the
	// limiter itself agrees, so a caller that waits exactly RetryAfter is
	// admitted rather than told to wait another nanosecond.
	for step := time.Duration(1); step < time.Millisecond && b.tb.TokensAt(now.Add(d)) < 1; step *= 2 {
		d += step
	}
	return d
}

// full reports whether the bucket holds Burst tokens at now, i.e. whether
// replacing it with a new bucket would change nothing.
func (b *bucket) full(now time.Time) bool {
	return b.tb.TokensAt(now) >= float64(b.limit.Burst)
}

// untilFull is how many seconds the bucket needs to refill completely.
func (b *bucket) untilFull(now time.Time) float64 {
	return (float64(b.limit.Burst) - b.tb.TokensAt(now)) / b.limit.PerSecond
}
