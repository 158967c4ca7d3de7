package badger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/latchkeyhq/latchkey/store"
)

// The audit log is stored one AppendAudit call per entry: a batch of
// consecutive records under the sequence number of its first (on disk, a
// reference to the batch in its batch file, see auditfiles.go; in memory,
// the batch itself), empty index entries for the terms no earlier entry
// covers (auditindex.go), and named meta values. A synced Badger write
// costs far more than the bytes in it, so one entry per batch, rather than
// one per record and term, is what keeps the audit trail cheap on the
// exchange path.
const (
	auditBatchPrefix = "alog/b/"
	auditIndexPrefix = "alog/i/"
	auditMetaPrefix  = "alog/m/"
	// auditPruneBatches bounds the batches one pruning transaction deletes.
	auditPruneBatches = 64
)

var _ store.AuditLog = (*Store)(nil)

func auditBatchKey(first uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(auditBatchPrefix), first)
}

func auditIndexKey(term string, first uint64) []byte {
	k := make([]byte, 0, len(auditIndexPrefix)+len(term)+1+8)
	k = append(append(append(k, auditIndexPrefix...), term...), 0)
	return binary.BigEndian.AppendUint64(k, first)
}

func checkAuditTerms(terms []string) error {
	if len(terms) > store.MaxAuditTerms {
		return fmt.Errorf("%w: %d audit index terms (at most %d)", store.ErrInvalidArgument, len(terms), store.MaxAuditTerms)
	}
	for _, t := range terms {
		if t == "" || len(t) > store.MaxAuditTermLen || strings.IndexByte(t, 0) >= 0 {
			return fmt.Errorf("%w: audit index term must be 1 to %d bytes without NUL", store.ErrInvalidArgument, store.MaxAuditTermLen)
		}
	}
	return nil
}

// encodeAuditBatch lays out consecutive records: a count, then per record
// its terms and its body, each length-prefixed.
func encodeAuditBatch(recs []store.AuditRecord) []byte { return appendAuditBatch(nil, recs) }

// appendAuditBatch appends the encoding of recs to dst.
func appendAuditBatch(dst []byte, recs []store.AuditRecord) []byte {
	n := binary.MaxVarintLen64
	for _, r := range recs {
		n += 2*binary.MaxVarintLen64 + len(r.Body)
		for _, t := range r.Terms {
			n += binary.MaxVarintLen64 + len(t)
		}
	}
	v := binary.AppendUvarint(slices.Grow(dst, n), uint64(len(recs)))
	for _, r := range recs {
		v = binary.AppendUvarint(v, uint64(len(r.Terms)))
		for _, t := range r.Terms {
			v = binary.AppendUvarint(v, uint64(len(t)))
			v = append(v, t...)
		}
		v = binary.AppendUvarint(v, uint64(len(r.Body)))
		v = append(v, r.Body...)
	}
	return v
}

func decodeAuditBatch(first uint64, v []byte) ([]store.AuditRecord, error) {
	bad := fmt.Errorf("%w: corrupt audit batch %d", store.ErrUnavailable, first)
	next := func() ([]byte, bool) {
		l, k := binary.Uvarint(v)
		if k <= 0 || l > uint64(len(v)-k) {
			return nil, false
		}
		out := v[k : k+int(l)]
		v = v[k+int(l):]
		return out, true
	}
	count, k := binary.Uvarint(v)
	if k <= 0 || count == 0 || count > store.MaxAuditBatch {
		return nil, bad
	}
	v = v[k:]
	recs := make([]store.AuditRecord, 0, count)
	for i := range count {
		nt, k := binary.Uvarint(v)
		if k <= 0 || nt > store.MaxAuditTerms {
			return nil, bad
		}
		v = v[k:]
		r := store.AuditRecord{Seq: first + i}
		for range nt {
			t, ok := next()
			if !ok {
				return nil, bad
			}
			r.Terms = append(r.Terms, string(t))
		}
		body, ok := next()
		if !ok {
			return nil, bad
		}
		r.Body = slices.Clone(body)
		recs = append(recs, r)
	}
	if len(v) != 0 {
		return nil, bad
	}
	return recs, nil
}

// AppendAudit writes recs as one batch entry, its index entries and meta
// in one transaction; with SyncWrites it is on disk when this returns.
// recs must be consecutive. Ordering appends is the caller's job: the
// audit trail has one writer.
func (s *Store) AppendAudit(ctx context.Context, recs []store.AuditRecord, meta map[string][]byte) error {
	if len(recs) > store.MaxAuditBatch {
		return fmt.Errorf("%w: %d audit records in one batch (at most %d)", store.ErrInvalidArgument, len(recs), store.MaxAuditBatch)
	}
	terms := map[string]struct{}{}
	for i, r := range recs {
		if r.Seq == 0 {
			return fmt.Errorf("%w: audit sequence numbers start at 1", store.ErrInvalidArgument)
		}
		if i > 0 && r.Seq != recs[i-1].Seq+1 {
			return fmt.Errorf("%w: audit records of one batch must be consecutive", store.ErrInvalidArgument)
		}
		if err := checkAuditTerms(r.Terms); err != nil {
			return err
		}
		for _, t := range r.Terms {
			terms[t] = struct{}{}
		}
	}
	done, err := s.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	var (
		value []byte
		index []string
	)
	if len(recs) > 0 {
		index = s.cover.uncovered(terms, recs[0].Seq, s.indexSpan)
		if s.batches == nil {
			value = encodeAuditBatch(recs)
		} else {
			// Held until the reference commits: see dropAuditFiles.
			s.batches.wmu.Lock()
			defer s.batches.wmu.Unlock()
			body := appendAuditBatch(s.batches.bodyBuf[:0], recs)
			s.batches.bodyBuf = reusable(body)
			if s.dir != "" {
				if err := checkSpace(s.dir, spaceReserve+uint64(len(body))); err != nil {
					return err
				}
			}
			ref, err := s.batches.appendLocked(body, auditBatchKey(recs[0].Seq))
			if err != nil {
				return err
			}
			value = ref.encode(terms)
		}
	}
	err = s.update(ctx, func(txn *badger.Txn) error {
		if len(recs) > 0 {
			first := recs[0].Seq
			if err := set(txn, badger.NewEntry(auditBatchKey(first), value)); err != nil {
				return err
			}
			for _, t := range index {
				if err := set(txn, badger.NewEntry(auditIndexKey(t, first), nil)); err != nil {
					return err
				}
			}
		}
		return setMeta(txn, meta)
	})
	if err == nil && len(index) > 0 {
		s.cover.wrote(index, recs[0].Seq, s.indexSpan)
	}
	return err
}

func setMeta(txn *badger.Txn, meta map[string][]byte) error {
	for name, v := range meta {
		if err := set(txn, badger.NewEntry([]byte(auditMetaPrefix+name), v)); err != nil {
			return err
		}
	}
	return nil
}

// AuditMeta returns the named meta value or store.ErrNotFound.
func (s *Store) AuditMeta(ctx context.Context, name string) ([]byte, error) {
	done, err := s.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	var v []byte
	err = s.view(func(txn *badger.Txn) error {
		var found bool
		v, found, err = get(txn, []byte(auditMetaPrefix+name))
		if err == nil && !found {
			err = fmt.Errorf("%w: audit meta %q", store.ErrNotFound, name)
		}
		return err
	})
	return v, err
}

// batchAt returns the batch holding seq, if any: the last batch starting
// at or before it.
func (s *Store) batchAt(txn *badger.Txn, seq uint64) ([]store.AuditRecord, error) {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = []byte(auditBatchPrefix)
	opts.Reverse = true
	it := txn.NewIterator(opts)
	defer it.Close()
	it.Seek(auditBatchKey(seq))
	if !it.Valid() {
		return nil, nil
	}
	return s.readBatch(it.Item(), "")
}

// readBatch decodes the batch entry item, reading the batch from its file
// when the entry refers to one. A batch pruned since the reader's snapshot
// was taken reads as empty, and so does one whose term filter rules out
// term, unless term is empty.
func (s *Store) readBatch(item *badger.Item, term string) ([]store.AuditRecord, error) {
	k := item.Key()
	if len(k) != len(auditBatchPrefix)+8 {
		return nil, fmt.Errorf("%w: corrupt audit key", store.ErrUnavailable)
	}
	first := binary.BigEndian.Uint64(k[len(auditBatchPrefix):])
	var recs []store.AuditRecord
	var ref batchRef
	var inFile, ruledOut bool
	err := item.Value(func(v []byte) (err error) {
		if isBatchRef(v) {
			inFile = true
			var filter []byte
			ref, filter, err = decodeBatchRef(v)
			if err != nil {
				return fmt.Errorf("%w: audit batch %d: %w", store.ErrUnavailable, first, err)
			}
			ruledOut = term != "" && filter != nil && !filterMayContain(filter, term)
			return nil
		}
		recs, err = decodeAuditBatch(first, v)
		return err
	})
	if err != nil {
		return nil, unavailableIfBadger(err)
	}
	if !inFile || ruledOut {
		return recs, nil
	}
	if s.batches == nil {
		return nil, fmt.Errorf("%w: audit batch %d refers to a file, and the store is in memory", store.ErrUnavailable, first)
	}
	body, err := s.batches.read(ref, k)
	if errors.Is(err, errBatchPruned) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeAuditBatch(first, body)
}

// GetAudit returns one record, with its terms.
func (s *Store) GetAudit(ctx context.Context, seq uint64) (store.AuditRecord, error) {
	done, err := s.enter(ctx)
	if err != nil {
		return store.AuditRecord{}, err
	}
	defer done()
	var r store.AuditRecord
	err = s.view(func(txn *badger.Txn) error {
		recs, err := s.batchAt(txn, seq)
		if err != nil {
			return err
		}
		if len(recs) == 0 || seq >= recs[0].Seq+uint64(len(recs)) {
			return fmt.Errorf("%w: audit record %d", store.ErrNotFound, seq)
		}
		r = recs[seq-recs[0].Seq]
		return nil
	})
	return r, err
}

// ScanAudit walks records in sequence order from one read snapshot.
func (s *Store) ScanAudit(ctx context.Context, term string, from uint64, fn func(store.AuditRecord) (bool, error)) error {
	if term != "" {
		if err := checkAuditTerms([]string{term}); err != nil {
			return err
		}
	}
	done, err := s.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	return s.view(func(txn *badger.Txn) error {
		// The batch holding from may start before it.
		start := from
		if recs, err := s.batchAt(txn, from); err != nil {
			return err
		} else if len(recs) > 0 {
			start = recs[0].Seq
		}
		visit := func(recs []store.AuditRecord) (bool, error) {
			for _, r := range recs {
				if r.Seq < from || (term != "" && !slices.Contains(r.Terms, term)) {
					continue
				}
				r.Terms = nil
				if more, err := fn(r); err != nil || !more {
					return false, err
				}
			}
			return true, nil
		}
		if term == "" {
			return s.scanAuditBatches(ctx, txn, start, visit)
		}
		return s.scanAuditIndex(ctx, txn, term, start, visit)
	})
}

func (s *Store) scanAuditBatches(ctx context.Context, txn *badger.Txn, start uint64, visit func([]store.AuditRecord) (bool, error)) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = []byte(auditBatchPrefix)
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Seek(auditBatchKey(start)); it.Valid(); it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		recs, err := s.readBatch(it.Item(), "")
		if err != nil {
			return err
		}
		if more, err := visit(recs); err != nil || !more {
			return err
		}
	}
	return nil
}

// scanAuditIndex visits, in order, the batches from start on that the
// term's index entries cover and whose filters do not rule the term out.
func (s *Store) scanAuditIndex(ctx context.Context, txn *badger.Txn, term string, start uint64, visit func([]store.AuditRecord) (bool, error)) error {
	prefix := append(append([]byte(auditIndexPrefix), term...), 0)
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefix
	opts.PrefetchValues = false
	it := txn.NewIterator(opts)
	defer it.Close()
	bopts := badger.DefaultIteratorOptions
	bopts.Prefix = []byte(auditBatchPrefix)
	batches := txn.NewIterator(bopts)
	defer batches.Close()
	// Batches before next are visited, or covered by no entry.
	next := start
	// An entry from before start covers it if it reaches it.
	for it.Seek(auditIndexKey(term, start-min(start, s.indexSpan-1))); it.Valid(); it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := it.Item().Key()
		if len(k) != len(prefix)+8 {
			return fmt.Errorf("%w: corrupt audit index key", store.ErrUnavailable)
		}
		x := binary.BigEndian.Uint64(k[len(prefix):])
		if s.batches != nil {
			// Stores written before the index had spans hold an entry per
			// term and batch, beside batches without term filters: such an
			// entry names its own batch only.
			legacy, err := legacyBatchAt(batches, x)
			if err != nil {
				return err
			}
			if legacy {
				if x >= next {
					recs, err := s.readBatch(batches.Item(), term)
					if err != nil {
						return err
					}
					if more, err := visit(recs); err != nil || !more {
						return err
					}
					next = x + 1
				}
				continue
			}
		}
		end := spanEnd(x, s.indexSpan)
		if end <= next {
			continue
		}
		for batches.Seek(auditBatchKey(max(x, next))); batches.Valid(); batches.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			bk := batches.Item().Key()
			if len(bk) != len(auditBatchPrefix)+8 {
				return fmt.Errorf("%w: corrupt audit key", store.ErrUnavailable)
			}
			if binary.BigEndian.Uint64(bk[len(auditBatchPrefix):]) >= end {
				break
			}
			recs, err := s.readBatch(batches.Item(), term)
			if err != nil {
				return err
			}
			if more, err := visit(recs); err != nil || !more {
				return err
			}
		}
		next = end
	}
	return nil
}

// legacyBatchAt moves it to the batch that starts at x and reports
// whether that batch was written before term filters: stored inline, or
// behind a reference without a filter.
func legacyBatchAt(it *badger.Iterator, x uint64) (bool, error) {
	key := auditBatchKey(x)
	it.Seek(key)
	if !it.Valid() || !bytes.Equal(it.Item().Key(), key) {
		return false, nil
	}
	legacy := false
	err := it.Item().Value(func(v []byte) error {
		legacy = !isBatchRef(v) || len(v) < 2 || v[1] != batchRefV2
		return nil
	})
	if err != nil {
		return false, unavailableIfBadger(err)
	}
	return legacy, nil
}

func unavailableIfBadger(err error) error {
	if errors.Is(err, store.ErrUnavailable) {
		return err
	}
	return unavailable("read", err)
}

// PruneAudit deletes whole batches that end at or before through, in
// transactions of up to auditPruneBatches batches, each with the meta
// anchor returns for the last record it deletes.
func (s *Store) PruneAudit(ctx context.Context, through uint64, anchor func(last store.AuditRecord) map[string][]byte) (int, error) {
	total := 0
	for {
		n, err := s.pruneAuditBatches(ctx, through, anchor)
		total += n
		if err != nil {
			return total, err
		}
		if n == 0 {
			break
		}
	}
	if total == 0 {
		return 0, nil
	}
	if err := s.sweepAuditIndex(ctx); err != nil {
		return total, err
	}
	done, err := s.enter(ctx)
	if err != nil {
		return total, err
	}
	defer done()
	return total, s.dropAuditFiles()
}

// dropAuditFiles deletes the batch files that no stored batch refers to
// any more: those before the file of the oldest batch. Pruning deletes the
// batches first and the files after, so a crash in between leaves files
// that Open deletes.
func (s *Store) dropAuditFiles() error {
	if s.batches == nil {
		return nil
	}
	s.batches.wmu.Lock()
	defer s.batches.wmu.Unlock()
	var keep uint64
	err := s.view(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(auditBatchPrefix)
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		// Batches stored inline, before batch files existed, may come
		// first; the oldest reference decides.
		for it.Rewind(); it.Valid() && keep == 0; it.Next() {
			err := it.Item().Value(func(v []byte) error {
				if !isBatchRef(v) {
					return nil
				}
				ref, _, err := decodeBatchRef(v)
				if err != nil {
					return fmt.Errorf("%w: audit batch %x: %w", store.ErrUnavailable, it.Item().Key(), err)
				}
				keep = ref.file
				return nil
			})
			if err != nil {
				return unavailableIfBadger(err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.batches.dropBeforeLocked(keep)
}

func (s *Store) pruneAuditBatches(ctx context.Context, through uint64, anchor func(store.AuditRecord) map[string][]byte) (int, error) {
	done, err := s.enter(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	n := 0
	err = s.update(ctx, func(txn *badger.Txn) error {
		n = 0
		var victims [][]store.AuditRecord
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(auditBatchPrefix)
		it := txn.NewIterator(opts)
		for it.Rewind(); it.Valid() && len(victims) < auditPruneBatches; it.Next() {
			recs, err := s.readBatch(it.Item(), "")
			if err != nil {
				it.Close()
				return err
			}
			if len(recs) == 0 {
				// Pruned by a concurrent call since this snapshot.
				continue
			}
			if recs[len(recs)-1].Seq > through {
				break
			}
			victims = append(victims, recs)
		}
		it.Close()
		for _, recs := range victims {
			first := recs[0].Seq
			if err := txn.Delete(auditBatchKey(first)); err != nil {
				return unavailable("delete", err)
			}
			n += len(recs)
		}
		if len(victims) == 0 {
			return nil
		}
		last := victims[len(victims)-1]
		return setMeta(txn, anchor(last[len(last)-1]))
	})
	return n, err
}
