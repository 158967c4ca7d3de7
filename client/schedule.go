package client

import (
	"time"
)

// Retry and refresh timing.
const (
	backoffInitial = 200 * time.Millisecond
	backoffMax     = 30 * time.Second
	// A token is refreshed once 20% of its lifetime remains, give or take 5%
	// of the lifetime, so a fleet started together does not refresh together.
	refreshAtPercent     = 80
	refreshJitterPercent = 5
	// exchangeTimeout bounds one ExchangeToken call that nobody is waiting
	// for any more, so a silent server cannot pin the single flight forever.
	exchangeTimeout = 15 * time.Second
)

// clock is the time source of the refresher. Tests substitute one that only
// moves when told to.
type clock interface {
	Now() time.Time
	// Timer returns a channel that receives once d has passed and a function
	// that releases the timer early.
	Timer(d time.Duration) (<-chan time.Time, func())
}

type systemClock struct{ now func() time.Time }

func (c systemClock) Now() time.Time { return c.now() }

func (systemClock) Timer(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

// randN returns a uniform value in [0, n); n > 0.
type randN func(n int64) int64

// backoff is the wait after the given number of consecutive failures (>= 1):
// full jitter over a step that starts at 200 ms and doubles up to 30 s.
func backoff(failures int, rnd randN) time.Duration {
	step := backoffInitial
	for i := 1; i < failures && step < backoffMax; i++ {
		step *= 2
	}
	step = min(step, backoffMax)
	return time.Duration(rnd(int64(step) + 1))
}

// refreshAfter is how long after receipt a token with the given lifetime is
// refreshed: at 80% of the lifetime, jittered by +-5% of it.
func refreshAfter(lifetime time.Duration, rnd randN) time.Duration {
	if lifetime <= 0 {
		return 0
	}
	pct := lifetime / 100
	low := pct * (refreshAtPercent - refreshJitterPercent)
	return low + time.Duration(rnd(int64(pct)*2*refreshJitterPercent+1))
}
