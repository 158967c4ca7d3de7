package ratelimit

import (
	"math"
	"time"
)

// bucket is a token bucket held by value. It contains no pointers, so a map
// of thousands of them is one allocation the garbage collector never scans.
//
// Times are int64 nanoseconds on the owner's clock (see ticks). The
// arithmetic repeats golang.org/x/time/rate's Limiter step for step, float
// operation for float operation, so decisions and token counts are the ones
// that package would give; the tests hold it to that.
type bucket struct {
	limit  Limit
	tokens float64
	// last is when tokens was computed. Refill is credited from here. As in
	// x/time/rate, an update at a time before last moves last back, so a
	// later call credits that stretch again; owners read their clock under
	// the lock that orders their updates, which keeps times from going back.
	last int64
}

// newBucket returns a full bucket; l must be valid.
func newBucket(l Limit, now int64) bucket {
	return bucket{limit: l, tokens: float64(l.Burst), last: now}
}

// unlimitedRate is the rate x/time/rate treats as infinite: such a bucket
// admits every call and never spends a token. Valid accepts it, so it keeps
// that meaning here.
const unlimitedRate = math.MaxFloat64

// tokensAt is what the bucket holds at now, without changing it: the stored
// tokens plus the refill since last, capped at Burst. A now before last adds
// nothing rather than taking tokens away.
//
// The sum cannot become NaN: the rate is finite and positive and the elapsed
// seconds finite and non-negative, so the refill is at worst +Inf, which the
// cap turns into Burst; stored tokens are never -Inf because a call is only
// admitted when the deficit it leaves is less than a nanosecond's refill.
func (b *bucket) tokensAt(now int64) float64 {
	tokens := b.tokens + elapsed(now, b.last).Seconds()*b.limit.PerSecond
	if burst := float64(b.limit.Burst); tokens > burst {
		tokens = burst
	}
	return tokens
}

// allow takes one token at now if the bucket can give it.
//
// Like x/time/rate, it admits a call whose wait for the missing fraction of a
// token truncates to zero nanoseconds, so the bucket may dip below zero by
// less than one nanosecond of refill. Admitting only at a whole token would
// be stricter by that nanosecond and, with rates above a billion a second,
// by whole tokens; matching keeps every decision the package made when it
// was built on x/time/rate.
func (b *bucket) allow(now int64) bool {
	if b.limit.PerSecond == unlimitedRate {
		return true
	}
	tokens := b.tokensAt(now) - 1
	if tokens < 0 && -tokens/b.limit.PerSecond*float64(time.Second) >= 1 {
		return false
	}
	b.tokens, b.last = tokens, now
	return true
}

// setRate brings the bucket to now at its old rate, then switches rate.
func (b *bucket) setRate(now int64, perSecond float64) {
	b.tokens, b.last = b.tokensAt(now), now
	b.limit.PerSecond = perSecond
}

// setBurst brings the bucket to now at its old burst, then switches burst. A
// lower burst caps the stored tokens at the next tokensAt, which every read
// goes through.
func (b *bucket) setBurst(now int64, burst int) {
	b.tokens, b.last = b.tokensAt(now), now
	b.limit.Burst = burst
}

// adopt switches b to l, keeping the tokens it holds at now. Refill up to now
// is credited at the old rate before the new one applies.
func (b *bucket) adopt(l Limit, now int64) {
	if l.PerSecond != b.limit.PerSecond {
		b.setRate(now, l.PerSecond)
	}
	if l.Burst != b.limit.Burst {
		b.setBurst(now, l.Burst)
	}
}

// take consumes one token at now if there is one.
func (b *bucket) take(now int64) Decision {
	if b.allow(now) {
		return Decision{OK: true, Limit: b.limit}
	}
	return Decision{RetryAfter: b.waitForOne(now), Limit: b.limit}
}

// waitForOne is how long after now the bucket will hold one whole token.
func (b *bucket) waitForOne(now int64) time.Duration {
	missing := 1 - b.tokensAt(now)
	secs := missing / b.limit.PerSecond
	if secs >= maxRetryAfter.Seconds() {
		return maxRetryAfter
	}
	d := time.Duration(math.Ceil(secs * float64(time.Second)))
	if d < 1 {
		d = 1
	}
	// The refill is float arithmetic, which can leave the bucket a hair short
	// of one token at exactly now+d. Nudge d forward until the bucket itself
	// agrees, so a caller that waits exactly RetryAfter is admitted rather
	// than told to wait another nanosecond.
	for step := time.Duration(1); step < time.Millisecond && b.tokensAt(addTicks(now, d)) < 1; step *= 2 {
		d += step
	}
	return d
}

// full reports whether the bucket holds Burst tokens at now, i.e. whether
// replacing it with a new bucket would change nothing.
func (b *bucket) full(now int64) bool {
	return b.tokensAt(now) >= float64(b.limit.Burst)
}

// untilFull is how many seconds the bucket needs to refill completely.
func (b *bucket) untilFull(now int64) float64 {
	return (float64(b.limit.Burst) - b.tokensAt(now)) / b.limit.PerSecond
}

// ticks turns t into nanoseconds since epoch. Subtracting time.Time values
// uses their monotonic readings when both have one, as time.Now's do, so a
// step of the wall clock neither refills nor freezes every bucket; Unix
// nanoseconds would lose that. Sub saturates rather than wrapping.
func ticks(t, epoch time.Time) int64 {
	return int64(t.Sub(epoch))
}

// elapsed is the time from then to now: zero if now is not after then, and
// saturating rather than wrapping when they are centuries apart.
func elapsed(now, then int64) time.Duration {
	if now <= then {
		return 0
	}
	if d := time.Duration(now - then); d > 0 {
		return d
	}
	return math.MaxInt64
}

// addTicks is now+d for a non-negative d, saturating instead of wrapping.
func addTicks(now int64, d time.Duration) int64 {
	if sum := now + int64(d); sum >= now {
		return sum
	}
	return math.MaxInt64
}
