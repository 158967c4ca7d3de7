package cache

import (
	"encoding/binary"
	"math"
	"time"
	"unique"

	"github.com/latchkeyhq/latchkey/store"
)

// A cached key is its hot record (store.KeyRecord.Hot) encoded into two
// immutable strings. A decoded KeyRecord was a few dozen pointers the
// collector had to follow on every cycle: with 100,000 keys that marking
// cost a tenth of the server's CPU. A string is one pointer to memory the
// collector never scans, and decoding it is cheaper than the deep copy a
// cached KeyRecord needed before it could be handed out.
//
// The first string holds what is the key's own: its state, times, id and
// secret hashes. The second, its profile, holds what keys made from one
// template share: owner, limits, scopes, audiences and bound identities.
// Profiles are interned, so a hundred thousand keys of a few kinds keep a
// few copies of them: TestCacheBytesPerKey measured 286 bytes a cached key
// with the profile in each key's own encoding, 184 with it shared.
//
// Own, version 2:
//
//	0        version
//	1        state
//	2        revocation reason
//	3        zero
//	4..64    expires, grace deadline, created, rotated, last attested
//	         (each: 8-byte Unix seconds, 4-byte nanoseconds; nanoseconds
//	         0xFFFFFFFF mark the zero time)
//	64       uvarint-prefixed ID, secret hash, previous secret hash
//
// Profile:
//
//	0        max TTL, 8 rotation period (nanoseconds)
//	16       rate per second (IEEE 754 bits), 24 burst
//	32       uvarint-prefixed owner; the counts of scopes, audiences and
//	         bound identities; then each of those uvarint-prefixed
const (
	hotVersion = 2

	offState    = 1
	offReason   = 2
	offExpires  = 4
	offGrace    = 16
	offCreated  = 28
	offRotated  = 40
	offAttested = 52
	ownFixed    = 64

	offMaxTTL    = 0
	offRotPeriod = 8
	offRate      = 16
	offBurst     = 24
	profFixed    = 32

	zeroNanos = math.MaxUint32
)

// hot is one cached key's encoded hot record.
type hot struct {
	own  string
	prof unique.Handle[string]
}

// encodeHot returns rec's hot record encoded, and where its ID lies in
// h.own.
func encodeHot(rec *store.KeyRecord) (h hot, idStart, idEnd int) {
	b := make([]byte, ownFixed, ownFixed+3*binary.MaxVarintLen64+len(rec.ID)+len(rec.SecretHash)+len(rec.PreviousSecretHash))
	b[0], b[offState], b[offReason] = hotVersion, byte(rec.State), byte(rec.RevocationReason)
	putTime(b[offExpires:], rec.ExpiresAt)
	putTime(b[offGrace:], rec.GraceDeadline)
	putTime(b[offCreated:], rec.CreatedAt)
	putTime(b[offRotated:], rec.RotatedAt)
	putTime(b[offAttested:], rec.LastAttestedAt)
	b = binary.AppendUvarint(b, uint64(len(rec.ID)))
	idStart = len(b)
	b = append(b, rec.ID...)
	idEnd = len(b)
	b = appendField(b, string(rec.SecretHash))
	b = appendField(b, string(rec.PreviousSecretHash))
	h.own = string(b)
	h.prof = unique.Make(encodeProfile(rec))
	return h, idStart, idEnd
}

func encodeProfile(rec *store.KeyRecord) string {
	n := profFixed + 4*binary.MaxVarintLen64 + len(rec.Owner)
	for _, l := range [...][]string{rec.Scopes, rec.Audiences, rec.BoundIdentities} {
		for _, s := range l {
			n += binary.MaxVarintLen64 + len(s)
		}
	}
	b := make([]byte, profFixed, n)
	binary.BigEndian.PutUint64(b[offMaxTTL:], uint64(rec.MaxTTL))
	binary.BigEndian.PutUint64(b[offRotPeriod:], uint64(rec.RotationPeriod))
	binary.BigEndian.PutUint64(b[offRate:], math.Float64bits(rec.RateLimit.PerSecond))
	binary.BigEndian.PutUint64(b[offBurst:], uint64(int64(rec.RateLimit.Burst)))
	b = appendField(b, rec.Owner)
	b = binary.AppendUvarint(b, uint64(len(rec.Scopes)))
	b = binary.AppendUvarint(b, uint64(len(rec.Audiences)))
	b = binary.AppendUvarint(b, uint64(len(rec.BoundIdentities)))
	for _, l := range [...][]string{rec.Scopes, rec.Audiences, rec.BoundIdentities} {
		for _, s := range l {
			b = appendField(b, s)
		}
	}
	return string(b)
}

func appendField(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func putTime(b []byte, t time.Time) {
	if t.IsZero() {
		binary.BigEndian.PutUint64(b, 0)
		binary.BigEndian.PutUint32(b[8:], zeroNanos)
		return
	}
	binary.BigEndian.PutUint64(b, uint64(t.Unix()))
	binary.BigEndian.PutUint32(b[8:], uint32(t.Nanosecond()))
}

func be64(s string) uint64 {
	_ = s[7]
	return uint64(s[0])<<56 | uint64(s[1])<<48 | uint64(s[2])<<40 | uint64(s[3])<<32 |
		uint64(s[4])<<24 | uint64(s[5])<<16 | uint64(s[6])<<8 | uint64(s[7])
}

func be32(s string) uint32 {
	_ = s[3]
	return uint32(s[0])<<24 | uint32(s[1])<<16 | uint32(s[2])<<8 | uint32(s[3])
}

func readTime(s string) time.Time {
	nanos := be32(s[8:])
	if nanos == zeroNanos {
		return time.Time{}
	}
	return time.Unix(int64(be64(s)), int64(nanos)).UTC()
}

// hotStatus reads the state and expiry of an encoded record, which
// introspection needs on every call, without decoding the rest.
func hotStatus(own string) (store.KeyState, time.Time) {
	return store.KeyState(own[offState]), readTime(own[offExpires:])
}

// hotReader walks the variable part of an encoding. Every read checks its
// bounds: the encoding is the cache's own, but a mistake in it must show
// as a miss, never as a wrong record.
type hotReader struct {
	s   string
	pos int
	bad bool
}

func (r *hotReader) uvarint() uint64 {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if r.pos >= len(r.s) {
			break
		}
		c := r.s[r.pos]
		r.pos++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
	r.bad = true
	return 0
}

func (r *hotReader) field() string {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.s)-r.pos) {
		r.bad = true
		return ""
	}
	s := r.s[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return s
}

// done reports whether every read was in bounds and the whole string was
// read.
func (r *hotReader) done() bool { return !r.bad && r.pos == len(r.s) }

// decodeHot returns the record h holds. Its strings share h's memory,
// which never changes; its byte slices are copies, so a caller may change
// them without reaching the cache.
func decodeHot(h hot) (store.KeyRecord, bool) {
	own := h.own
	if len(own) < ownFixed || own[0] != hotVersion || own[3] != 0 || h.prof == (unique.Handle[string]{}) {
		return store.KeyRecord{}, false
	}
	prof := h.prof.Value()
	if len(prof) < profFixed {
		return store.KeyRecord{}, false
	}
	state, expires := hotStatus(own)
	rec := store.KeyRecord{
		State:            state,
		RevocationReason: store.RevocationReason(own[offReason]),
		ExpiresAt:        expires,
		GraceDeadline:    readTime(own[offGrace:]),
		CreatedAt:        readTime(own[offCreated:]),
		RotatedAt:        readTime(own[offRotated:]),
		LastAttestedAt:   readTime(own[offAttested:]),
		MaxTTL:           time.Duration(be64(prof[offMaxTTL:])),
		RotationPeriod:   time.Duration(be64(prof[offRotPeriod:])),
		RateLimit: store.RateLimit{
			PerSecond: math.Float64frombits(be64(prof[offRate:])),
			Burst:     int(int64(be64(prof[offBurst:]))),
		},
	}
	r := hotReader{s: own, pos: ownFixed}
	rec.ID = r.field()
	rec.SecretHash = bytesOrNil(r.field())
	rec.PreviousSecretHash = bytesOrNil(r.field())
	if !r.done() {
		return store.KeyRecord{}, false
	}
	r = hotReader{s: prof, pos: profFixed}
	rec.Owner = r.field()
	var counts [3]uint64
	for i := range counts {
		counts[i] = r.uvarint()
		// Each member takes at least its one length byte.
		if counts[i] > uint64(len(prof)) {
			r.bad = true
		}
	}
	if r.bad {
		return store.KeyRecord{}, false
	}
	total := counts[0] + counts[1] + counts[2]
	if total > 0 {
		all := make([]string, total)
		for i := range all {
			all[i] = r.field()
		}
		a, b := counts[0], counts[0]+counts[1]
		rec.Scopes, rec.Audiences, rec.BoundIdentities = nilIfEmpty(all[:a:a]), nilIfEmpty(all[a:b:b]), nilIfEmpty(all[b:])
	}
	if !r.done() {
		return store.KeyRecord{}, false
	}
	return rec, true
}

func bytesOrNil(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

func nilIfEmpty(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return l
}
