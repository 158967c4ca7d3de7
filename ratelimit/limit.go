package ratelimit

import (
	"math"
	"time"
)

// maxRetryAfter bounds RetryAfter for absurdly slow limits, keeping the
// arithmetic in waitForOne far away from time.Duration overflow.
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
