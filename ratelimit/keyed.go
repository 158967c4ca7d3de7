package ratelimit

import (
	"hash/maphash"
	"math"
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
	// epoch is the first reading of now; buckets keep times as nanoseconds
	// since it.
	epoch time.Time
}

// A shard maps the seeded 64-bit hash of a key, not the key, to its entry,
// and holds entries by value: neither side of the map contains a pointer, so
// the garbage collector allocates its storage as pointer-free and never
// marks it, however many keys are tracked.
//
// The price is that two keys whose hashes collide share one bucket, each
// spending the other's tokens. For n tracked keys the chance that any two
// collide is about n²/2⁶⁵, some 3e-10 at 100,000 keys. Nobody can pick keys
// that collide on purpose: the hash is keyed with a seed drawn at random for
// each limiter, never revealed, and without it the hash of a key cannot be
// predicted. The only oracle is behaviour (a fresh key refused because it
// landed on an exhausted bucket), and each such probe has about n/2⁶⁴ odds,
// some 5e-15, of a hit.
type shard struct {
	mu sync.Mutex
	m  map[uint64]entry
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

// entry must stay free of pointers (and of strings, slices, maps,
// interfaces, channels and funcs, which hold pointers); a test walks its
// type to keep it so.
type entry struct {
	bucket
	// touched is the last Allow on this key, in nanoseconds since epoch.
	touched int64
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
	k.epoch = k.now()
	n := len(k.shards)
	for i := range k.shards {
		s := &k.shards[i]
		// Distributing the remainder makes the shard limits add up to
		// exactly maxKeys.
		s.limit = maxKeys / n
		if i < maxKeys%n {
			s.limit++
		}
		s.m = make(map[uint64]entry)
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
	h := maphash.String(k.seed, key)
	s := k.shardFor(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	// Reading the clock under the lock keeps the times this bucket sees in
	// order; a time earlier than the bucket's last update would make it
	// credit the same refill twice.
	now := k.ticks()
	e, ok := s.m[h]
	if !ok {
		s.makeRoom(now, k.idleAfter)
		e.bucket = newBucket(lim, now)
	} else if e.limit != lim {
		e.adopt(lim, now)
	}
	e.touched = now
	d := e.take(now)
	s.m[h] = e
	return d
}

// Peek reports whether key's bucket holds a token now, without taking it
// and without creating a bucket: a key with no bucket has a full one. It
// lets a caller refuse work up front when only failures spend tokens.
// An invalid lim fails closed, as in Allow.
func (k *Keyed) Peek(key string, lim Limit) Decision {
	if !lim.Valid() {
		return Decision{}
	}
	h := maphash.String(k.seed, key)
	s := k.shardFor(h)
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[h]
	if !ok {
		return Decision{OK: true, Limit: lim}
	}
	now := k.ticks()
	if e.limit != lim {
		e.adopt(lim, now)
		s.m[h] = e
	}
	if e.tokensAt(now) >= 1 {
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
	h := maphash.String(k.seed, key)
	s := k.shardFor(h)
	s.mu.Lock()
	delete(s.m, h)
	s.mu.Unlock()
}

// shardFor picks the shard from the same hash the shard's map is keyed by.
// The shard's map hashes that uint64 again with its own seed, so sharing
// the low bits within a shard does not crowd its buckets.
func (k *Keyed) shardFor(h uint64) *shard {
	return &k.shards[h%uint64(len(k.shards))]
}

// ticks reads the clock as nanoseconds since epoch.
func (k *Keyed) ticks() int64 {
	return ticks(k.now(), k.epoch)
}

// makeRoom runs the periodic sweep when it is due and evicts one entry if the
// shard is still at its limit, ahead of inserting a new one. The caller
// holds s.mu.
func (s *shard) makeRoom(now int64, idleAfter time.Duration) {
	s.inserts++
	if s.inserts >= max(1, s.limit/2) {
		s.sweep(now, idleAfter)
	}
	if len(s.m) >= s.limit {
		s.evictOne(now, idleAfter)
	}
}

// sweep drops every idle bucket in the shard. The caller holds s.mu.
func (s *shard) sweep(now int64, idleAfter time.Duration) {
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
func (s *shard) evictOne(now int64, idleAfter time.Duration) {
	var (
		victim  uint64
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
func (e *entry) idle(now int64, idleAfter time.Duration) bool {
	return elapsed(now, e.touched) >= idleAfter && e.full(now)
}
