package badger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/latchkeyhq/latchkey/store"
)

// batchFileNums lists the audit batch files of a store's folder.
func batchFileNums(t *testing.T, dir string) []uint64 {
	t.Helper()
	nums, err := listBatchFiles(filepath.Join(dir, batchDirName))
	if err != nil {
		t.Fatal(err)
	}
	return nums
}

// rawBatchValue returns the Badger value stored for the batch starting at
// first.
func rawBatchValue(t *testing.T, s *Store, first uint64) []byte {
	t.Helper()
	var v []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(auditBatchKey(first))
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func appendBatches(t *testing.T, s *Store, size, count int) {
	t.Helper()
	for i := range count {
		from := uint64(i*size + 1)
		if err := s.AppendAudit(context.Background(), auditRecs(from, from+uint64(size)-1), nil); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAuditBatchesLiveInSealedFiles(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	s := mustOpen(t, Options{Dir: dir, EncryptionKey: key})
	appendBatches(t, s, 100, 3)

	v := rawBatchValue(t, s, 101)
	ref, filter, err := decodeBatchRef(v)
	if err != nil || len(v) != batchRefLen+1+filterMinBytes || len(filter) != 1+filterMinBytes {
		t.Fatalf("Badger holds %d bytes for batch 101 (%v), want a %d-byte reference and a %d-byte filter", len(v), err, batchRefLen, 1+filterMinBytes)
	}
	for _, term := range []string{"k:0", "k:1", "k:2", "t:exchange"} {
		if !filterMayContain(filter, term) {
			t.Errorf("the filter of batch 101 rules out %q", term)
		}
	}
	if ref.off == 0 || ref.file != batchFileNums(t, dir)[0] {
		t.Errorf("batch 101 at %+v, want after batch 1 in file %v", ref, batchFileNums(t, dir))
	}
	raw, err := os.ReadFile(filepath.Join(dir, batchDirName, fmt.Sprintf("%016x%s", ref.file, batchSuffix)))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("body-150")) || bytes.Contains(raw, []byte("t:exchange")) {
		t.Error("the batch file holds plaintext")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, Options{Dir: dir, EncryptionKey: key})
	if got := scanSeqs(t, s, "k:2", 290); fmt.Sprint(got) != "[290 293 296 299]" {
		t.Errorf("index scan after reopen = %v", got)
	}
	if got := scanSeqs(t, s, "", 1); len(got) != 300 || got[299] != 300 {
		t.Errorf("full scan after reopen: %d records", len(got))
	}
	// Appends after a reopen go to a new file; both are read.
	appendBatches2 := auditRecs(301, 350)
	if err := s.AppendAudit(context.Background(), appendBatches2, nil); err != nil {
		t.Fatal(err)
	}
	if nums := batchFileNums(t, dir); len(nums) != 2 {
		t.Errorf("batch files after reopen and append: %v, want 2", nums)
	}
	if got := scanSeqs(t, s, "", 295); fmt.Sprint(got[:7]) != "[295 296 297 298 299 300 301]" || len(got) != 56 {
		t.Errorf("scan across files = %v", got)
	}
}

// A store written before batch files existed holds its batches inline;
// they are read, and pruned, beside the new ones.
func TestAuditInlineBatchesStillRead(t *testing.T) {
	ctx := context.Background()
	dir, key := t.TempDir(), newKey(t)
	s := mustOpen(t, Options{Dir: dir, EncryptionKey: key})
	err := s.db.Update(func(txn *badger.Txn) error {
		recs := auditRecs(1, 10)
		if err := txn.Set(auditBatchKey(1), encodeAuditBatch(recs)); err != nil {
			return err
		}
		for _, term := range []string{"k:0", "k:1", "k:2", "t:exchange"} {
			if err := txn.Set(auditIndexKey(term, 1), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, auditRecs(11, 20), nil); err != nil {
		t.Fatal(err)
	}
	if got := scanSeqs(t, s, "k:1", 0); fmt.Sprint(got) != "[1 4 7 10 13 16 19]" {
		t.Errorf("index scan over inline and file batches = %v", got)
	}
	if n, err := s.PruneAudit(ctx, 10, func(store.AuditRecord) map[string][]byte { return nil }); n != 10 || err != nil {
		t.Fatalf("PruneAudit = %d, %v", n, err)
	}
	if got := scanSeqs(t, s, "", 0); len(got) != 10 || got[0] != 11 {
		t.Errorf("after pruning the inline batch: %v", got)
	}
	if nums := batchFileNums(t, dir); len(nums) != 1 {
		t.Errorf("pruning the inline batch touched the batch files: %v", nums)
	}
}

func TestAuditBatchFilesDeletedByPruning(t *testing.T) {
	ctx := context.Background()
	dir, key := t.TempDir(), newKey(t)
	s := mustOpen(t, Options{Dir: dir, EncryptionKey: key})
	// About two batches of 100 records to a file.
	s.batches.maxSize = 3 << 10
	appendBatches(t, s, 100, 8)
	nums := batchFileNums(t, dir)
	if len(nums) < 3 {
		t.Fatalf("%d batch files, want several", len(nums))
	}
	oldest := func() uint64 {
		ref, _, err := decodeBatchRef(rawBatchValue(t, s, 401))
		if err != nil {
			t.Fatal(err)
		}
		return ref.file
	}
	keepFrom := oldest()
	if _, err := s.PruneAudit(ctx, 400, func(store.AuditRecord) map[string][]byte { return nil }); err != nil {
		t.Fatal(err)
	}
	left := batchFileNums(t, dir)
	if left[0] != keepFrom || len(left) != len(nums)-int(keepFrom-nums[0]) {
		t.Errorf("files %v after pruning through 400, want %v from %d on", left, nums, keepFrom)
	}
	if got := scanSeqs(t, s, "", 0); len(got) != 400 || got[0] != 401 {
		t.Errorf("after pruning: %d records from %v", len(got), got[:1])
	}

	// Pruning everything leaves the file being written, and no other.
	if _, err := s.PruneAudit(ctx, 800, func(store.AuditRecord) map[string][]byte { return nil }); err != nil {
		t.Fatal(err)
	}
	if left := batchFileNums(t, dir); len(left) != 1 || left[0] != nums[len(nums)-1] {
		t.Errorf("files %v after pruning everything, want only the current %d", left, nums[len(nums)-1])
	}
}

// A crash between pruning's transaction and its file deletion leaves files
// that nothing refers to; the next Open deletes them.
func TestAuditBatchFilesLeftByACrashedPruneAreDeletedAtOpen(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	s := mustOpen(t, Options{Dir: dir, EncryptionKey: key})
	s.batches.maxSize = 3 << 10
	appendBatches(t, s, 100, 6)
	before := batchFileNums(t, dir)
	// The prune's transaction, without the deletion that follows it.
	if _, err := s.pruneAuditBatches(context.Background(), 400, func(store.AuditRecord) map[string][]byte { return nil }); err != nil {
		t.Fatal(err)
	}
	if got := batchFileNums(t, dir); !slices.Equal(got, before) {
		t.Fatalf("files changed before the deletion step: %v -> %v", before, got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, Options{Dir: dir, EncryptionKey: key})
	after := batchFileNums(t, dir)
	if len(after) >= len(before) {
		t.Errorf("files %v after reopen, want fewer than %v", after, before)
	}
	if got := scanSeqs(t, s, "", 0); len(got) != 200 || got[0] != 401 {
		t.Errorf("after reopen: %d records", len(got))
	}
}

// A crash after a batch is written but before its reference commits
// leaves bytes, whole or torn, at the end of a file; nothing refers to
// them and later batches are unaffected.
func TestAuditBatchFileTailFromACrash(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	s := mustOpen(t, Options{Dir: dir, EncryptionKey: key})
	appendBatches(t, s, 50, 2)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	nums := batchFileNums(t, dir)
	path := filepath.Join(dir, batchDirName, fmt.Sprintf("%016x%s", nums[len(nums)-1], batchSuffix))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(bytes.Repeat([]byte{0xa5}, 777)); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	s = mustOpen(t, Options{Dir: dir, EncryptionKey: key})
	if err := s.AppendAudit(context.Background(), auditRecs(101, 150), nil); err != nil {
		t.Fatal(err)
	}
	if got := scanSeqs(t, s, "", 0); len(got) != 150 || got[149] != 150 {
		t.Errorf("after a torn tail: %d records", len(got))
	}
}

func TestAuditBatchDamageIsReported(t *testing.T) {
	ctx := context.Background()
	var key []byte
	setup := func(t *testing.T) (*Store, string, batchRef) {
		dir := t.TempDir()
		key = newKey(t)
		s := mustOpen(t, Options{Dir: dir, EncryptionKey: key})
		appendBatches(t, s, 10, 3)
		ref, _, err := decodeBatchRef(rawBatchValue(t, s, 11))
		if err != nil {
			t.Fatal(err)
		}
		return s, filepath.Join(dir, batchDirName, fmt.Sprintf("%016x%s", ref.file, batchSuffix)), ref
	}
	wantUnavailable := func(t *testing.T, s *Store, seq uint64, says string) {
		t.Helper()
		_, err := s.GetAudit(ctx, seq)
		if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), says) {
			t.Errorf("GetAudit(%d) = %v, want unavailable: %s", seq, err, says)
		}
		err = s.ScanAudit(ctx, "", 0, func(store.AuditRecord) (bool, error) { return true, nil })
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("ScanAudit over the damage = %v, want unavailable", err)
		}
	}

	t.Run("flipped byte", func(t *testing.T) {
		s, path, ref := setup(t)
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1)
		off := ref.off + int64(ref.size)/2
		if _, err := f.ReadAt(b, off); err != nil {
			t.Fatal(err)
		}
		b[0] ^= 0x01
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
		_ = f.Close()
		wantUnavailable(t, s, 15, "fails its authentication")
		if r, err := s.GetAudit(ctx, 5); err != nil || string(r.Body) != "body-5" {
			t.Errorf("an intact batch of the same file: %+v, %v", r, err)
		}
	})
	t.Run("batch moved to another sequence number", func(t *testing.T) {
		s, _, _ := setup(t)
		// Batch 21's reference stored as batch 11's: same file, valid
		// sealing, wrong place.
		v := rawBatchValue(t, s, 21)
		if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(auditBatchKey(11), v) }); err != nil {
			t.Fatal(err)
		}
		wantUnavailable(t, s, 15, "fails its authentication")
	})
	t.Run("file deleted", func(t *testing.T) {
		s, path, _ := setup(t)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		s = mustOpen(t, Options{Dir: filepath.Dir(filepath.Dir(path)), EncryptionKey: key})
		wantUnavailable(t, s, 15, "is missing")
	})
	t.Run("malformed oldest reference at open", func(t *testing.T) {
		s, path, _ := setup(t)
		v := rawBatchValue(t, s, 1)
		v[1] = 0x7f
		if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(auditBatchKey(1), v) }); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		// The store opens, keeps every file, and reports the damage.
		s = mustOpen(t, Options{Dir: filepath.Dir(filepath.Dir(path)), EncryptionKey: key})
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("a batch file went at open: %v", err)
		}
		wantUnavailable(t, s, 5, "malformed batch reference")
		if r, err := s.GetAudit(ctx, 25); err != nil || string(r.Body) != "body-25" {
			t.Errorf("an intact batch: %+v, %v", r, err)
		}
	})
	t.Run("malformed reference", func(t *testing.T) {
		s, _, _ := setup(t)
		v := rawBatchValue(t, s, 11)
		v[1] = 0x7f
		if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(auditBatchKey(11), v) }); err != nil {
			t.Fatal(err)
		}
		wantUnavailable(t, s, 15, "malformed batch reference")
	})
}

// A reader whose snapshot predates a prune still sees the pruned batches'
// entries; their files are gone, and they read as pruned, not as damage.
func TestAuditBatchPrunedUnderAnOpenSnapshot(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := mustOpen(t, Options{Dir: dir, EncryptionKey: newKey(t)})
	s.batches.maxSize = 3 << 10
	appendBatches(t, s, 100, 6)
	// Read batch 1 once, so its file is open for reading.
	if _, err := s.GetAudit(ctx, 1); err != nil {
		t.Fatal(err)
	}
	txn := s.db.NewTransaction(false)
	defer txn.Discard()
	if _, err := s.PruneAudit(ctx, 400, func(store.AuditRecord) map[string][]byte { return nil }); err != nil {
		t.Fatal(err)
	}
	for _, first := range []uint64{1, 101} {
		item, err := txn.Get(auditBatchKey(first))
		if err != nil {
			t.Fatalf("the old snapshot lost batch %d: %v", first, err)
		}
		recs, err := s.readBatch(item, "")
		if err != nil || len(recs) != 0 {
			t.Errorf("pruned batch %d from an old snapshot: %d records, %v; want none, no error", first, len(recs), err)
		}
	}
	item, err := txn.Get(auditBatchKey(501))
	if err != nil {
		t.Fatal(err)
	}
	if recs, err := s.readBatch(item, ""); err != nil || len(recs) != 100 {
		t.Errorf("kept batch 501 from the old snapshot: %d records, %v", len(recs), err)
	}
}

// After a failed write the next batch goes to a new file, and every batch
// acknowledged before and after reads back.
func TestAuditBatchWriteFailureMovesToANewFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := mustOpen(t, Options{Dir: dir, EncryptionKey: newKey(t)})
	appendBatches(t, s, 10, 1)
	_ = s.batches.cur.Close()
	if err := s.AppendAudit(ctx, auditRecs(11, 20), nil); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("append to a closed file = %v, want unavailable", err)
	}
	if _, err := s.GetAudit(ctx, 11); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the failed batch is visible: %v", err)
	}
	if err := s.AppendAudit(ctx, auditRecs(11, 20), nil); err != nil {
		t.Fatal(err)
	}
	if nums := batchFileNums(t, dir); len(nums) != 2 {
		t.Errorf("files after the failure: %v, want 2", nums)
	}
	if got := scanSeqs(t, s, "", 0); len(got) != 20 {
		t.Errorf("%d records, want 20", len(got))
	}
}

func TestDecodeBatchRefRefusesDamage(t *testing.T) {
	want := batchRef{file: 3, off: 4096, size: 100}
	good := want.encode(map[string]struct{}{"k:a": {}, "t:exchange": {}})
	r, filter, err := decodeBatchRef(good)
	if err != nil || r != want || !filterMayContain(filter, "k:a") {
		t.Fatalf("round trip = %+v, %v", r, err)
	}
	// A reference written before filters: 22 bytes, no filter.
	v1 := append([]byte{batchRefMarker, batchRefV1}, good[2:batchRefLen]...)
	if r, filter, err := decodeBatchRef(v1); err != nil || r != want || filter != nil {
		t.Fatalf("version 1 = %+v, %v, %v", r, filter, err)
	}
	for i := range len(good) {
		if _, _, err := decodeBatchRef(good[:i]); err == nil && i != batchRefLen+1+filterMinBytes {
			t.Errorf("truncated to %d bytes: accepted", i)
		}
	}
	noProbes := slices.Clone(good)
	noProbes[batchRefLen] = 0
	for name, v := range map[string][]byte{
		"version 1 extended":  append(slices.Clone(v1), 0),
		"filter too large":    append(slices.Clone(good), make([]byte, filterMaxBytes)...),
		"filter of no probes": noProbes,
		"unknown version":     append([]byte{batchRefMarker, 3}, good[2:]...),
		"negative offset":     append(append(slices.Clone(good[:10]), 0x80, 0, 0, 0, 0, 0, 0, 0), good[18:]...),
		"shorter than GCM":    batchRef{file: 3, off: 0, size: batchNonceLen}.encode(nil),
		"too large":           batchRef{file: 3, off: 0, size: batchFileMax + 1}.encode(nil),
	} {
		if _, _, err := decodeBatchRef(v); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
