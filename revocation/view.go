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
type View struct {
	opts options

	mu          sync.RWMutex
	rev         uint64
	jti         map[string]store.Revocation
	keys        map[string]store.Revocation
	subjects    map[string]store.Revocation
	signingKeys map[string]store.Revocation
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
	counts := map[store.RevocationKind]int{}
	for _, e := range entries {
		counts[e.Kind]++
	}
	v := &View{
		opts:        o,
		jti:         make(map[string]store.Revocation, counts[store.RevokeJTI]),
		keys:        make(map[string]store.Revocation, counts[store.RevokeKeyTokens]),
		subjects:    make(map[string]store.Revocation, counts[store.RevokeSubjectTokens]),
		signingKeys: make(map[string]store.Revocation, counts[store.RevokeSigningKeyTokens]),
		watchers:    map[*Watcher]struct{}{},
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
	v.mu.RLock()
	defer v.mu.RUnlock()
	if c.JTI != "" {
		if _, ok := v.jti[c.JTI]; ok {
			return true
		}
	}
	if c.KID != "" {
		if _, ok := v.signingKeys[c.KID]; ok {
			return true
		}
	}
	if c.ClientID != "" {
		if e, ok := v.keys[c.ClientID]; ok && !c.IssuedAt.After(e.Before) {
			return true
		}
	}
	if c.Subject != "" {
		if e, ok := v.subjects[c.Subject]; ok && !c.IssuedAt.After(e.Before) {
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
	return len(v.jti) + len(v.keys) + len(v.subjects) + len(v.signingKeys)
}

// Prune forgets entries whose ExpiresAt is set and not after now, and
// returns how many it dropped. It does not change the revision: forgetting
// is not an event, since every replica can prune by the same rule.
func (v *View) Prune(now time.Time) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, m := range v.maps() {
		for k, e := range m {
			if !e.ExpiresAt.IsZero() && !e.ExpiresAt.After(now) {
				delete(m, k)
				n++
			}
		}
	}
	return n
}

// Snapshot returns every entry held, ordered by Rev, and the revision it
// reflects. To follow on without a gap, either call SnapshotAndWatch, or
// pass the returned revision to Watch: "snap, rev := v.Snapshot();
// w, err := v.Watch(rev)" replays anything applied in between from the
// history ring, and fails with ErrResync only if more than the ring holds
// was applied in between.
func (v *View) Snapshot() ([]store.Revocation, uint64) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.snapshotLocked(), v.rev
}

func (v *View) snapshotLocked() []store.Revocation {
	out := make([]store.Revocation, 0, len(v.jti)+len(v.keys)+len(v.subjects)+len(v.signingKeys))
	for _, m := range v.maps() {
		for _, e := range m {
			out = append(out, e)
		}
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

func (v *View) maps() [4]map[string]store.Revocation {
	return [4]map[string]store.Revocation{v.jti, v.keys, v.subjects, v.signingKeys}
}

func (v *View) mapFor(k store.RevocationKind) map[string]store.Revocation {
	switch k {
	case store.RevokeJTI:
		return v.jti
	case store.RevokeKeyTokens:
		return v.keys
	case store.RevokeSubjectTokens:
		return v.subjects
	case store.RevokeSigningKeyTokens:
		return v.signingKeys
	}
	return nil
}

// insert folds e into its map. The caller holds the write lock.
func (v *View) insert(e store.Revocation) {
	m := v.mapFor(e.Kind)
	if m == nil || e.Value == "" {
		return
	}
	old, ok := m[e.Value]
	if !ok {
		m[e.Value] = e
		return
	}
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
	m[e.Value] = merged
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
