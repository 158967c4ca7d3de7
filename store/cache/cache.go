package cache

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

var (
	_ store.Store        = (*Store)(nil)
	_ store.HotKeyReader = (*Store)(nil)
)

// DefaultMaxEntries bounds the cache when New is given no positive size:
// a hot record takes about 200 bytes plus its scopes, so 250,000 keys
// take about 60 MB.
const DefaultMaxEntries = 250_000

// evictionSample is how many cached keys an eviction compares; the least
// recently used of them goes. Sampling keeps the cache free of the list
// pointers an exact LRU would make the collector follow.
const evictionSample = 8

// Store wraps a store.Store and answers GetHotKey and KeyStatus from
// memory after the first read. CreateKey and UpdateKey go through to the
// inner store and then drop the cached records they touched; every other
// method, GetKey included, passes through: only the hot paths read keys
// often, and they need only the hot part of a record.
type Store struct {
	inner store.Store
	max   int

	mu     sync.Mutex
	closed bool
	// byID maps a key id to its slot. The id string shares the memory of
	// the slot's encoded record.
	byID  map[string]int32
	slots []slot
	free  []int32
	// clock counts uses; a slot's used is the clock at its last use.
	clock uint64
	// writes counts completed writes. A read that started before a write
	// finished may have seen the old record, so it is not cached.
	writes uint64
}

type slot struct {
	h    hot // the encoded hot record; zero when the slot is free
	used uint64
}

// New wraps inner, keeping at most maxEntries records (a least recently
// used one of a sample evicted first); maxEntries <= 0 means
// DefaultMaxEntries.
func New(inner store.Store, maxEntries int) *Store {
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	return &Store{inner: inner, max: maxEntries, byID: make(map[string]int32)}
}

// Len reports how many records are cached.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

// GetHotKey returns the hot part of the record (store.KeyRecord.Hot),
// from memory when it can. Its byte slices are the caller's own; it must
// never be written back to a store.
func (s *Store) GetHotKey(ctx context.Context, id string) (store.KeyRecord, error) {
	h, err := s.lookup(ctx, id)
	if err != nil {
		return store.KeyRecord{}, err
	}
	if rec, ok := decodeHot(h); ok {
		return rec, nil
	}
	// Only a fault in the encoding gets here: answer from the store, and
	// let the next read cache the record afresh.
	s.drop(id)
	rec, err := s.inner.GetKey(ctx, id)
	if err != nil {
		return store.KeyRecord{}, err
	}
	return rec.Hot(), nil
}

// KeyStatus returns the key's state and expiry, from memory when it can,
// without allocating: introspection asks on every call.
func (s *Store) KeyStatus(ctx context.Context, id string) (store.KeyState, time.Time, error) {
	h, err := s.lookup(ctx, id)
	if err != nil {
		return store.KeyStateUnspecified, time.Time{}, err
	}
	state, expires := hotStatus(h.own)
	return state, expires, nil
}

// lookup returns the encoded hot record of id, reading the inner store and
// remembering what it found on a miss.
func (s *Store) lookup(ctx context.Context, id string) (hot, error) {
	if err := ctx.Err(); err != nil {
		return hot{}, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return hot{}, errClosed
	}
	if i, ok := s.byID[id]; ok {
		s.clock++
		s.slots[i].used = s.clock
		h := s.slots[i].h
		s.mu.Unlock()
		return h, nil
	}
	start := s.writes
	s.mu.Unlock()

	rec, err := s.inner.GetKey(ctx, id)
	if err != nil {
		return hot{}, err
	}
	h, a, b := encodeHot(&rec)

	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed && s.writes == start {
		s.add(h.own[a:b], h)
	}
	return h, nil
}

// add stores h under id; the caller holds mu.
func (s *Store) add(id string, h hot) {
	s.clock++
	if i, ok := s.byID[id]; ok {
		// Another reader filled it first; both read after the last write.
		s.slots[i] = slot{h: h, used: s.clock}
		return
	}
	var i int32
	if n := len(s.free); n > 0 {
		i, s.free = s.free[n-1], s.free[:n-1]
	} else {
		i = int32(len(s.slots))
		s.slots = append(s.slots, slot{})
	}
	s.slots[i] = slot{h: h, used: s.clock}
	s.byID[id] = i
	for len(s.byID) > s.max {
		s.evictOne()
	}
}

// evictOne forgets the least recently used of a few cached keys. Map
// iteration starts at a random place, so the sample is a fair one.
func (s *Store) evictOne() {
	victim, oldest, seen := "", uint64(0), 0
	for id, i := range s.byID {
		if seen == 0 || s.slots[i].used < oldest {
			victim, oldest = id, s.slots[i].used
		}
		if seen++; seen == evictionSample {
			break
		}
	}
	s.forget(victim)
}

// forget drops id from the cache; the caller holds mu.
func (s *Store) forget(id string) {
	i, ok := s.byID[id]
	if !ok {
		return
	}
	delete(s.byID, id)
	s.slots[i] = slot{}
	s.free = append(s.free, i)
}

// Preload reads every record of the inner store into the cache, until the
// cache is full, so that no exchange after start-up waits for the disk.
// A record written while its page was being read is left for a later read
// to fill, as a concurrent read's would be. It returns how many it cached.
func (s *Store) Preload(ctx context.Context) (int, error) {
	n := 0
	// The cache keeps no history (store.KeyRecord.Hot), so none is decoded.
	q := store.KeyQuery{PageSize: store.MaxPageSize, WithoutHistory: true}
	for {
		s.mu.Lock()
		start, full := s.writes, len(s.byID) >= s.max
		s.mu.Unlock()
		if full {
			return n, nil
		}
		page, err := s.inner.ListKeys(ctx, q)
		if err != nil {
			return n, err
		}
		// The id each record is cached under shares its encoding's
		// memory, as in lookup: one allocation a key.
		type encoded struct {
			h  hot
			id string
		}
		encs := make([]encoded, len(page.Keys))
		for i := range page.Keys {
			h, a, b := encodeHot(&page.Keys[i])
			encs[i] = encoded{h, h.own[a:b]}
		}
		s.mu.Lock()
		if s.writes == start {
			for _, e := range encs {
				if _, ok := s.byID[e.id]; ok || len(s.byID) >= s.max {
					continue
				}
				s.add(e.id, e.h)
				n++
			}
		}
		s.mu.Unlock()
		if page.NextPageToken == "" {
			return n, nil
		}
		q.PageToken = page.NextPageToken
	}
}

// drop forgets ids after a write to them, whether or not the write
// reported success: a failed commit may still have reached the disk.
func (s *Store) drop(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	for _, id := range ids {
		s.forget(id)
	}
}

// GetKey passes through: whole records are read by administrators and by
// writes, rarely.
func (s *Store) GetKey(ctx context.Context, id string) (store.KeyRecord, error) {
	if err := s.open(); err != nil {
		return store.KeyRecord{}, err
	}
	return s.inner.GetKey(ctx, id)
}

func (s *Store) open() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	return nil
}

// CreateKey creates the record in the inner store. The record is cached on
// its first GetKey, in the form the inner store returns.
func (s *Store) CreateKey(ctx context.Context, rec store.KeyRecord) error {
	defer s.drop(rec.ID)
	return s.inner.CreateKey(ctx, rec)
}

// UpdateKey updates the record in the inner store and drops the cached
// copy, so the next GetKey reads what was stored.
func (s *Store) UpdateKey(ctx context.Context, id string, fn func(*store.KeyRecord) error) (store.KeyRecord, error) {
	defer s.drop(id)
	return s.inner.UpdateKey(ctx, id, fn)
}

// RecordUsage passes through: usage is not part of a hot record.
func (s *Store) RecordUsage(ctx context.Context, usage []store.KeyUsage) error {
	return s.inner.RecordUsage(ctx, usage)
}

// ListKeys passes through: pages are read rarely, by administrators.
func (s *Store) ListKeys(ctx context.Context, q store.KeyQuery) (store.KeyPage, error) {
	return s.inner.ListKeys(ctx, q)
}

// AppendRevocation passes through.
func (s *Store) AppendRevocation(ctx context.Context, r store.Revocation) (store.Revocation, error) {
	return s.inner.AppendRevocation(ctx, r)
}

// LoadRevocations passes through.
func (s *Store) LoadRevocations(ctx context.Context) ([]store.Revocation, uint64, error) {
	return s.inner.LoadRevocations(ctx)
}

// PutSigningKey passes through.
func (s *Store) PutSigningKey(ctx context.Context, rec store.SigningKeyRecord) error {
	return s.inner.PutSigningKey(ctx, rec)
}

// ListSigningKeys passes through.
func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKeyRecord, error) {
	return s.inner.ListSigningKeys(ctx)
}

// UpdateSigningKey passes through.
func (s *Store) UpdateSigningKey(ctx context.Context, kid string, fn func(*store.SigningKeyRecord) error) (store.SigningKeyRecord, error) {
	return s.inner.UpdateSigningKey(ctx, kid, fn)
}

// DeleteSigningKey passes through.
func (s *Store) DeleteSigningKey(ctx context.Context, kid string) error {
	return s.inner.DeleteSigningKey(ctx, kid)
}

var errClosed = fmt.Errorf("%w: store is closed", store.ErrUnavailable)

// Close empties the cache, so that it stops answering, and closes the
// inner store.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.byID, s.slots, s.free = map[string]int32{}, nil, nil
	s.mu.Unlock()
	return s.inner.Close()
}
