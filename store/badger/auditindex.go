package badger

import (
	"context"
	"encoding/binary"
	"hash/maphash"
	"math"
	"sync"

	"github.com/dgraph-io/badger/v4"
)

// The audit index has two levels, so that it costs Badger few writes even
// when every event names a different key.
//
// An index entry (term, x) says that the term may occur in the batches
// whose first sequence number lies in [x, x+span). A term gets a new entry
// only when it occurs in a batch that no entry of its covers, so a key in
// steady use costs one entry per span of events rather than one per batch:
// with 100,000 keys in use and batches of 1,024 events, one entry per key
// per million events instead of one per event. Entries start wherever
// their term first occurs, so they are not written in bursts at fixed
// boundaries. An entry written by earlier versions, one per term and
// batch, starts at a batch without a term filter, and names that batch
// only.
//
// Within that range, each batch reference carries a Bloom filter of the
// batch's terms (auditfiles.go), so a search reads only the batches that
// may hold the term; false positives cost a read and are filtered out by
// the records' own terms.
//
// Entries are not deleted with their batches, which would uncover the
// batches after them; once every batch they cover is pruned, the pruning
// sweeps them away (sweepAuditIndex).
const (
	auditIndexSpan = 1 << 20
	// coveredMax bounds the memory of which terms are covered: past it,
	// entries that no longer cover new batches are forgotten, then all.
	// Forgetting only costs an entry written again.
	coveredMax = 1 << 18
	// sweepTxnDeletes bounds the deletes of one sweeping transaction.
	sweepTxnDeletes = 1024
)

// covered remembers, for the terms written recently, where their newest
// index entry starts. Terms are held as two independent 64-bit hashes
// under seeds of this process: pointer-free for the collector, and a
// collision, which would leave a batch out of the index, is as likely as
// guessing a 128-bit key.
type covered struct {
	mu     sync.Mutex
	s1, s2 maphash.Seed
	from   map[[2]uint64]uint64
}

func newCovered() *covered {
	return &covered{s1: maphash.MakeSeed(), s2: maphash.MakeSeed(), from: map[[2]uint64]uint64{}}
}

func (c *covered) hash(term string) [2]uint64 {
	return [2]uint64{maphash.String(c.s1, term), maphash.String(c.s2, term)}
}

// spanEnd is the first sequence number past the range an entry at x
// covers.
func spanEnd(x, span uint64) uint64 {
	if x > math.MaxUint64-span {
		return math.MaxUint64
	}
	return x + span
}

// uncovered returns the terms that need an entry at first: those without
// an entry known to cover it.
func (c *covered) uncovered(terms map[string]struct{}, first, span uint64) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for t := range terms {
		x, ok := c.from[c.hash(t)]
		if !ok || first < x || first >= spanEnd(x, span) {
			out = append(out, t)
		}
	}
	return out
}

// wrote records entries at first for terms, once they are committed.
func (c *covered) wrote(terms []string, first, span uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range terms {
		c.from[c.hash(t)] = first
	}
	if len(c.from) <= coveredMax {
		return
	}
	for h, x := range c.from {
		if spanEnd(x, span) <= first {
			delete(c.from, h)
		}
	}
	if len(c.from) > coveredMax {
		clear(c.from)
	}
}

// A batch's term filter: one byte giving the number of probes, then the
// filter's bits, about ten per distinct term, for a false-positive rate
// near 1%. The hash is FNV-1a, fixed, since filters outlive the process.
const (
	filterProbes     = 7
	filterBitsPerKey = 10
	filterMinBytes   = 8
	// filterMaxBytes fits the filter of a full batch of records with
	// every term distinct.
	filterMaxBytes = 10 << 10
)

func termHash(term string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(term); i++ {
		h ^= uint64(term[i])
		h *= 1099511628211
	}
	return h
}

// appendTermFilter appends the filter of terms to dst.
func appendTermFilter(dst []byte, terms map[string]struct{}) []byte {
	n := (len(terms)*filterBitsPerKey + 7) / 8
	n = min(max(n, filterMinBytes), filterMaxBytes)
	dst = append(dst, filterProbes)
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	bits := dst[start:]
	m := uint64(n) * 8
	for t := range terms {
		h := termHash(t)
		h1, h2 := h&0xffffffff, h>>32|1
		for i := range uint64(filterProbes) {
			b := (h1 + i*h2) % m
			bits[b/8] |= 1 << (b % 8)
		}
	}
	return dst
}

// filterMayContain reports whether term may be in the batch whose filter
// is f; false is certain.
func filterMayContain(f []byte, term string) bool {
	probes, bits := uint64(f[0]), f[1:]
	m := uint64(len(bits)) * 8
	h := termHash(term)
	h1, h2 := h&0xffffffff, h>>32|1
	for i := range probes {
		b := (h1 + i*h2) % m
		if bits[b/8]&(1<<(b%8)) == 0 {
			return false
		}
	}
	return true
}

func validTermFilter(f []byte) bool {
	return len(f) >= 1+filterMinBytes && len(f) <= 1+filterMaxBytes && f[0] >= 1 && f[0] <= 16
}

// sweepAuditIndex deletes the index entries that cover no stored batch:
// those whose range ends at or before the oldest batch. With no batch
// stored it deletes nothing, since a batch being appended may rely on
// any entry. It works in rounds of at most sweepRound entries, so its
// memory stays bounded however large the index.
func (s *Store) sweepAuditIndex(ctx context.Context) error {
	from := []byte(auditIndexPrefix)
	for from != nil {
		stale, resume, err := s.staleIndexEntries(ctx, from)
		if err != nil {
			return err
		}
		for len(stale) > 0 {
			n := min(len(stale), sweepTxnDeletes)
			if err := s.deleteKeys(ctx, stale[:n]); err != nil {
				return err
			}
			stale = stale[n:]
		}
		from = resume
	}
	return nil
}

// sweepRound bounds the entries one round of sweepAuditIndex collects;
// tests lower it.
var sweepRound = 1 << 16

// staleIndexEntries returns up to sweepRound stale index entries from
// from on, and where the next round starts, nil when the index is done.
func (s *Store) staleIndexEntries(ctx context.Context, from []byte) (stale [][]byte, resume []byte, err error) {
	done, err := s.enter(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer done()
	err = s.view(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(auditBatchPrefix)
		opts.PrefetchValues = false
		bit := txn.NewIterator(opts)
		bit.Rewind()
		if !bit.Valid() {
			bit.Close()
			return nil
		}
		oldest := binary.BigEndian.Uint64(bit.Item().Key()[len(auditBatchPrefix):])
		bit.Close()

		opts.Prefix = []byte(auditIndexPrefix)
		it := txn.NewIterator(opts)
		defer it.Close()
		it.Seek(from)
		for it.Valid() {
			if err := ctx.Err(); err != nil {
				return err
			}
			k := it.Item().Key()
			if len(k) < len(auditIndexPrefix)+1+8 || k[len(k)-9] != 0 {
				it.Next() // not ours to judge; reads report it
				continue
			}
			if spanEnd(binary.BigEndian.Uint64(k[len(k)-8:]), s.indexSpan) <= oldest {
				if len(stale) == sweepRound {
					resume = it.Item().KeyCopy(nil)
					return nil
				}
				stale = append(stale, it.Item().KeyCopy(nil))
				it.Next()
				continue
			}
			// The term's later entries start later still: go to the next
			// term. Terms hold no NUL, so every entry of this term sorts
			// before the term followed by 0x01.
			next := append(append([]byte(nil), k[:len(k)-9]...), 1)
			it.Seek(next)
		}
		return nil
	})
	return stale, resume, err
}

// deleteKeys deletes keys in one transaction.
func (s *Store) deleteKeys(ctx context.Context, keys [][]byte) error {
	done, err := s.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	return s.update(ctx, func(txn *badger.Txn) error {
		for _, k := range keys {
			if err := txn.Delete(k); err != nil {
				return unavailable("delete", err)
			}
		}
		return nil
	})
}
