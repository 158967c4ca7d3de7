package badger

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/latchkeyhq/latchkey/store"
)

// indexEntries lists the audit index as "term@x".
func indexEntries(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(auditIndexPrefix)
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			out = append(out, fmt.Sprintf("%s@%d", k[len(auditIndexPrefix):len(k)-9], binary.BigEndian.Uint64(k[len(k)-8:])))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// spanRecs are records from..to whose key term is "k:<seq%3>", plus
// "k:rare" on every record of rare, and "t:exchange".
func spanRecs(from, to uint64, rare map[uint64]bool) []store.AuditRecord {
	recs := auditRecs(from, to)
	for i := range recs {
		if rare[recs[i].Seq] {
			recs[i].Terms = append(recs[i].Terms, "k:rare")
		}
	}
	return recs
}

// recordTerms maps each stored record from from on to its terms.
func recordTerms(t *testing.T, s *Store, from uint64) map[uint64][]string {
	t.Helper()
	out := map[uint64][]string{}
	for seq := from; ; seq++ {
		r, err := s.GetAudit(context.Background(), seq)
		if err != nil {
			return out
		}
		out[seq] = r.Terms
	}
}

// bruteScan is what a term scan from from must return: the records of
// all, in order, filtered by their own terms.
func bruteScan(all map[uint64][]string, term string, from uint64) []uint64 {
	var out []uint64
	for seq, terms := range all {
		if seq >= from && slices.Contains(terms, term) {
			out = append(out, seq)
		}
	}
	slices.Sort(out)
	return out
}

func TestAuditIndexOneEntryPerTermAndSpan(t *testing.T) {
	ctx := context.Background()
	dir, key := t.TempDir(), newKey(t)
	s := mustOpen(t, Options{Dir: dir, EncryptionKey: key})
	s.indexSpan = 1000
	rare := map[uint64]bool{1450: true, 2999: true, 3050: true}
	for first := uint64(1); first <= 2900; first += 100 {
		if err := s.AppendAudit(ctx, spanRecs(first, first+99, rare), nil); err != nil {
			t.Fatal(err)
		}
	}
	// 29 batches; each steady term gets an entry at the first batch no
	// earlier entry reaches: 1, 1001 and 2001. One per batch would be 116
	// entries.
	want := []string{"k:0@1", "k:0@1001", "k:0@2001", "k:1@1", "k:1@1001", "k:1@2001",
		"k:2@1", "k:2@1001", "k:2@2001", "k:rare@1401",
		"t:exchange@1", "t:exchange@1001", "t:exchange@2001"}
	if got := indexEntries(t, s); !slices.Equal(got, want) {
		t.Fatalf("index entries\n got %v\nwant %v", got, want)
	}
	check := func(t *testing.T, s *Store) {
		t.Helper()
		all := recordTerms(t, s, 1)
		for _, term := range []string{"k:0", "k:1", "k:2", "k:rare", "t:exchange", "k:none"} {
			// From the start, mid-span, from a batch an entry from before
			// it reaches, from the last batch, and past the end.
			for _, from := range []uint64{0, 1, 950, 1001, 1450, 2950, 3000, 3001} {
				got := scanSeqs(t, s, term, from)
				if want := bruteScan(all, term, from); !slices.Equal(got, want) {
					t.Errorf("scan %s from %d: %d records, want %d (%v... vs %v...)", term, from, len(got), len(want), got[:min(len(got), 3)], want[:min(len(want), 3)])
				}
			}
		}
	}
	check(t, s)

	// A reopened store has forgotten what it wrote, so it writes new
	// entries, which overlap the old ones (k:0@2001 reaches 3000); scans
	// see no record twice.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, Options{Dir: dir, EncryptionKey: key})
	s.indexSpan = 1000
	for first := uint64(2901); first <= 3001; first += 100 {
		if err := s.AppendAudit(ctx, spanRecs(first, first+99, rare), nil); err != nil {
			t.Fatal(err)
		}
	}
	want = append(want, "k:0@2901", "k:1@2901", "k:2@2901", "k:rare@2901", "t:exchange@2901")
	slices.Sort(want)
	if got := indexEntries(t, s); !slices.Equal(got, want) {
		t.Errorf("index entries after reopening\n got %v\nwant %v", got, want)
	}
	check(t, s)
}

// A term scan reads only the batches whose filters may hold the term: a
// damaged batch elsewhere in its span does not stop it.
func TestAuditTermScanSkipsBatchesItsFilterRulesOut(t *testing.T) {
	ctx := context.Background()
	dir, key := t.TempDir(), newKey(t)
	s := mustOpen(t, Options{Dir: dir, EncryptionKey: key})
	rare := map[uint64]bool{250: true}
	for first := uint64(1); first <= 400; first += 100 {
		if err := s.AppendAudit(ctx, spanRecs(first, first+99, rare), nil); err != nil {
			t.Fatal(err)
		}
	}
	ref, filter, err := decodeBatchRef(rawBatchValue(t, s, 101))
	if err != nil || filterMayContain(filter, "k:rare") {
		t.Fatalf("batch 101: %v, or its filter admits a term it lacks", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, batchDirName, fmt.Sprintf("%016x%s", ref.file, batchSuffix)), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, ref.off+int64(ref.size)/2); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, ref.off+int64(ref.size)/2); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()

	if got := scanSeqs(t, s, "k:rare", 0); !slices.Equal(got, []uint64{250}) {
		t.Errorf("scan k:rare = %v, want [250]", got)
	}
	err = s.ScanAudit(ctx, "k:1", 0, func(store.AuditRecord) (bool, error) { return true, nil })
	if err == nil {
		t.Error("a scan of a term in the damaged batch did not report the damage")
	}
}

func TestAuditIndexSweptOncePrunedPastIt(t *testing.T) {
	ctx := context.Background()
	// Rounds of three: each sweep below takes more than one.
	defer func(n int) { sweepRound = n }(sweepRound)
	sweepRound = 3
	s := mustOpen(t, Options{Dir: t.TempDir(), EncryptionKey: newKey(t)})
	s.indexSpan = 1000
	rare := map[uint64]bool{150: true}
	for first := uint64(1); first <= 3000; first += 100 {
		if err := s.AppendAudit(ctx, spanRecs(first, first+99, rare), nil); err != nil {
			t.Fatal(err)
		}
	}
	// Pruning through 1950 keeps the batch at 1901 and after: the entries
	// at 1 (reaching 1000) go, those at 1001 still cover 1901..2000.
	if _, err := s.PruneAudit(ctx, 1950, func(store.AuditRecord) map[string][]byte { return nil }); err != nil {
		t.Fatal(err)
	}
	want := []string{"k:0@1001", "k:0@2001", "k:1@1001", "k:1@2001", "k:2@1001", "k:2@2001",
		"t:exchange@1001", "t:exchange@2001"}
	if got := indexEntries(t, s); !slices.Equal(got, want) {
		t.Fatalf("index after pruning through 1950\n got %v\nwant %v", got, want)
	}
	if got, want := scanSeqs(t, s, "k:1", 0), bruteScan(recordTerms(t, s, 1901), "k:1", 0); len(want) != 366 || !slices.Equal(got, want) {
		t.Errorf("scan k:1 after pruning: %d records from %v, want %d", len(got), got[:min(len(got), 1)], len(want))
	}
	if _, err := s.PruneAudit(ctx, 2000, func(store.AuditRecord) map[string][]byte { return nil }); err != nil {
		t.Fatal(err)
	}
	want = []string{"k:0@2001", "k:1@2001", "k:2@2001", "t:exchange@2001"}
	if got := indexEntries(t, s); !slices.Equal(got, want) {
		t.Errorf("index after pruning through 2000\n got %v\nwant %v", got, want)
	}
	// Everything pruned: the last entries stay, for a batch being
	// appended may rely on them, until a later prune finds batches again.
	if _, err := s.PruneAudit(ctx, 3000, func(store.AuditRecord) map[string][]byte { return nil }); err != nil {
		t.Fatal(err)
	}
	if got := indexEntries(t, s); !slices.Equal(got, want) {
		t.Errorf("index after pruning everything\n got %v\nwant %v", got, want)
	}
	if err := s.AppendAudit(ctx, spanRecs(3001, 3100, nil), nil); err != nil {
		t.Fatal(err)
	}
	if got, want := scanSeqs(t, s, "k:0", 0), bruteScan(recordTerms(t, s, 3001), "k:0", 0); len(want) != 33 || !slices.Equal(got, want) {
		t.Errorf("scan after pruning everything and appending: %v", got)
	}
}

func TestTermFilterHasNoFalseNegatives(t *testing.T) {
	for _, n := range []int{0, 1, 3, 100, 1024, 8192} {
		terms := map[string]struct{}{}
		for i := range n {
			terms[fmt.Sprintf("k:lk_%08x", i*7919)] = struct{}{}
		}
		f := appendTermFilter(nil, terms)
		if !validTermFilter(f) {
			t.Fatalf("%d terms: the filter (%d bytes) is not valid", n, len(f))
		}
		for term := range terms {
			if !filterMayContain(f, term) {
				t.Fatalf("%d terms: %q ruled out", n, term)
			}
		}
		if n < 100 {
			continue
		}
		fp := 0
		const probes = 20000
		for i := range probes {
			if filterMayContain(f, fmt.Sprintf("a:absent-%d", i)) {
				fp++
			}
		}
		// About 1% at ten bits a term; the largest filter holds fewer.
		if limit := probes * 3 / 100; fp > limit {
			t.Errorf("%d terms: %d of %d absent terms admitted", n, fp, probes)
		}
	}
}

func TestCoveredForgetsWithinItsBound(t *testing.T) {
	c := newCovered()
	const span = 1000
	terms := func(from, n int) map[string]struct{} {
		m := map[string]struct{}{}
		for i := range n {
			m[fmt.Sprintf("k:%d", from+i)] = struct{}{}
		}
		return m
	}
	early := terms(0, 10)
	c.wrote(slices.Collect(maps.Keys(early)), 1, span)
	if got := c.uncovered(early, 500, span); len(got) != 0 {
		t.Errorf("within the span: %v uncovered", got)
	}
	if got := c.uncovered(early, 1001, span); len(got) != 10 {
		t.Errorf("past the span: %d of 10 uncovered", len(got))
	}
	// Filling past the bound at 5000 forgets the entries that cannot
	// cover 5000 or later, and keeps the rest.
	many := slices.Collect(maps.Keys(terms(100, coveredMax)))
	c.wrote(many[:coveredMax/2], 4500, span)
	c.wrote(many[coveredMax/2:], 5000, span)
	if len(c.from) != coveredMax {
		t.Errorf("%d remembered, want %d", len(c.from), coveredMax)
	}
	if got := c.uncovered(map[string]struct{}{many[0]: {}}, 5100, span); len(got) != 0 {
		t.Error("a covering entry was forgotten")
	}
	// Past the bound with nothing expired, it starts over.
	c.wrote([]string{"k:one-more"}, 5001, span)
	if len(c.from) != 0 {
		t.Errorf("%d remembered after overflowing, want 0", len(c.from))
	}
}

// An index entry written before spans names its own batch only: a term
// scan over an older store reads no other batch without a filter.
func TestAuditLegacyIndexEntriesNameTheirBatchOnly(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, Options{Dir: t.TempDir(), EncryptionKey: newKey(t)})
	rare := map[uint64]bool{5: true}
	err := s.db.Update(func(txn *badger.Txn) error {
		// Two batches as older versions stored them: inline, with an
		// entry per term and batch. The second does not hold k:rare and
		// is damaged, so reading it fails.
		if err := txn.Set(auditBatchKey(1), encodeAuditBatch(spanRecs(1, 10, rare))); err != nil {
			return err
		}
		if err := txn.Set(auditBatchKey(11), []byte{0x05, 0xff}); err != nil {
			return err
		}
		for _, k := range [][]byte{auditIndexKey("k:rare", 1), auditIndexKey("t:exchange", 1), auditIndexKey("t:exchange", 11)} {
			if err := txn.Set(k, nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rare[25] = true
	if err := s.AppendAudit(ctx, spanRecs(21, 30, rare), nil); err != nil {
		t.Fatal(err)
	}
	if got := scanSeqs(t, s, "k:rare", 0); !slices.Equal(got, []uint64{5, 25}) {
		t.Errorf("scan k:rare = %v, want [5 25]", got)
	}
	if err := s.ScanAudit(ctx, "t:exchange", 0, func(store.AuditRecord) (bool, error) { return true, nil }); err == nil {
		t.Error("a scan of a term the damaged batch is indexed under did not report the damage")
	}
}
