package ratelimit

import (
	"hash/maphash"
	"math"
	"strings"
	"sync"
	"time"
)

const (
	defaultMaxKeys   = 100_000
	defaultIdleAfter = 10 * time.Minute

	// maxShards spreads concurrent calls on different keys over this many
	// locks; fewer are used when MaxKeys is smaller, so every shard can hold
	// at least one bucket.
	maxShards = 64

	// pressureSample is how many entries an eviction under pressure looks at
	// before choosing a victim: enough to usually find a nearly full bucket,
	// few enough to keep the insert O(1).
	pressureSample = 4
)

// KeyedConfig configures a Keyed limiter. Zero fields take their defaults.
type KeyedConfig struct {
	// MaxKeys is the hard cap on tracked buckets (default 100_000).
	MaxKeys int
	// IdleAfter is how long a full bucket must go untouched before it may be
	// dropped (default 10m).
	IdleAfter time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Keyed is a bounded set of token buckets, one per key, created on first use.
// It is safe for concurrent use.
//
// It tracks at most MaxKeys buckets whatever keys callers present. When a
// shard is full and holds no idle bucket, Keyed evicts a live one: that key
// restarts with a full bucket (the degraded mode described in the package
// documentation), and Evicted counts it.
type Keyed struct {
	seed      maphash.Seed
	shards    []shard
	idleAfter time.Duration
	now       func() time.Time
}

type shard struct {
	mu sync.Mutex
	m  map[string]*entry
	// limit is this shard's share of MaxKeys.
	limit int
	// inserts counts insertions since the last sweep. A sweep runs every
	// limit/2 inserts: it visits at most limit entries, so it costs two
	// visits per insert amortised, and a shard whose older buckets have gone
	// idle is swept before it fills and has to evict under pressure.
	inserts        int
	idle, pressure uint64
	// Keeps one shard's hot lock and counters off its neighbour's cache line.
	_ [64]byte
}

type entry struct {
	bucket
	touched time.Time
}

// NewKeyed returns an empty Keyed limiter configured by cfg.
func NewKeyed(cfg KeyedConfig) *Keyed {
	maxKeys := cfg.MaxKeys
	if maxKeys <= 0 {
		maxKeys = defaultMaxKeys
	}
	k := &Keyed{
		seed:      maphash.MakeSeed(),
		shards:    make([]shard, min(maxShards, maxKeys)),
		idleAfter: cfg.IdleAfter,
		now:       cfg.Now,
	}
	if k.idleAfter <= 0 {
		k.idleAfter = defaultIdleAfter
	}
	if k.now == nil {
		k.now = time.Now
	}
	n := len(k.shards)
	for i := range k.shards {
		s := &k.shards[i]
		// Distributing the remainder makes the shard limits add up to
		// exactly maxKeys.
		s.limit = maxKeys / n
		if i < maxKeys%n {
			s.limit++
		}
		s.m = make(map[string]*entry)
	}
	return k
}

// Allow takes one token from key's bucket, creating it with lim if absent;
// if lim differs from the bucket's current limit, the bucket adopts lim
// (keeping its current token count, capped at the new burst).
//
// An invalid lim fails closed: Allow returns the zero Decision and leaves
// every bucket untouched.
func (k *Keyed) Allow(key string, lim Limit) Decision {
	if !lim.Valid() {
		return Decision{}
	}
	s := k.shardFor(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	// Reading the clock under the lock keeps the times this bucket sees in
	// order; a time earlier than the limiter's last update would make it
	// credit the same refill twice.
	now := k.now()
	e, ok := s.m[key]
	if !ok {
		e = s.insert(key, lim, now, k.idleAfter)
	} else if e.limit != lim {
		e.adopt(lim, now)
	}
	e.touched = now
	return e.take(now)
}

// Peek reports whether key's bucket holds a token now, without taking it
// and without creating a bucket: a key with no bucket has a full one. It
// lets a caller refuse work up front when only failures spend tokens.
// An invalid lim fails closed, as in Allow.
func (k *Keyed) Peek(key string, lim Limit) Decision {
	if !lim.Valid() {
		return Decision{}
	}
	s := k.shardFor(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[key]
	if !ok {
		return Decision{OK: true, Limit: lim}
	}
	now := k.now()
	if e.limit != lim {
		e.adopt(lim, now)
	}
	if e.tb.TokensAt(now) >= 1 {
		return Decision{OK: true, Limit: e.limit}
	}
	return Decision{RetryAfter: e.waitForOne(now), Limit: e.limit}
}

// Len returns the number of tracked buckets.
func (k *Keyed) Len() int {
	n := 0
	for i := range k.shards {
		s := &k.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// Evicted returns how many buckets were dropped because they were idle, and
// how many were evicted under pressure while still refilling. A rising
// pressure count means the limiter is in its degraded mode: MaxKeys is too
// small for the keys being presented, or someone is flooding it.
func (k *Keyed) Evicted() (idle, pressure uint64) {
	for i := range k.shards {
		s := &k.shards[i]
		s.mu.Lock()
		idle += s.idle
		pressure += s.pressure
		s.mu.Unlock()
	}
	return idle, pressure
}

// Forget drops key's bucket, if any. Use it when a key is revoked so its
// bucket does not hold a slot until it goes idle.
func (k *Keyed) Forget(key string) {
	s := k.shardFor(key)
	s.mu.Lock()
	delete(s.m, key)
	s.mu.Unlock()
}

func (k *Keyed) shardFor(key string) *shard {
	return &k.shards[maphash.String(k.seed, key)%uint64(len(k.shards))]
}

// insert adds a full bucket for key, first making room if the shard is at its
// limit. The caller holds s.mu.
func (s *shard) insert(key string, lim Limit, now time.Time, idleAfter time.Duration) *entry {
	s.inserts++
	if s.inserts >= max(1, s.limit/2) {
		s.sweep(now, idleAfter)
	}
	if len(s.m) >= s.limit {
		s.evictOne(now, idleAfter)
	}
	e := &entry{bucket: newBucket(lim)}
	// Cloning keeps the map from pinning whatever larger buffer the caller's
	// key may be a slice of.
	s.m[strings.Clone(key)] = e
	return e
}

// sweep drops every idle bucket in the shard. The caller holds s.mu.
func (s *shard) sweep(now time.Time, idleAfter time.Duration) {
	s.inserts = 0
	for key, e := range s.m {
		if e.idle(now, idleAfter) {
			delete(s.m, key)
			s.idle++
		}
	}
}

// evictOne removes one entry from a non-empty shard: an idle one if the
// sample holds one, otherwise the sampled bucket that would be full soonest,
// because resetting it grants the fewest calls its limit would not have. The
// caller holds s.mu.
func (s *shard) evictOne(now time.Time, idleAfter time.Duration) {
	var (
		victim  string
		found   bool
		soonest = math.Inf(1)
		seen    int
	)
	// Map iteration starts at a random position, so the sample differs from
	// one eviction to the next.
	for key, e := range s.m {
		if e.idle(now, idleAfter) {
			delete(s.m, key)
			s.idle++
			return
		}
		if t := e.untilFull(now); !found || t < soonest {
			victim, soonest, found = key, t, true
		}
		if seen++; seen == pressureSample {
			break
		}
	}
	if found {
		delete(s.m, victim)
		s.pressure++
	}
}

// idle reports whether dropping e is invisible to callers: it is full, so a
// new bucket would hold exactly the same tokens, and it has been untouched
// for idleAfter, so a busy key is not reallocated over and over.
func (e *entry) idle(now time.Time, idleAfter time.Duration) bool {
	return now.Sub(e.touched) >= idleAfter && e.full(now)
}
