package badger

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/latchkeyhq/latchkey/store"
)

// On disk the audit log's batches live in files of their own, beside
// Badger, and Badger holds for each batch a short reference to it. Badger
// memory-maps its value log and writes it through the mapping, so batches
// kept there stayed resident in the server's memory for as long as they
// were stored; written and read with pwrite and pread, they are only in
// the page cache. Badger also no longer encrypts, checksums and copies
// every batch on its way to the value log.
//
// A batch file is named by a number that only grows and holds sealed
// batches back to back: a random 12-byte nonce, then the batch sealed with
// AES-256-GCM under a key derived from the store's key, with the batch's
// Badger key as additional data, so a batch cannot be moved to another
// sequence number unnoticed. A batch is written and synced before the
// transaction that refers to it commits; a crash in between leaves bytes
// that nothing refers to, and appends go on after them. A file is deleted
// once pruning has removed every batch in it.
const (
	batchDirName = "audit-batches"
	batchSuffix  = ".batches"
	// batchFileMax is where a file stops taking batches, and the largest
	// sealed batch: a full batch of events is around a megabyte.
	batchFileMax   = 64 << 20
	batchNonceLen  = 12
	batchKeyInfo   = "latchkey audit batches v1"
	batchRefMarker = 0x00
	batchRefV1     = 0x01
	// batchRefV2 is followed by the batch's term filter (auditindex.go).
	batchRefV2 = 0x02
	// batchRefLen is a reference's size without a filter: marker,
	// version, file number, offset and sealed length. An inline batch
	// starts with its record count, never zero, so the marker tells the
	// two apart.
	batchRefLen = 2 + 8 + 8 + 4
)

type batchRef struct {
	file uint64
	off  int64
	size uint32
}

// encode returns the reference with the batch's term filter after it.
func (r batchRef) encode(terms map[string]struct{}) []byte {
	b := make([]byte, 2, batchRefLen+1+filterMinBytes+len(terms)*filterBitsPerKey/8)
	b[0], b[1] = batchRefMarker, batchRefV2
	b = binary.BigEndian.AppendUint64(b, r.file)
	b = binary.BigEndian.AppendUint64(b, uint64(r.off))
	b = binary.BigEndian.AppendUint32(b, r.size)
	return appendTermFilter(b, terms)
}

// isBatchRef reports whether a batch entry's value is a reference rather
// than the batch itself.
func isBatchRef(v []byte) bool { return len(v) > 0 && v[0] == batchRefMarker }

// decodeBatchRef parses a reference and returns its term filter, nil for
// a reference written before filters (which may hold any term). The
// filter aliases v.
func decodeBatchRef(v []byte) (batchRef, []byte, error) {
	bad := errors.New("malformed batch reference")
	if len(v) < batchRefLen || v[0] != batchRefMarker {
		return batchRef{}, nil, bad
	}
	var filter []byte
	switch v[1] {
	case batchRefV1:
		if len(v) != batchRefLen {
			return batchRef{}, nil, bad
		}
	case batchRefV2:
		filter = v[batchRefLen:]
		if !validTermFilter(filter) {
			return batchRef{}, nil, bad
		}
	default:
		return batchRef{}, nil, bad
	}
	r := batchRef{
		file: binary.BigEndian.Uint64(v[2:]),
		off:  int64(binary.BigEndian.Uint64(v[10:])),
		size: binary.BigEndian.Uint32(v[18:]),
	}
	if r.off < 0 || r.size <= batchNonceLen || r.size > batchFileMax {
		return batchRef{}, nil, bad
	}
	return r, filter, nil
}

// reusableMax is the largest buffer kept for the next batch: a full batch
// of events is around a megabyte.
const reusableMax = 4 << 20

// reusable returns b emptied for reuse, or nil when it is too large to
// keep.
func reusable(b []byte) []byte {
	if cap(b) > reusableMax {
		return nil
	}
	return b[:0]
}

// batchFiles appends sealed batches to numbered files and reads them back.
type batchFiles struct {
	dir  string
	aead cipher.AEAD
	// maxSize is where a file stops taking batches: batchFileMax, smaller
	// in tests.
	maxSize int64

	// wmu is held by an append from writing its batch until its reference
	// commits, and by dropBefore; it guards cur, curOff and the buffers
	// appends reuse for a batch's encoding and its sealed form.
	wmu     sync.Mutex
	cur     *os.File
	curNum  uint64
	curOff  int64
	bodyBuf []byte
	sealBuf []byte

	// mu guards the read handles and dropped.
	mu      sync.Mutex
	readers map[uint64]*os.File
	// dropped is the highest file number deleted by pruning: a batch in
	// such a file was pruned, while a batch in a missing newer file is
	// damage.
	dropped uint64
	// next is the number the next new file takes.
	next uint64
}

func batchKey(storeKey []byte) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, storeKey, nil, batchKeyInfo, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func openBatchFiles(dataDir string, storeKey []byte) (*batchFiles, error) {
	aead, err := batchKey(storeKey)
	if err != nil {
		return nil, fmt.Errorf("%w: audit batch key: %w", store.ErrUnavailable, err)
	}
	dir := filepath.Join(dataDir, batchDirName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, unavailable("create audit batch folder", err)
	}
	nums, err := listBatchFiles(dir)
	if err != nil {
		return nil, err
	}
	b := &batchFiles{dir: dir, aead: aead, maxSize: batchFileMax, readers: map[uint64]*os.File{}, next: 1}
	if len(nums) > 0 {
		// New batches go to a new file, after whatever a crash left in the
		// newest; numbers are never reused, so neither are deleted files'.
		b.next = nums[len(nums)-1] + 1
	}
	return b, nil
}

func (b *batchFiles) path(num uint64) string {
	return filepath.Join(b.dir, fmt.Sprintf("%016x%s", num, batchSuffix))
}

// listBatchFiles returns the numbers of the batch files in dir, ascending.
func listBatchFiles(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, unavailable("list audit batch files", err)
	}
	var nums []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), batchSuffix)
		if !ok || len(name) != 16 {
			continue
		}
		n, err := strconv.ParseUint(name, 16, 64)
		if err != nil || n == 0 {
			continue
		}
		nums = append(nums, n)
	}
	slices.Sort(nums)
	return nums, nil
}

// appendLocked seals body and writes it durably, returning where it is.
// aad is the batch's Badger key. The caller holds wmu until the reference
// is committed, so pruning never sees a written batch without it.
func (b *batchFiles) appendLocked(body, aad []byte) (batchRef, error) {
	size := batchNonceLen + len(body) + b.aead.Overhead()
	if size > batchFileMax {
		return batchRef{}, fmt.Errorf("%w: audit batch of %d bytes (at most %d)", store.ErrInvalidArgument, size, batchFileMax)
	}
	if b.cur != nil && b.curOff+int64(size) > b.maxSize {
		b.closeCurrent()
	}
	if b.cur == nil {
		if err := b.openNext(); err != nil {
			return batchRef{}, err
		}
	}
	sealed := slices.Grow(b.sealBuf[:0], size)[:batchNonceLen]
	defer func() { b.sealBuf = reusable(sealed) }()
	if _, err := rand.Read(sealed); err != nil {
		return batchRef{}, unavailable("audit batch nonce", err)
	}
	sealed = b.aead.Seal(sealed, sealed[:batchNonceLen], body, aad)
	_, err := b.cur.WriteAt(sealed, b.curOff)
	if err == nil {
		err = b.cur.Sync()
	}
	if err != nil {
		// After a failed write or sync the file's state is unknown: later
		// batches go to a new file.
		b.closeCurrent()
		return batchRef{}, unavailable("write audit batch", err)
	}
	ref := batchRef{file: b.curNum, off: b.curOff, size: uint32(len(sealed))}
	b.curOff += int64(len(sealed))
	return ref, nil
}

// openNext starts a new file. Its directory entry is synced, so a batch
// synced into it is found after a crash.
func (b *batchFiles) openNext() error {
	b.mu.Lock()
	num := b.next
	b.next++
	b.mu.Unlock()
	f, err := os.OpenFile(b.path(num), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return unavailable("create audit batch file", err)
	}
	if err := syncDir(b.dir); err != nil {
		_ = f.Close()
		return unavailable("sync audit batch folder", err)
	}
	b.cur, b.curNum, b.curOff = f, num, 0
	return nil
}

func (b *batchFiles) closeCurrent() {
	if b.cur != nil {
		_ = b.cur.Close()
		b.cur = nil
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// errBatchPruned means a reference points into a file that pruning has
// deleted: a reader whose snapshot predates the prune sees the batch gone.
var errBatchPruned = errors.New("audit batch pruned")

// read returns the batch ref points to, checked and decrypted.
func (b *batchFiles) read(ref batchRef, aad []byte) ([]byte, error) {
	f, err := b.reader(ref.file)
	if err != nil {
		return nil, err
	}
	sealed := make([]byte, ref.size)
	if _, err := f.ReadAt(sealed, ref.off); err != nil {
		if errors.Is(err, os.ErrClosed) && b.isDropped(ref.file) {
			return nil, errBatchPruned
		}
		return nil, fmt.Errorf("%w: read audit batch file %d at %d: %w", store.ErrUnavailable, ref.file, ref.off, err)
	}
	body, err := b.aead.Open(sealed[batchNonceLen:batchNonceLen], sealed[:batchNonceLen], sealed[batchNonceLen:], aad)
	if err != nil {
		return nil, fmt.Errorf("%w: audit batch in file %d at %d fails its authentication", store.ErrUnavailable, ref.file, ref.off)
	}
	return body, nil
}

func (b *batchFiles) isDropped(num uint64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return num <= b.dropped
}

func (b *batchFiles) reader(num uint64) (*os.File, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if num <= b.dropped {
		return nil, errBatchPruned
	}
	if f := b.readers[num]; f != nil {
		return f, nil
	}
	f, err := os.Open(b.path(num))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: audit batch file %d is missing", store.ErrUnavailable, num)
		}
		return nil, unavailable("open audit batch file", err)
	}
	b.readers[num] = f
	return f, nil
}

// dropBeforeLocked deletes every file numbered below keep, the file of
// the oldest batch still referred to (or every file but the one being
// written, when keep is zero: no batch is left). The caller holds wmu. A
// reader holding a snapshot from before the prune gets errBatchPruned for
// the batches it still sees.
func (b *batchFiles) dropBeforeLocked(keep uint64) error {
	cur := uint64(0)
	if b.cur != nil {
		cur = b.curNum
	}
	nums, err := listBatchFiles(b.dir)
	if err != nil {
		return err
	}
	var firstErr error
	for _, n := range nums {
		if (keep != 0 && n >= keep) || n == cur {
			break
		}
		b.mu.Lock()
		b.dropped = max(b.dropped, n)
		if f := b.readers[n]; f != nil {
			_ = f.Close()
			delete(b.readers, n)
		}
		b.mu.Unlock()
		if err := os.Remove(b.path(n)); err != nil && !errors.Is(err, fs.ErrNotExist) && firstErr == nil {
			firstErr = unavailable("delete audit batch file", err)
		}
	}
	if firstErr == nil && len(nums) > 0 {
		firstErr = syncDir(b.dir)
	}
	return firstErr
}

func (b *batchFiles) close() error {
	b.wmu.Lock()
	b.closeCurrent()
	b.wmu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	for n, f := range b.readers {
		_ = f.Close()
		delete(b.readers, n)
	}
	return nil
}
