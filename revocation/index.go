package revocation

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

// digest names one (kind, value) pair in the index. It is a fixed-size
// array rather than the value itself so that the index holds no pointers:
// the GC skips maps whose keys and elements are pointer-free, and a view of
// a million strings would otherwise be marked on every cycle.
type digest [16]byte

// digestFunc maps a kind and value to its digest. It must be deterministic
// for the life of a view; tests swap it to force collisions.
type digestFunc func(store.RevocationKind, string) digest

// keyedDigest returns a 128-bit keyed hash: two 64-bit maphash values under
// independent random seeds, with a separate pair of seeds per kind so that
// values of different kinds are hashed by unrelated functions.
//
// It is keyed rather than cryptographic because Revoked hashes four claims
// on every introspection, and SHA-256 made that several times slower than
// the map lookups it serves. Nothing is lost by it: with random seeds an
// accidental collision among 128 bits is out of reach, the seeds never
// leave the process, so one cannot be searched for, and the index is built
// so that a collision could only ever over-revoke (see View.insert).
func keyedDigest() digestFunc {
	var seeds [store.RevokeSigningKeyTokens + 1][2]maphash.Seed
	for i := range seeds {
		seeds[i] = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}
	}
	return func(k store.RevocationKind, value string) digest {
		var d digest
		binary.LittleEndian.PutUint64(d[:8], maphash.String(seeds[k][0], value))
		binary.LittleEndian.PutUint64(d[8:], maphash.String(seeds[k][1], value))
		return d
	}
}

// slot is the hot part of one folded entry: what Revoked and Prune need,
// as plain integers, and where the rest of the entry lives in the arena.
type slot struct {
	// before is the issue time, in saturated unix nanoseconds, at or
	// before which tokens are revoked. It is allNanos for the kinds that
	// revoke whatever the issue time.
	before int64
	// expires is when the slot may be pruned, in saturated unix
	// nanoseconds, or neverNanos.
	expires int64
	// off is where the entry's full record starts in the arena.
	off uint64
}

// slots holds the slots the index points at, in a slice rather than as the
// map's elements because a 4-byte map element makes the map less than half
// the size. Freed positions are reused before the slice grows.
type slots struct {
	s    []slot
	free []uint32
}

func (ss *slots) add(s slot) uint32 {
	if n := len(ss.free); n > 0 {
		i := ss.free[n-1]
		ss.free = ss.free[:n-1]
		ss.s[i] = s
		return i
	}
	ss.s = append(ss.s, s)
	return uint32(len(ss.s) - 1)
}

func (ss *slots) release(i uint32) {
	ss.s[i] = slot{}
	ss.free = append(ss.free, i)
}

const (
	// allNanos as a slot's before revokes every issue time.
	allNanos = math.MaxInt64
	// neverNanos as a slot's expires keeps it for ever. A finite expiry
	// that saturates to it is kept for ever too, which only errs on the
	// side of revoking.
	neverNanos = math.MaxInt64
	// anyIssueTime is the issue time a jti or kid lookup compares with, so
	// that any slot it finds, whatever its kind, revokes the token.
	anyIssueTime = math.MinInt64
)

// nanos converts t to unix nanoseconds, saturating outside the range an
// int64 holds (years 1678 to 2262). Saturation is monotone, so a <= b
// implies nanos(a) <= nanos(b): comparing converted times can turn a
// "not revoked" into "revoked" at the extremes, never the reverse.
func nanos(t time.Time) int64 {
	const maxSec = math.MaxInt64 / int64(time.Second)
	const minSec = math.MinInt64 / int64(time.Second)
	sec := t.Unix()
	switch {
	case sec >= maxSec:
		return math.MaxInt64
	case sec <= minSec:
		return math.MinInt64
	}
	return sec*int64(time.Second) + int64(t.Nanosecond())
}

// beforeNanos is the slot bound for e.
func beforeNanos(e store.Revocation) int64 {
	if e.Kind == store.RevokeKeyTokens || e.Kind == store.RevokeSubjectTokens {
		return nanos(e.Before)
	}
	return allNanos
}

// expiresNanos is the slot expiry for e.
func expiresNanos(e store.Revocation) int64 {
	if e.ExpiresAt.IsZero() {
		return neverNanos
	}
	return nanos(e.ExpiresAt)
}

// expired reports whether an expiry has passed at now (both from nanos).
func expired(expires, now int64) bool {
	return expires != neverNanos && expires <= now
}

// widen folds e's bounds into s: the later bound and the later expiry,
// never wins. Slots only ever widen, so whatever was folded into one keeps
// being revoked at least as long as it was on its own.
func (s *slot) widen(e store.Revocation) {
	s.before = max(s.before, beforeNanos(e))
	s.expires = max(s.expires, expiresNanos(e))
}

// fold merges two entries for the same kind and value: the newest entry's
// metadata, the latest Before and the latest ExpiresAt (zero, meaning
// never, wins).
func fold(old, e store.Revocation) store.Revocation {
	merged := e
	if old.Rev > e.Rev {
		merged = old
	}
	if old.Before.After(e.Before) {
		merged.Before = old.Before
	} else {
		merged.Before = e.Before
	}
	if old.ExpiresAt.IsZero() || e.ExpiresAt.IsZero() {
		merged.ExpiresAt = time.Time{}
	} else if old.ExpiresAt.After(e.ExpiresAt) {
		merged.ExpiresAt = old.ExpiresAt
	} else {
		merged.ExpiresAt = e.ExpiresAt
	}
	return merged
}

// spillKey names an entry whose digest collided with a different entry's.
type spillKey struct {
	kind  store.RevocationKind
	value string
}

// filter is a one-bit-per-digest membership filter in front of the index.
// Most tokens introspected are not revoked, and a clear bit answers that
// from a table of two bytes an entry instead of a probe into the index, so
// a large view costs a lookup about what an empty one does. A set bit only
// means "look in the index": every digest in the index has its bit set,
// while a bit left set by a pruned entry merely costs a wasted probe.
type filter struct {
	bits []uint64
}

const (
	// filterBitsPerEntry keeps the false-positive rate near 6%.
	filterBitsPerEntry = 16
	minFilterBits      = 1 << 16
)

// newFilter sizes a filter for n entries (a power of two, so a mask picks
// the bit).
func newFilter(n int) filter {
	bits := minFilterBits
	for bits < n*filterBitsPerEntry {
		bits <<= 1
	}
	return filter{bits: make([]uint64, bits/64)}
}

// bit picks the filter bit of d from its first eight bytes, which are as
// uniform as the digest is.
func (f *filter) bit(d digest) (word int, mask uint64) {
	b := binary.LittleEndian.Uint64(d[:8]) & uint64(len(f.bits)*64-1)
	return int(b / 64), 1 << (b % 64)
}

func (f *filter) add(d digest) {
	w, m := f.bit(d)
	f.bits[w] |= m
}

func (f *filter) mayContain(d digest) bool {
	w, m := f.bit(d)
	return f.bits[w]&m != 0
}

// full reports whether n entries would push the filter past its rate.
func (f *filter) full(n int) bool {
	return n*filterBitsPerEntry > len(f.bits)*64
}
