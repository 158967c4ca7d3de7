package ratelimit

import (
	"sync"
	"time"
)

// Global is one bucket shared by every call: a ceiling on total exchanges
// whatever key or identity they come from. It is safe for concurrent use.
type Global struct {
	now func() time.Time
	// epoch is the first reading of now; b keeps times as nanoseconds since
	// it.
	epoch time.Time

	mu sync.Mutex
	// limited is false while the limit is unlimited; b is then unused.
	limited bool
	b       bucket
}

// NewGlobal returns a Global limiter starting full at lim. A zero or invalid
// lim means unlimited. A nil now means time.Now.
func NewGlobal(lim Limit, now func() time.Time) *Global {
	if now == nil {
		now = time.Now
	}
	g := &Global{now: now, epoch: now()}
	g.SetLimit(lim)
	return g
}

// Allow takes one token, or reports how long to wait for one.
// While unlimited it always allows and the Decision's Limit is zero.
func (g *Global) Allow() Decision {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.limited {
		return Decision{OK: true}
	}
	return g.b.take(g.ticks())
}

// SetLimit changes the limit for the next call. Changing between two valid
// limits keeps the tokens currently held (capped at the new burst); turning a
// limit on after being unlimited starts a full bucket; a zero or invalid lim
// turns limiting off.
func (g *Global) SetLimit(lim Limit) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case !lim.Valid():
		g.limited, g.b = false, bucket{}
	case !g.limited:
		g.limited, g.b = true, newBucket(lim, g.ticks())
	default:
		g.b.adopt(lim, g.ticks())
	}
}

func (g *Global) ticks() int64 {
	return ticks(g.now(), g.epoch)
}
