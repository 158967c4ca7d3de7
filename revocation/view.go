package revocation

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

// Defaults for the watch hub.
const (
	DefaultHistory     = 100_000
	DefaultWatchBuffer = 4096
)

var (
	// ErrResync means a watcher cannot be served from the history ring
	// (or fell too far behind) and must start again from a Snapshot.
	ErrResync = errors.New("revocation: watcher must resync from a snapshot")
	// ErrRevisionOrder means the log returned a revision that is not after
	// the view's revision, so applying it would reorder the watch stream.
	// The view is left as it was and must be rebuilt from the log.
	ErrRevisionOrder = errors.New("revocation: revision not after the view's revision")
)

// Claims are the token fields that revocation depends on.
type Claims struct {
	JTI, ClientID, Subject, KID string
	IssuedAt                    time.Time
}

// Option tunes a View.
type Option func(*options)

type options struct {
	history int
	buffer  int
	digest  digestFunc
}

// WithHistory sets how many of the newest applied revocations the view
// keeps for Watch to replay (DefaultHistory when n <= 0).
func WithHistory(n int) Option { return func(o *options) { o.history = n } }

// WithWatchBuffer sets how many undelivered live events a watcher may hold
// before it is dropped (DefaultWatchBuffer when n <= 0).
func WithWatchBuffer(n int) Option { return func(o *options) { o.buffer = n } }

// View is the in-memory revocation state. It is safe for concurrent use.
//
// Several entries for the same kind and value are folded into one: the
// newest entry's metadata, the latest Before, and the latest ExpiresAt
// (zero, meaning never, wins). Folding can only keep a token revoked longer,
// never shorter, and keeps the lookup a single map access.
//
// The index is keyed by a digest of kind and value and holds only
// integers, and the rest of each entry lives in one byte arena, so the
// view's size adds nothing to the work of a GC cycle.
type View struct {
	opts options

	mu     sync.RWMutex
	rev    uint64
	index  map[digest]uint32
	filter filter
	slots  slots
	arena  arena
	// spill holds the rare entry whose digest collided with a different
	// entry's. Its bounds are also folded into that slot, so lookups stay
	// a single map access and only ever over-revoke; spill keeps it exact
	// for Snapshot and Prune.
	spill map[spillKey]store.Revocation
	// expiring lists the slots of finite expiry by the minute in which
	// they expire, so that a prune visits only what may have expired
	// instead of every entry under the write lock (85-94 ms for a million
	// entries). A slot whose expiry widens is listed again under its new
	// minute; a prune checks each listing against the slot and the index,
	// so stale listings are skipped.
	expiring map[int64][]uint32
	// filterStale counts the entries dropped since the filter was last
	// built: their bits stay set until the next rebuild, which only sends
	// more lookups on to the index.
	filterStale int
	hist        history
	watchers    map[*Watcher]struct{}
}

// NewView builds a view from the entries a log loaded and the last revision
// it assigned. Entries of unknown kinds are skipped because no rule could
// evaluate them. If an entry's Rev exceeds lastRev, the view's revision is
// raised to it so that Revision always covers every entry held.
func NewView(entries []store.Revocation, lastRev uint64, opts ...Option) *View {
	o := options{history: DefaultHistory, buffer: DefaultWatchBuffer}
	for _, opt := range opts {
		opt(&o)
	}
	if o.history <= 0 {
		o.history = DefaultHistory
	}
	if o.buffer <= 0 {
		o.buffer = DefaultWatchBuffer
	}
	if o.digest == nil {
		o.digest = keyedDigest()
	}
	arenaBytes := 0
	for _, e := range entries {
		arenaBytes += recordSize(e)
	}
	v := &View{
		opts:     o,
		index:    make(map[digest]uint32, len(entries)),
		filter:   newFilter(len(entries)),
		slots:    slots{s: make([]slot, 0, len(entries))},
		arena:    arena{buf: make([]byte, 0, arenaBytes)},
		spill:    map[spillKey]store.Revocation{},
		expiring: map[int64][]uint32{},
		watchers: map[*Watcher]struct{}{},
	}
	for _, e := range entries {
		v.insert(e)
		v.rev = max(v.rev, e.Rev)
	}
	v.rev = max(v.rev, lastRev)
	v.hist = newHistory(o.history, v.rev)
	return v
}

// Revoked reports whether a token with these claims is revoked. An empty
// claim never matches, so a token without a jti cannot be caught by a
// malformed entry.
func (v *View) Revoked(c Claims) bool {
	// Hashing needs no lock, so it is done before taking one.
	var ds [4]digest
	var has [4]bool
	for i, q := range [...]struct {
		kind  store.RevocationKind
		value string
	}{{store.RevokeJTI, c.JTI}, {store.RevokeSigningKeyTokens, c.KID}, {store.RevokeKeyTokens, c.ClientID}, {store.RevokeSubjectTokens, c.Subject}} {
		if q.value != "" {
			ds[i], has[i] = v.opts.digest(q.kind, q.value), true
		}
	}
	iat := nanos(c.IssuedAt)
	// A jti or kid slot revokes whatever the issue time; the key and
	// subject slots compare it. Should a digest ever collide across kinds,
	// the slot found is either one that revokes every issue time or a
	// bound compared against anyIssueTime: both revoke, never release.
	bounds := [4]int64{anyIssueTime, anyIssueTime, iat, iat}
	v.mu.RLock()
	defer v.mu.RUnlock()
	for i := range ds {
		if !has[i] || !v.filter.mayContain(ds[i]) {
			continue
		}
		if s, ok := v.index[ds[i]]; ok && bounds[i] <= v.slots.s[s].before {
			return true
		}
	}
	return false
}

// Revision is the revision of the newest revocation the view reflects.
func (v *View) Revision() uint64 {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.rev
}

// Len is the number of entries held, after folding.
func (v *View) Len() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.index) + len(v.spill)
}

// Prune forgets entries whose ExpiresAt is set and not after now, and
// returns how many it dropped. It visits only the slots listed under the
// minutes that have begun (see View.expiring), not every entry. It does
// not change the revision: forgetting is not an event, since every
// replica can prune by the same rule. Once more than half the arena is
// dead it is compacted, so memory follows the live entries rather than
// everything ever applied.
func (v *View) Prune(now time.Time) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	at := nanos(now)
	this := minuteOf(at)
	n := 0
	for m, listed := range v.expiring {
		if m > this {
			continue
		}
		var keep []uint32
		for _, i := range listed {
			s := v.slots.s[i]
			if !expired(s.expires, at) {
				if m == this {
					keep = append(keep, i) // expires later this minute
				}
				continue // or widened, and listed again under a later minute
			}
			d, live := v.slotDigest(i)
			if !live {
				continue // released by a listing before this one
			}
			v.arena.free(s.off)
			v.slots.release(i)
			delete(v.index, d)
			n++
		}
		if len(keep) > 0 {
			v.expiring[m] = keep
		} else {
			delete(v.expiring, m)
		}
	}
	// A spilled entry's expiry is folded into its slot's, so no spilled
	// entry outlives the slot that makes lookups catch it.
	for k, e := range v.spill {
		if expired(expiresNanos(e), at) {
			delete(v.spill, k)
			n++
		}
	}
	if v.arena.dead > len(v.arena.buf)/2 {
		v.arena.compact(v.index, &v.slots)
	}
	v.filterStale += n
	if v.filterStale > len(v.index)/4 {
		// Clears the bits the dropped entries left and fits the filter to
		// what is left; a walk of every entry, so not after every prune.
		v.rebuildFilter()
	}
	return n
}

// minuteOf is the minute, counted from the Unix epoch, in which a time
// given by nanos falls.
func minuteOf(ns int64) int64 {
	m := ns / int64(time.Minute)
	if ns < 0 && ns%int64(time.Minute) != 0 {
		m--
	}
	return m
}

// listExpiry lists slot i under the minute of its expiry, unless it never
// expires.
func (v *View) listExpiry(i uint32) {
	if e := v.slots.s[i].expires; e != neverNanos {
		m := minuteOf(e)
		v.expiring[m] = append(v.expiring[m], i)
	}
}

// widenSlot widens slot i by e, listing it again if its expiry moved.
func (v *View) widenSlot(i uint32, e store.Revocation) {
	s := &v.slots.s[i]
	before := s.expires
	s.widen(e)
	if s.expires != before {
		v.listExpiry(i)
	}
}

// slotDigest returns the digest of slot i's entry, and whether the index
// points at slot i under it: false for a released slot.
func (v *View) slotDigest(i uint32) (digest, bool) {
	s := v.slots.s[i]
	if s.off >= uint64(len(v.arena.buf)) {
		return digest{}, false
	}
	d := v.opts.digest(v.arena.kindValue(s.off))
	j, ok := v.index[d]
	return d, ok && j == i
}

// Snapshot returns every entry held, ordered by Rev, and the revision it
// reflects. To follow on without a gap, either call SnapshotAndWatch, or
// pass the returned revision to Watch: "snap, rev := v.Snapshot();
// w, err := v.Watch(rev)" replays anything applied in between from the
// history ring, and fails with ErrResync only if more than the ring holds
// was applied in between. Times come back in UTC.
func (v *View) Snapshot() ([]store.Revocation, uint64) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.snapshotLocked(), v.rev
}

func (v *View) snapshotLocked() []store.Revocation {
	out := make([]store.Revocation, 0, len(v.index)+len(v.spill))
	// One copy of the arena backs every string in the snapshot, which
	// beats an allocation per field; it is freed with the snapshot.
	buf := string(v.arena.buf)
	for _, i := range v.index {
		out = append(out, decodeRecord(buf, int(v.slots.s[i].off)+recordHeader))
	}
	for _, e := range v.spill {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b store.Revocation) int {
		if a.Rev != b.Rev {
			if a.Rev < b.Rev {
				return -1
			}
			return 1
		}
		return int(a.Kind) - int(b.Kind)
	})
	return out
}

// insert folds e into the index. The caller holds the write lock.
func (v *View) insert(e store.Revocation) {
	if e.Kind == store.RevocationUnspecified || e.Kind > store.RevokeSigningKeyTokens || e.Value == "" {
		return
	}
	d := v.opts.digest(e.Kind, e.Value)
	k := spillKey{e.Kind, e.Value}
	if old, ok := v.spill[k]; ok {
		// A spilled entry's slot exists: it is created before the entry
		// spills and, its expiry covering the entry's, outlives it.
		v.spill[k] = fold(old, e)
		v.widenSlot(v.index[d], e)
		return
	}
	i, ok := v.index[d]
	if !ok {
		i := v.slots.add(slot{before: beforeNanos(e), expires: expiresNanos(e), off: v.arena.add(e)})
		v.index[d] = i
		v.listExpiry(i)
		if v.filter.full(len(v.index)) {
			v.rebuildFilter()
		} else {
			v.filter.add(d)
		}
		return
	}
	s := &v.slots.s[i]
	old := v.arena.get(s.off)
	if old.Kind != e.Kind || old.Value != e.Value {
		// Two different entries share a digest. Widening the slot keeps
		// both revoked (and whatever else hashes there, which errs on the
		// safe side); the spill keeps e itself for Snapshot.
		v.spill[k] = e
		v.widenSlot(i, e)
		return
	}
	merged := fold(old, e)
	v.arena.free(s.off)
	s.off = v.arena.add(merged)
	v.widenSlot(i, merged)
}

// rebuildFilter sizes a new filter for the index and sets the bit of every
// digest in it. Growth doubles the size, so rebuilding on insert costs O(1)
// an insert over time.
func (v *View) rebuildFilter() {
	v.filter, v.filterStale = newFilter(len(v.index)), 0
	for d := range v.index {
		v.filter.add(d)
	}
}

// apply makes e visible and hands it to every watcher, in one critical
// section so that Revoked, Snapshot and the watch stream agree on order.
func (v *View) apply(e store.Revocation) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if e.Rev <= v.rev {
		return ErrRevisionOrder
	}
	v.insert(e)
	v.rev = e.Rev
	v.hist.push(e)
	for w := range v.watchers {
		select {
		case w.ch <- e:
		default:
			// A full buffer means the watcher is too far behind to be
			// served incrementally; dropping it keeps Revoke and the
			// other watchers from waiting on it.
			v.dropLocked(w, ErrResync)
		}
	}
	return nil
}
