package lifecycle

import (
	"context"
	"hash/maphash"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

// Defaults of Usage.Run.
const (
	DefaultUsageFlushInterval = 10 * time.Second
	// finalFlushTimeout bounds the flush made after Run's context ends, so
	// that shutdown cannot hang on a stuck store.
	finalFlushTimeout = 5 * time.Second
)

// usageShards spreads keys over independent locks so that exchanges for
// different keys rarely contend.
const usageShards = 64

// noTime marks a counter that has seen no timestamp.
const noTime = math.MinInt64

// Usage counts root-key use in memory and writes it to the store in
// batches, so that the exchange path never writes to disk. Counts that
// are not flushed when the process dies are lost; that costs a little
// accuracy in LastUsedAt and UseCount, never a security decision.
//
// Record only keys that authenticated: every distinct ID takes memory
// until the next successful flush.
type Usage struct {
	st   store.UsageStore
	seed maphash.Seed

	shards [usageShards]usageShard

	// flushMu lets one flush run at a time, so that a failed batch is put
	// back before the next flush takes its snapshot.
	flushMu sync.Mutex
	// inflightMu guards inflight, the batch being written, sorted by ID,
	// and written, how much of it the store holds. Pending and the
	// hand-over between shards and inflight both hold it, so Pending never
	// counts a use twice or misses one. A sorted slice, not a map: with
	// 100,000 busy keys a map of the batch took 20 MB of heap at each
	// flush, the slice 5 MB.
	inflightMu sync.Mutex
	inflight   []store.KeyUsage
	written    int

	newTicker func(time.Duration) (<-chan time.Time, func())
}

type usageShard struct {
	mu sync.RWMutex
	// m maps a key ID to its counter's index in counters. The counters are
	// values in one slice rather than one heap object each: with 100,000
	// busy keys, 100,000 objects fewer for the collector to visit on every
	// cycle.
	m        map[string]int32
	counters []counter
	_        [64]byte // keeps neighbouring shard locks off one cache line
}

// counter is updated with atomic operations under its shard's read lock;
// taking the write lock therefore waits out every update in progress, and
// only the write lock moves counters (when the slice grows).
type counter struct {
	count uint64
	last  int64 // Unix nanoseconds, or noTime
}

// NewUsage returns a Usage that flushes to st.
func NewUsage(st store.UsageStore) *Usage {
	return &Usage{st: st, seed: maphash.MakeSeed(), newTicker: realTicker}
}

// Record counts one use of keyID at at. It is safe for concurrent use and
// does no I/O.
func (u *Usage) Record(keyID string, at time.Time) {
	sh := u.shard(keyID)
	sh.mu.RLock()
	if i, ok := sh.m[keyID]; ok {
		sh.counters[i].observe(at, 1)
		sh.mu.RUnlock()
		return
	}
	sh.mu.RUnlock()

	sh.mu.Lock()
	sh.counterLocked(keyID).observe(at, 1)
	sh.mu.Unlock()
}

// Pending returns the use of keyID counted but not yet written.
func (u *Usage) Pending(keyID string) (last time.Time, count uint64) {
	u.inflightMu.Lock()
	defer u.inflightMu.Unlock()
	var p store.KeyUsage
	rest := u.inflight[u.written:]
	if i, found := slices.BinarySearchFunc(rest, keyID, byID); found {
		p = rest[i]
	}
	sh := u.shard(keyID)
	sh.mu.RLock()
	if i, ok := sh.m[keyID]; ok {
		p = merge(p, sh.counters[i].snapshot(keyID))
	}
	sh.mu.RUnlock()
	return p.LastUsedAt, p.Count
}

// Flush writes everything pending and clears it. On a store error the
// unwritten part stays pending, merged with use recorded meanwhile, and is
// written by the next flush.
func (u *Usage) Flush(ctx context.Context) error {
	u.flushMu.Lock()
	defer u.flushMu.Unlock()

	batch := u.take()
	// Write in the store's batch size so that a failure puts back only
	// what was not written; putting back a written batch would count its
	// use twice.
	for chunk := range slices.Chunk(batch, store.MaxUsageBatch) {
		if err := u.st.RecordUsage(ctx, chunk); err != nil {
			u.restore()
			return err
		}
		u.inflightMu.Lock()
		u.written += len(chunk)
		u.inflightMu.Unlock()
	}
	u.inflightMu.Lock()
	u.inflight, u.written = nil, 0
	u.inflightMu.Unlock()
	return nil
}

// Run flushes every interval (DefaultUsageFlushInterval if interval is not
// positive) until ctx ends, then flushes once more with a fresh context of
// its own, so that a shutdown keeps the last counts. Flush errors are not
// reported: what failed stays pending for the next flush.
//
// The first flush comes after half an interval, and the rest an interval
// apart. The janitor sweeps at start and then once each of its intervals,
// which are the same or a multiple of this one: half an interval apart, a
// flush and a sweep of many keys never run at once and add up their
// transient memory (with 100,000 busy keys, tens of MB each).
func (u *Usage) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultUsageFlushInterval
	}
	first, stopFirst := u.newTicker(max(interval/2, 1))
	if !u.waitTick(ctx, first) {
		stopFirst()
		return
	}
	stopFirst()
	_ = u.Flush(ctx)
	tick, stop := u.newTicker(interval)
	defer stop()
	for u.waitTick(ctx, tick) {
		_ = u.Flush(ctx)
	}
}

// waitTick waits for tick and reports true, or for ctx to end: then it
// makes the final flush and reports false.
func (u *Usage) waitTick(ctx context.Context, tick <-chan time.Time) bool {
	select {
	case <-ctx.Done():
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalFlushTimeout)
		_ = u.Flush(fctx)
		cancel()
		return false
	case <-tick:
		return true
	}
}

// take moves every counter into inflight and returns the batch sorted by
// ID, so that writes happen in a stable order. Flush calls it with
// nothing in flight: a flush either writes its whole batch or puts back
// what it did not write.
func (u *Usage) take() []store.KeyUsage {
	u.inflightMu.Lock()
	defer u.inflightMu.Unlock()
	var batch []store.KeyUsage
	for i := range u.shards {
		sh := &u.shards[i]
		sh.mu.Lock()
		m, counters := sh.m, sh.counters
		sh.m, sh.counters = nil, nil
		sh.mu.Unlock()
		if batch == nil {
			// Shards hold about equal shares of the keys.
			batch = make([]store.KeyUsage, 0, len(m)*usageShards+len(m)/2)
		}
		for id, i := range m {
			batch = append(batch, counters[i].snapshot(id))
		}
	}
	// A key is in one shard only, so the IDs are distinct.
	slices.SortFunc(batch, func(a, b store.KeyUsage) int { return strings.Compare(a.ID, b.ID) })
	u.inflight, u.written = batch, 0
	return batch
}

func byID(e store.KeyUsage, id string) int { return strings.Compare(e.ID, id) }

// restore moves what is still inflight back into the counters.
func (u *Usage) restore() {
	u.inflightMu.Lock()
	defer u.inflightMu.Unlock()
	for _, e := range u.inflight[u.written:] {
		sh := u.shard(e.ID)
		sh.mu.Lock()
		sh.counterLocked(e.ID).observe(e.LastUsedAt, e.Count)
		sh.mu.Unlock()
	}
	u.inflight, u.written = nil, 0
}

func (u *Usage) shard(keyID string) *usageShard {
	return &u.shards[maphash.String(u.seed, keyID)%usageShards]
}

// counterLocked returns keyID's counter, creating it; the caller holds the
// write lock, and the pointer is good while it does.
func (sh *usageShard) counterLocked(keyID string) *counter {
	if i, ok := sh.m[keyID]; ok {
		return &sh.counters[i]
	}
	if sh.m == nil {
		sh.m = make(map[string]int32)
	}
	sh.counters = append(sh.counters, counter{last: noTime})
	// Clone so that the map does not keep alive a larger string the ID
	// was cut from, such as the presented root key with its secret.
	sh.m[strings.Clone(keyID)] = int32(len(sh.counters) - 1)
	return &sh.counters[len(sh.counters)-1]
}

func (c *counter) observe(at time.Time, n uint64) {
	atomic.AddUint64(&c.count, n)
	if at.IsZero() {
		return
	}
	ns := at.UnixNano()
	for {
		old := atomic.LoadInt64(&c.last)
		if ns <= old || atomic.CompareAndSwapInt64(&c.last, old, ns) {
			return
		}
	}
}

func (c *counter) snapshot(id string) store.KeyUsage {
	e := store.KeyUsage{ID: id, Count: atomic.LoadUint64(&c.count)}
	if ns := atomic.LoadInt64(&c.last); ns != noTime {
		e.LastUsedAt = time.Unix(0, ns).UTC()
	}
	return e
}

func merge(a, b store.KeyUsage) store.KeyUsage {
	if a.ID == "" {
		a.ID = b.ID
	}
	a.Count += b.Count
	if b.LastUsedAt.After(a.LastUsedAt) {
		a.LastUsedAt = b.LastUsedAt
	}
	return a
}
