package cache

import (
	"container/list"
	"context"
	"fmt"
	"sync"

	"github.com/latchkeyhq/latchkey/store"
)

var _ store.Store = (*Store)(nil)

// DefaultMaxEntries bounds the cache when New is given no positive size:
// a few hundred bytes a record, so 250,000 keys take well under 100 MB.
const DefaultMaxEntries = 250_000

// Store wraps a store.Store; GetKey is answered from memory after the first
// read. CreateKey and UpdateKey go through to the inner store and then drop
// the cached records they touched; RecordUsage updates them in place; every
// other method passes through.
type Store struct {
	inner store.Store
	max   int

	mu     sync.Mutex
	closed bool
	// lru holds *entry values, most recently used at the front.
	lru  *list.List
	byID map[string]*list.Element
	// writes counts completed writes. A read that started before a write
	// finished may have seen the old record, so it is not cached.
	writes uint64
}

type entry struct {
	id  string
	rec store.KeyRecord
}

// New wraps inner, keeping at most maxEntries records (least recently used
// evicted first); maxEntries <= 0 means DefaultMaxEntries.
func New(inner store.Store, maxEntries int) *Store {
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	return &Store{inner: inner, max: maxEntries, lru: list.New(), byID: make(map[string]*list.Element)}
}

// Len reports how many records are cached.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}

// ViewKey calls fn with the record, from memory when it can, without the
// copy GetKey makes: the hot paths read a few fields of a record per call.
// fn runs under the cache's lock: it must be quick, must not keep the
// pointer or anything it reaches, and must not change the record.
func (s *Store) ViewKey(ctx context.Context, id string, fn func(*store.KeyRecord)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if el, ok := s.byID[id]; ok && !s.closed {
		s.lru.MoveToFront(el)
		fn(&el.Value.(*entry).rec)
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	rec, err := s.GetKey(ctx, id)
	if err != nil {
		return err
	}
	fn(&rec)
	return nil
}

// GetKey answers from memory when it can, and otherwise reads the inner
// store and remembers the record it found.
func (s *Store) GetKey(ctx context.Context, id string) (store.KeyRecord, error) {
	if err := ctx.Err(); err != nil {
		return store.KeyRecord{}, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return store.KeyRecord{}, errClosed
	}
	if el, ok := s.byID[id]; ok {
		s.lru.MoveToFront(el)
		rec := el.Value.(*entry).rec.Clone()
		s.mu.Unlock()
		return rec, nil
	}
	start := s.writes
	s.mu.Unlock()

	rec, err := s.inner.GetKey(ctx, id)
	if err != nil {
		return store.KeyRecord{}, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed && s.writes == start {
		s.add(id, rec.Clone())
	}
	return rec, nil
}

// add stores rec under id; the caller holds mu.
func (s *Store) add(id string, rec store.KeyRecord) {
	if el, ok := s.byID[id]; ok {
		// Another reader filled it first; both read after the last write.
		el.Value.(*entry).rec = rec
		s.lru.MoveToFront(el)
		return
	}
	s.byID[id] = s.lru.PushFront(&entry{id: id, rec: rec})
	for s.lru.Len() > s.max {
		oldest := s.lru.Back()
		s.lru.Remove(oldest)
		delete(s.byID, oldest.Value.(*entry).id)
	}
}

// Preload reads every record of the inner store into the cache, until the
// cache is full, so that no exchange after start-up waits for the disk.
// A record written while its page was being read is left for GetKey to
// fill, as a concurrent read's would be. It returns how many it cached.
func (s *Store) Preload(ctx context.Context) (int, error) {
	n := 0
	q := store.KeyQuery{PageSize: store.MaxPageSize}
	for {
		s.mu.Lock()
		start, full := s.writes, s.lru.Len() >= s.max
		s.mu.Unlock()
		if full {
			return n, nil
		}
		page, err := s.inner.ListKeys(ctx, q)
		if err != nil {
			return n, err
		}
		s.mu.Lock()
		if s.writes == start {
			for _, rec := range page.Keys {
				if _, ok := s.byID[rec.ID]; ok || s.lru.Len() >= s.max {
					continue
				}
				s.byID[rec.ID] = s.lru.PushBack(&entry{id: rec.ID, rec: rec})
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
		if el, ok := s.byID[id]; ok {
			s.lru.Remove(el)
			delete(s.byID, id)
		}
	}
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

// RecordUsage folds usage in the inner store and drops every cached record
// it named.
//
// After a successful flush the cached records are updated in place the
// way the inner store folded them, rather than dropped: the janitor flushes
// every key used since the last flush, and dropping them all would send the
// next exchange of every busy key to disk. A failed flush may have applied
// part of the usage, so then the records are dropped.
func (s *Store) RecordUsage(ctx context.Context, usage []store.KeyUsage) error {
	if err := s.inner.RecordUsage(ctx, usage); err != nil {
		ids := make([]string, len(usage))
		for i, u := range usage {
			ids[i] = u.ID
		}
		s.drop(ids...)
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	for _, u := range usage {
		if el, ok := s.byID[u.ID]; ok {
			store.ApplyUsage(&el.Value.(*entry).rec, u)
		}
	}
	return nil
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

// Close empties the cache, so GetKey stops answering, and closes the inner
// store.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.lru.Init()
	clear(s.byID)
	s.mu.Unlock()
	return s.inner.Close()
}
