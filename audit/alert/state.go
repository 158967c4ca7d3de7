package alert

import (
	"math"
	"net/netip"
	"unique"
)

// keyState is what the Detector remembers about one key.
type keyState struct {
	// idents and nets are interned: keys used by one identity, or from
	// one network, share one copy of it.
	idents known[string]
	nets   known[netip.Prefix]
	rate   rate
	// scope is allocated on the first scope denial; most keys never have one.
	scope *window

	coolIdentity, coolNetwork, coolRate, coolScope, coolFlagged cooldown
}

// identState is what the Detector remembers about one caller identity that
// presented invalid keys.
type identState struct {
	invalid window
	cool    cooldown
}

// seen is a remembered value with when it was last used, so the least
// recently used one makes room when a key's list is full.
type seen[T comparable] struct {
	v    T
	last int64 // unix milliseconds
}

// known is a key's remembered values of one kind, interned. The first is
// held in the key's state itself and only the others in a slice: most keys
// are used by one identity from one network, and a slice of their own per
// key and kind would be two more heap objects per key for the collector to
// visit on every cycle.
type known[T comparable] struct {
	first seen[unique.Handle[T]] // the zero handle while nothing is known
	rest  []seen[unique.Handle[T]]
}

func (k *known[T]) len() int {
	if k.first.v == (unique.Handle[T]{}) {
		return 0
	}
	return 1 + len(k.rest)
}

// at returns the i-th value (0 ≤ i < len()).
func (k *known[T]) at(i int) *seen[unique.Handle[T]] {
	if i == 0 {
		return &k.first
	}
	return &k.rest[i-1]
}

// find returns the index of v, or -1, without interning v.
func (k *known[T]) find(v T) int {
	for i := range k.len() {
		if k.at(i).v.Value() == v {
			return i
		}
	}
	return -1
}

// remember adds v, replacing the least recently used value once max are
// known.
func (k *known[T]) remember(v T, at int64, max int) {
	e := seen[unique.Handle[T]]{v: unique.Make(v), last: at}
	n := k.len()
	switch {
	case n == 0:
		k.first = e
		return
	case n < max:
		k.rest = append(k.rest, e)
		return
	}
	oldest := 0
	for i := range n {
		if k.at(i).last < k.at(oldest).last {
			oldest = i
		}
	}
	*k.at(oldest) = e
}

// cooldown remembers when an alert last fired: its time in unix
// milliseconds plus one, so that zero, the value of a key that never
// alerted, is not a time. One word instead of a time and a flag: a key
// state holds five, and the Detector one state per key in use.
type cooldown int64

// allow reports whether an alert may fire at now and, if so, starts a new
// cooldown period. An event older than the last alert is inside the period.
func (c *cooldown) allow(now, period int64) bool {
	if *c != 0 && now-(int64(*c)-1) < period {
		return false
	}
	*c = cooldown(now + 1)
	return true
}

// warm records an alert raised at, before a restart, unless a later one is
// already recorded.
func (c *cooldown) warm(at int64) {
	if *c == 0 || at > int64(*c)-1 {
		*c = cooldown(at + 1)
	}
}

// window holds the times of the last len(ts) events, so "n events within d"
// costs n int64s however fast events arrive.
type window struct {
	ts   []int64 // unix milliseconds, a ring; ts[next] is the oldest when full
	next int
	full bool
}

func (w *window) add(at int64, size int) {
	if w.ts == nil {
		w.ts = make([]int64, size)
	}
	w.ts[w.next] = at
	w.next++
	if w.next == len(w.ts) {
		w.next, w.full = 0, true
	}
}

// burst reports whether the ring is full and its oldest event lies within
// span before now.
func (w *window) burst(now, span int64) bool {
	return w.full && now-w.ts[w.next] < span
}

func (w *window) reset() { w.next, w.full = 0, false }

// rate tracks exchanges per wall-clock minute and an exponentially weighted
// mean of past minutes.
//
// The mean is kept bias-corrected: sum is the raw moving average started
// from zero and weight is the share of it filled by real minutes, so
// sum/weight is an honest mean from the first minute on. A run of g silent
// minutes multiplies sum by (1-α)^g in one step instead of folding g zeros.
type rate struct {
	minute  int64 // unix minute that count belongs to
	count   int32
	sum     float64
	weight  float64
	history int32 // completed minutes since first seen, capped
	started bool
}

// add counts one exchange in minute.
func (r *rate) add(minute int64, alpha float64, maxHistory int) {
	maxHistory = min(maxHistory, math.MaxInt32)
	if !r.started {
		r.started, r.minute = true, minute
	}
	if minute > r.minute {
		keep := 1 - alpha
		r.sum = alpha*float64(r.count) + keep*r.sum
		r.weight = alpha + keep*r.weight
		elapsed := minute - r.minute
		if elapsed > 1 {
			f := math.Pow(keep, float64(elapsed-1))
			r.sum *= f
			r.weight = 1 - (1-r.weight)*f
		}
		if elapsed > int64(maxHistory)-int64(r.history) {
			r.history = int32(maxHistory)
		} else {
			r.history += int32(elapsed)
		}
		r.minute, r.count = minute, 0
	}
	// An event from an earlier minute than the current one (clock skew
	// between writers) counts in the current minute: history is settled.
	r.count++
}

// baseline is the mean exchanges per minute before the current one,
// rounded to a millionth so that a steady rate yields an exact number.
func (r *rate) baseline() float64 {
	if r.weight == 0 {
		return 0
	}
	return math.Round(r.sum/r.weight*1e6) / 1e6
}
