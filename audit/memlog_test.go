package audit

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/latchkeyhq/latchkey/store"
)

// memLog is an in-memory store.AuditLog whose records a test can edit,
// delete or fail, standing in for an attacker with write access to disk.
type memLog struct {
	mu      sync.Mutex
	recs    map[uint64]store.AuditRecord
	meta    map[string][]byte
	appends int
	fail    error
	block   chan struct{} // when set, AppendAudit waits for it to close
	blocked int           // calls that reached block
}

var _ store.AuditLog = (*memLog)(nil)

func newMemLog() *memLog {
	return &memLog{recs: map[uint64]store.AuditRecord{}, meta: map[string][]byte{}}
}

func (m *memLog) AppendAudit(ctx context.Context, recs []store.AuditRecord, meta map[string][]byte) error {
	m.mu.Lock()
	block := m.block
	if block != nil {
		m.blocked++
	}
	m.mu.Unlock()
	if block != nil {
		<-block
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.appends++
	if m.fail != nil {
		return m.fail
	}
	for _, r := range recs {
		r.Body = slices.Clone(r.Body)
		m.recs[r.Seq] = r
	}
	maps.Copy(m.meta, meta)
	return nil
}

func (m *memLog) AuditMeta(ctx context.Context, name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.meta[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", store.ErrNotFound, name)
	}
	return slices.Clone(v), nil
}

func (m *memLog) ScanAudit(ctx context.Context, term string, from uint64, fn func(store.AuditRecord) (bool, error)) error {
	m.mu.Lock()
	var out []store.AuditRecord
	for _, seq := range slices.Sorted(maps.Keys(m.recs)) {
		r := m.recs[seq]
		if seq >= from && (term == "" || slices.Contains(r.Terms, term)) {
			out = append(out, store.AuditRecord{Seq: r.Seq, Body: slices.Clone(r.Body)})
		}
	}
	m.mu.Unlock()
	for _, r := range out {
		more, err := fn(r)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func (m *memLog) GetAudit(ctx context.Context, seq uint64) (store.AuditRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[seq]
	if !ok {
		return store.AuditRecord{}, fmt.Errorf("%w: %d", store.ErrNotFound, seq)
	}
	r.Body = slices.Clone(r.Body)
	return r, nil
}

func (m *memLog) PruneAudit(ctx context.Context, through uint64, anchor func(store.AuditRecord) map[string][]byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	var last store.AuditRecord
	for _, seq := range slices.Sorted(maps.Keys(m.recs)) {
		if seq > through {
			break
		}
		last = m.recs[seq]
		delete(m.recs, seq)
		n++
	}
	if n > 0 {
		maps.Copy(m.meta, anchor(last))
	}
	return n, nil
}

// edit rewrites the stored body of seq with f.
func (m *memLog) edit(seq uint64, f func([]byte) []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.recs[seq]
	r.Body = f(slices.Clone(r.Body))
	m.recs[seq] = r
}

func (m *memLog) remove(seq uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.recs, seq)
}

func (m *memLog) swap(a, b uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ra, rb := m.recs[a], m.recs[b]
	ra.Seq, rb.Seq = b, a
	m.recs[a], m.recs[b] = rb, ra
}

func (m *memLog) setFail(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail = err
}

func (m *memLog) appendCalls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.appends
}
