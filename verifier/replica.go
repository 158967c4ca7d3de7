package verifier

import (
	"errors"
	"sync"
	"time"

	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
)

// pruneEvery is how often entries past their expiry are dropped.
const pruneEvery = time.Minute

// farFuture stands in for a missing issued_before or expires_at: an entry that
// does not say where it stops covers everything, for ever.
var farFuture = time.Unix(latestNumericDate, 0)

var errProtocol = errors.New("revocation stream out of order")

// bound is a key or subject revocation: tokens issued at or before `before`.
type bound struct{ before, expires time.Time }

// revocationSet answers "is this token revoked?" from maps only.
type revocationSet struct {
	jtis     map[string]time.Time // jti -> expiry of the entry
	kids     map[string]time.Time
	clients  map[string]bound
	subjects map[string]bound
}

func newRevocationSet() *revocationSet {
	return &revocationSet{
		jtis: map[string]time.Time{}, kids: map[string]time.Time{},
		clients: map[string]bound{}, subjects: map[string]bound{},
	}
}

// add records r and reports the signing kid it revokes, if any. Entries of a
// kind this version does not know are reported as unknown.
func (s *revocationSet) add(r *latchkeyv1.Revocation) (kid string, known bool) {
	expires := orFarFuture(r.GetExpiresAt().AsTime(), r.GetExpiresAt() != nil)
	before := orFarFuture(r.GetIssuedBefore().AsTime(), r.GetIssuedBefore() != nil)
	v := r.GetValue()
	switch r.GetKind() {
	case latchkeyv1.RevocationKind_REVOCATION_KIND_JTI:
		s.jtis[v] = later(s.jtis[v], expires)
	case latchkeyv1.RevocationKind_REVOCATION_KIND_SIGNING_KEY:
		s.kids[v] = later(s.kids[v], expires)
		return v, true
	case latchkeyv1.RevocationKind_REVOCATION_KIND_KEY:
		s.clients[v] = widen(s.clients[v], bound{before, expires})
	case latchkeyv1.RevocationKind_REVOCATION_KIND_SUBJECT:
		s.subjects[v] = widen(s.subjects[v], bound{before, expires})
	default:
		return "", false
	}
	return "", true
}

func orFarFuture(t time.Time, set bool) time.Time {
	if !set {
		return farFuture
	}
	return t
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// widen merges two revocations of the same key or subject; the result revokes
// whatever either did, for as long as either did.
func widen(a, b bound) bound {
	return bound{before: later(a.before, b.before), expires: later(a.expires, b.expires)}
}

func (s *revocationSet) revoked(c *Claims) bool {
	if _, ok := s.jtis[c.JTI]; ok {
		return true
	}
	if _, ok := s.kids[c.KID]; ok {
		return true
	}
	if b, ok := s.clients[c.ClientID]; ok && !c.IssuedAt.After(b.before) {
		return true
	}
	if b, ok := s.subjects[c.Subject]; ok && !c.IssuedAt.After(b.before) {
		return true
	}
	return false
}

// prune drops entries after which no token they cover can be valid.
func (s *revocationSet) prune(now time.Time) {
	for k, exp := range s.jtis {
		if now.After(exp) {
			delete(s.jtis, k)
		}
	}
	for k, exp := range s.kids {
		if now.After(exp) {
			delete(s.kids, k)
		}
	}
	for k, b := range s.clients {
		if now.After(b.expires) {
			delete(s.clients, k)
		}
	}
	for k, b := range s.subjects {
		if now.After(b.expires) {
			delete(s.subjects, k)
		}
	}
}

// replica is the local copy of the revocation list and the health of the
// stream that feeds it.
type replica struct {
	now func() time.Time
	// onSigningKey is told of every revoked signing kid.
	onSigningKey func(kid string)
	// onUnknown is told of entries of a kind this version cannot evaluate.
	onUnknown func(kind latchkeyv1.RevocationKind)

	mu  sync.RWMutex
	set *revocationSet
	rev uint64
	// synced is set once a snapshot has been applied completely.
	synced bool
	// pending collects a snapshot until snapshot_complete; the previous set
	// keeps answering meanwhile.
	pending *revocationSet
	// restart asks the next stream to start from a snapshot after the
	// server broke the protocol.
	restart bool
	// up is true while a stream is confirmed open; seen is the last time
	// the stream gave evidence of being current.
	up        bool
	seen      time.Time
	lastPrune time.Time
}

func newReplica(now func() time.Time) *replica {
	return &replica{now: now, set: newRevocationSet(), seen: now(),
		onSigningKey: func(string) {}, onUnknown: func(latchkeyv1.RevocationKind) {}}
}

// resumeFrom is the revision to ask the stream for.
func (r *replica) resumeFrom() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.restart || !r.synced {
		return 0
	}
	return r.rev
}

func (r *replica) isSynced() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.synced
}

func (r *replica) revision() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.rev
}

// apply folds one stream message in. A resync message starts a new snapshot;
// live batches skip entries at or below the revision already applied, so a
// replayed event is harmless.
func (r *replica) apply(msg *latchkeyv1.WatchRevocationsResponse) error {
	now := r.now()
	var kids []string
	r.mu.Lock()
	switch {
	case msg.GetResync():
		r.pending = newRevocationSet()
	case r.pending == nil && !r.synced:
		r.restart = true
		r.mu.Unlock()
		return errProtocol
	}
	if r.pending != nil {
		kids = r.addAll(r.pending, msg.GetRevocations(), 0)
		if msg.GetSnapshotComplete() {
			r.set, r.pending, r.rev = r.pending, nil, msg.GetRevision()
			r.synced, r.restart = true, false
		}
	} else {
		if msg.GetSnapshotComplete() {
			r.restart = true
			r.mu.Unlock()
			return errProtocol
		}
		kids = r.addAll(r.set, msg.GetRevocations(), r.rev)
		r.rev = max(r.rev, msg.GetRevision())
	}
	if r.synced {
		r.up, r.seen = true, now
	}
	if now.Sub(r.lastPrune) >= pruneEvery {
		r.set.prune(now)
		r.lastPrune = now
	}
	r.mu.Unlock()
	for _, kid := range kids {
		r.onSigningKey(kid)
	}
	return nil
}

// addAll adds the entries newer than floor and returns the revoked kids.
func (r *replica) addAll(set *revocationSet, revs []*latchkeyv1.Revocation, floor uint64) []string {
	var kids []string
	for _, e := range revs {
		if floor != 0 && e.GetRevision() <= floor {
			continue
		}
		kid, known := set.add(e)
		if !known {
			r.onUnknown(e.GetKind())
		}
		if kid != "" {
			kids = append(kids, kid)
		}
	}
	return kids
}

// confirm records that the stream is open and answering, for a resumed stream
// that has had nothing to send yet.
func (r *replica) confirm() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.synced && r.pending == nil {
		r.up, r.seen = true, r.now()
	}
}

// down records that the stream ended. Staleness counts from the last evidence
// the stream was current, not from when the failure was noticed.
func (r *replica) down() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.up = false
	r.pending = nil
}

// check reports whether c is revoked and whether the answer is stale.
func (r *replica) check(c *Claims, maxStaleness time.Duration) (revoked, stale bool) {
	now := r.now()
	r.mu.RLock()
	defer r.mu.RUnlock()
	stale = !r.synced || (!r.up && now.Sub(r.seen) > maxStaleness)
	return r.set.revoked(c), stale
}

func (r *replica) isUp() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.up
}
