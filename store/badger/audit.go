package badger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/latchkeyhq/latchkey/store"
)

// Audit records live under three prefixes: the records by sequence
// number, one empty index entry per term and record, and named meta values.
const (
	auditEventPrefix = "alog/e/"
	auditIndexPrefix = "alog/i/"
	auditMetaPrefix  = "alog/m/"
	// auditPruneBatch bounds the records one pruning transaction deletes,
	// each with up to store.MaxAuditTerms index entries.
	auditPruneBatch = 512
)

var _ store.AuditLog = (*Store)(nil)

func auditEventKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(auditEventPrefix), seq)
}

func auditIndexKey(term string, seq uint64) []byte {
	k := make([]byte, 0, len(auditIndexPrefix)+len(term)+1+8)
	k = append(append(append(k, auditIndexPrefix...), term...), 0)
	return binary.BigEndian.AppendUint64(k, seq)
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

// encodeAuditValue prefixes the body with the record's terms, so pruning
// can find the index entries to delete without decoding the body.
func encodeAuditValue(r store.AuditRecord) []byte {
	n := binary.MaxVarintLen64 + len(r.Body)
	for _, t := range r.Terms {
		n += binary.MaxVarintLen64 + len(t)
	}
	v := make([]byte, 0, n)
	v = binary.AppendUvarint(v, uint64(len(r.Terms)))
	for _, t := range r.Terms {
		v = binary.AppendUvarint(v, uint64(len(t)))
		v = append(v, t...)
	}
	return append(v, r.Body...)
}

func decodeAuditValue(seq uint64, v []byte, withTerms bool) (store.AuditRecord, error) {
	bad := fmt.Errorf("%w: corrupt audit record %d", store.ErrUnavailable, seq)
	n, k := binary.Uvarint(v)
	if k <= 0 || n > store.MaxAuditTerms {
		return store.AuditRecord{}, bad
	}
	v = v[k:]
	r := store.AuditRecord{Seq: seq}
	for range n {
		l, k := binary.Uvarint(v)
		if k <= 0 || l > uint64(len(v)-k) {
			return store.AuditRecord{}, bad
		}
		if withTerms {
			r.Terms = append(r.Terms, string(v[k:k+int(l)]))
		}
		v = v[k+int(l):]
	}
	r.Body = append([]byte(nil), v...)
	return r, nil
}

// AppendAudit writes recs, their index entries and meta in one transaction;
// with SyncWrites it is on disk when this returns. Concurrent appends are
// the caller's to order: the audit trail has one writer.
func (s *Store) AppendAudit(ctx context.Context, recs []store.AuditRecord, meta map[string][]byte) error {
	if len(recs) > store.MaxAuditBatch {
		return fmt.Errorf("%w: %d audit records in one batch (at most %d)", store.ErrInvalidArgument, len(recs), store.MaxAuditBatch)
	}
	for _, r := range recs {
		if r.Seq == 0 {
			return fmt.Errorf("%w: audit sequence numbers start at 1", store.ErrInvalidArgument)
		}
		if err := checkAuditTerms(r.Terms); err != nil {
			return err
		}
	}
	done, err := s.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	return s.update(ctx, func(txn *badger.Txn) error {
		for _, r := range recs {
			if err := set(txn, badger.NewEntry(auditEventKey(r.Seq), encodeAuditValue(r))); err != nil {
				return err
			}
			for _, t := range r.Terms {
				if err := set(txn, badger.NewEntry(auditIndexKey(t, r.Seq), nil)); err != nil {
					return err
				}
			}
		}
		return setMeta(txn, meta)
	})
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

// GetAudit returns one record, with its terms.
func (s *Store) GetAudit(ctx context.Context, seq uint64) (store.AuditRecord, error) {
	done, err := s.enter(ctx)
	if err != nil {
		return store.AuditRecord{}, err
	}
	defer done()
	var r store.AuditRecord
	err = s.view(func(txn *badger.Txn) error {
		v, found, err := get(txn, auditEventKey(seq))
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("%w: audit record %d", store.ErrNotFound, seq)
		}
		r, err = decodeAuditValue(seq, v, true)
		return err
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
		if term == "" {
			return scanAuditEvents(ctx, txn, from, fn)
		}
		return scanAuditIndex(ctx, txn, term, from, fn)
	})
}

func scanAuditEvents(ctx context.Context, txn *badger.Txn, from uint64, fn func(store.AuditRecord) (bool, error)) error {
	opts := badger.DefaultIteratorOptions
	opts.Prefix = []byte(auditEventPrefix)
	it := txn.NewIterator(opts)
	defer it.Close()
	n := 0
	for it.Seek(auditEventKey(from)); it.Valid(); it.Next() {
		if n++; n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		item := it.Item()
		k := item.Key()
		if len(k) != len(auditEventPrefix)+8 {
			return fmt.Errorf("%w: corrupt audit key", store.ErrUnavailable)
		}
		seq := binary.BigEndian.Uint64(k[len(auditEventPrefix):])
		var r store.AuditRecord
		err := item.Value(func(v []byte) (err error) {
			r, err = decodeAuditValue(seq, v, false)
			return err
		})
		if err != nil {
			return unavailableIfBadger(err)
		}
		more, err := fn(r)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func scanAuditIndex(ctx context.Context, txn *badger.Txn, term string, from uint64, fn func(store.AuditRecord) (bool, error)) error {
	prefix := append(append([]byte(auditIndexPrefix), term...), 0)
	opts := badger.DefaultIteratorOptions
	opts.Prefix = prefix
	opts.PrefetchValues = false
	it := txn.NewIterator(opts)
	defer it.Close()
	n := 0
	for it.Seek(auditIndexKey(term, from)); it.Valid(); it.Next() {
		if n++; n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		k := it.Item().Key()
		if len(k) != len(prefix)+8 {
			return fmt.Errorf("%w: corrupt audit index key", store.ErrUnavailable)
		}
		seq := binary.BigEndian.Uint64(k[len(prefix):])
		v, found, err := get(txn, auditEventKey(seq))
		if err != nil {
			return err
		}
		if !found {
			// A record pruned after its index entry was read in an older
			// snapshot cannot happen inside one snapshot; a missing record
			// here means the index is damaged.
			return fmt.Errorf("%w: audit index names missing record %d", store.ErrUnavailable, seq)
		}
		r, err := decodeAuditValue(seq, v, false)
		if err != nil {
			return err
		}
		more, err := fn(r)
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func unavailableIfBadger(err error) error {
	if errors.Is(err, store.ErrUnavailable) {
		return err
	}
	return unavailable("read", err)
}

// PruneAudit deletes records up to through in batches of auditPruneBatch,
// each with the meta anchor returns for its last record.
func (s *Store) PruneAudit(ctx context.Context, through uint64, anchor func(last store.AuditRecord) map[string][]byte) (int, error) {
	total := 0
	for {
		n, last, err := s.pruneAuditBatch(ctx, through, anchor)
		total += n
		if err != nil || n == 0 || last >= through {
			return total, err
		}
	}
}

func (s *Store) pruneAuditBatch(ctx context.Context, through uint64, anchor func(store.AuditRecord) map[string][]byte) (int, uint64, error) {
	done, err := s.enter(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer done()
	n, last := 0, uint64(0)
	err = s.update(ctx, func(txn *badger.Txn) error {
		n, last = 0, 0
		var victims []store.AuditRecord
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(auditEventPrefix)
		it := txn.NewIterator(opts)
		for it.Rewind(); it.Valid() && len(victims) < auditPruneBatch; it.Next() {
			k := it.Item().Key()
			seq := binary.BigEndian.Uint64(k[len(auditEventPrefix):])
			if seq > through {
				break
			}
			var r store.AuditRecord
			err := it.Item().Value(func(v []byte) (err error) {
				r, err = decodeAuditValue(seq, v, true)
				return err
			})
			if err != nil {
				it.Close()
				return unavailableIfBadger(err)
			}
			victims = append(victims, r)
		}
		it.Close()
		for _, r := range victims {
			if err := txn.Delete(auditEventKey(r.Seq)); err != nil {
				return unavailable("delete", err)
			}
			for _, t := range r.Terms {
				if err := txn.Delete(auditIndexKey(t, r.Seq)); err != nil {
					return unavailable("delete", err)
				}
			}
			n, last = n+1, r.Seq
		}
		if n == 0 {
			return nil
		}
		return setMeta(txn, anchor(victims[n-1]))
	})
	return n, last, err
}
