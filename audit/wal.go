package audit

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/latchkeyhq/latchkey/store"
)

// The write-ahead log makes an event durable with one write and one
// fdatasync, far cheaper than a synced store transaction. The store's
// copy, which answers queries and Verify, is written behind it in larger
// batches, and a segment is deleted once the store holds all of it.
//
// A segment is named by the sequence number of its first event. A frame
// is a 4-byte length, then a random 12-byte nonce and the AES-GCM sealed
// 8-byte sequence number and record body: the log holds no plaintext.
//
// A segment is born full size and zero-filled, its zeros written and
// synced before it takes its name, and frames overwrite the zeros in
// place. The file's size and blocks then never change while it is
// written, so an fdatasync has only data to flush, not a journal commit.
// The zeros after the last frame are the segment's unused end.
const (
	walSegmentMax = 64 << 20
	walPrefix     = "audit-"
	walSuffix     = ".wal"
	walSpare      = "audit-spare.tmp"
	walNonceLen   = 12
	walMaxFrame   = 16 << 20
	// walBlock is the smallest unit a disk writes whole.
	walBlock = 512
)

// walFile is what the log needs of an open segment, so tests can make
// writes and syncs fail.
type walFile interface {
	io.WriterAt
	Sync() error
	Truncate(size int64) error
	Close() error
}

type wal struct {
	dir     string
	aead    cipher.AEAD
	create  func(name string) (walFile, error)
	release func() // run by close, after the last segment
	// blockingSync says why segments sync with blocking fdatasync
	// rather than through native asynchronous I/O; nil when they do not.
	blockingSync error
	free         func(dir string) (int64, bool) // room left on the filesystem
	segSize      int64                          // bytes a new segment is zero-filled to

	mu   sync.Mutex // guards segs against the indexer's dropThrough
	segs []uint64   // first sequence number of each segment, ascending

	f      walFile // the segment being written, nil before the first write
	size   int64   // bytes of frames in f; from there on f holds zeros
	zeroed int64   // bytes f was zero-filled to, before the frames
	// total counts every byte written since open, across segments: the
	// position syncs are measured in.
	total int64
	// broken is set when a failed write could not be undone: the log then
	// refuses every write until the trail is reopened, rather than risk
	// acknowledging events behind a damaged frame.
	broken error
	// plain is frame's scratch space; frame runs under the trail's writeMu.
	plain []byte

	// The next segment is zero-filled ahead of need, under the spare
	// name, by a goroutine started with the first segment; it is asked
	// for once the segment being written is half full (ahead).
	ahead      bool
	spareMu    sync.Mutex // held while the spare is written or taken
	spareReady bool       // the spare is whole and synced
	spareSize  int64      // bytes of zeros in it
	spareWake  chan struct{}
	spareStop  chan struct{}
	spareDone  chan struct{}
	onSpare    func(error) // if set, told of each spare made ahead
}

func walKey(chain []byte) []byte {
	m := hmac.New(sha256.New, chain)
	m.Write([]byte("latchkey audit wal v1"))
	return m.Sum(nil)
}

func openWAL(dir string, chain []byte) (*wal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: log folder: %w", err)
	}
	block, err := aes.NewCipher(walKey(chain))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	w := &wal{dir: dir, aead: aead, free: freeSpace, segSize: walSegmentMax}
	// A spare left by the last run may be half written or unsynced.
	if err := os.Remove(filepath.Join(dir, walSpare)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("audit: log folder: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: log folder: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, walPrefix) || !strings.HasSuffix(name, walSuffix) {
			continue
		}
		first, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, walPrefix), walSuffix), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("audit: unexpected file %s in the log folder", name)
		}
		w.segs = append(w.segs, first)
	}
	slices.Sort(w.segs)
	w.create, w.release, w.blockingSync = segmentOpener()
	return w, nil
}

func (w *wal) path(first uint64) string {
	return filepath.Join(w.dir, fmt.Sprintf("%s%020d%s", walPrefix, first, walSuffix))
}

// replay returns every record in the log after seq `after`, in order. A
// record written again after a failed write replaces the first attempt.
//
// Reading a segment stops where everything left is zero: its unused end.
// Every segment but the last was synced whole before the next began, so
// a frame there that fails with anything but zeros after it is damage.
// The last segment may end in frames that were never synced, torn by a
// crash (see torn): they are cut off, with everything after them, and
// the last segment is cut to its good frames, so that no torn bytes are
// left in what becomes an older segment. The log never writes to a
// segment again after open.
func (w *wal) replay(after uint64) ([]store.AuditRecord, error) {
	var recs []store.AuditRecord
	for i, first := range w.segs {
		var err error
		recs, err = w.replaySegment(recs, first, i == len(w.segs)-1)
		if err != nil {
			return nil, err
		}
	}
	start := 0
	for start < len(recs) && recs[start].Seq <= after {
		start++
	}
	return recs[start:], nil
}

// replaySegment appends the records of the segment starting at first to
// recs; last says whether it is the newest segment.
func (w *wal) replaySegment(recs []store.AuditRecord, first uint64, last bool) ([]store.AuditRecord, error) {
	data, release, err := readSegment(w.path(first))
	if err != nil {
		return nil, fmt.Errorf("audit: read log: %w", err)
	}
	defer func() { release() }()
	good := 0
	for good < len(data) {
		r, n, err := w.decodeFrame(data[good:])
		if err != nil {
			if allZero(data[good:]) || last && torn(data, good, err) {
				break
			}
			return nil, fmt.Errorf("%w: log segment %d unreadable at byte %d (%v); is the pepper the one it was written with?", ErrTampered, first, good, err)
		}
		good += n
		// A sequence number seen before was written again after a
		// failed write; the later frame is the one acknowledged.
		for len(recs) > 0 && recs[len(recs)-1].Seq >= r.Seq {
			recs = recs[:len(recs)-1]
		}
		recs = append(recs, r)
	}
	if last && good < len(data) {
		// The mapping goes before the file is cut: reading a mapped page
		// beyond the new end would fault.
		release()
		release = func() {}
		if err := cut(w.path(first), int64(good)); err != nil {
			return nil, fmt.Errorf("audit: cut the torn end of the log: %w", err)
		}
	}
	return recs, nil
}

// cut truncates a segment and makes the new size durable before anything
// is written after it: torn bytes must not come back in an older segment.
func cut(name string, size int64) error {
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

var (
	errFrameIncomplete = errors.New("incomplete frame")
	errFrameLength     = errors.New("bad frame length")
)

// torn reports whether the frame at off in the last segment, which failed
// to decode, is what a crash leaves rather than damage. Until synced, the
// disk holds each of the segment's blocks as it was at some moment since
// the segment was zero-filled: frames are only ever added after the ones
// before, so a block holds its frames' bytes up to some point and zeros
// after it, and a later block may have reached the disk while an earlier
// one did not. A torn frame therefore has, in some block, bytes from its
// first wrong one to the block's end that are all zero. The frame is torn
// when
//   - it runs past the end of the file (cut short while growing the file);
//   - nothing but zeros follows it (the last frame written, as an
//     unpreallocated file leaves it); or
//   - in some block, its last byte there and all after it to the block's
//     end are zero.
//
// Otherwise it is damage, even if no valid frame follows. The frame's
// extent is taken from its length when that is plausible, else it is the
// 4-byte length itself, which must then be the torn part. Damage that
// happens to leave zeros at a block's end, such as a frame length's high
// bytes, passes for a tear: a few frames in a thousand.
func torn(data []byte, off int, err error) bool {
	if errors.Is(err, errFrameIncomplete) {
		return true
	}
	end := off + 4
	if !errors.Is(err, errFrameLength) {
		end += int(binary.BigEndian.Uint32(data[off:]))
		if allZero(data[end:]) {
			return true
		}
	}
	for p := off; p < end; {
		blockEnd := (p/walBlock + 1) * walBlock
		if allZero(data[min(end, blockEnd)-1 : min(blockEnd, len(data))]) {
			return true
		}
		p = blockEnd
	}
	return false
}

var zeroBlock [4096]byte

func allZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroBlock))
		if !bytes.Equal(b[:n], zeroBlock[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

func (w *wal) decodeFrame(b []byte) (store.AuditRecord, int, error) {
	if len(b) < 4 {
		return store.AuditRecord{}, 0, errFrameIncomplete
	}
	n := int(binary.BigEndian.Uint32(b))
	if n < walNonceLen+w.aead.Overhead()+8 || n > walMaxFrame {
		return store.AuditRecord{}, 0, errFrameLength
	}
	if len(b) < 4+n {
		return store.AuditRecord{}, 0, errFrameIncomplete
	}
	nonce, sealed := b[4:4+walNonceLen], b[4+walNonceLen:4+n]
	plain, err := w.aead.Open(nil, nonce, sealed, nil)
	if err != nil {
		return store.AuditRecord{}, 0, errors.New("frame fails authentication")
	}
	r := store.AuditRecord{Seq: binary.BigEndian.Uint64(plain), Body: plain[8:]}
	e, err := open(r)
	if err != nil {
		return store.AuditRecord{}, 0, err
	}
	r.Terms = terms(&e)
	return r, 4 + n, nil
}

// frame appends r's sealed frame to dst.
func (w *wal) frame(dst []byte, r store.AuditRecord) ([]byte, error) {
	plain := binary.BigEndian.AppendUint64(w.plain[:0], r.Seq)
	plain = append(plain, r.Body...)
	w.plain = plain
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = append(dst, make([]byte, walNonceLen)...)
	nonce := dst[start+4 : start+4+walNonceLen]
	if _, err := rand.Read(nonce); err != nil {
		return dst[:start], err
	}
	dst = w.aead.Seal(dst, nonce, plain, nil)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst, nil
}

// write puts frames, the first of which holds event first, after the
// segment's last frame, without syncing them. Frames that do not fit in
// what is left of the segment go to a new one; a batch larger than a
// whole segment makes its segment grow.
func (w *wal) write(frames []byte, first uint64) error {
	if w.broken != nil {
		return fmt.Errorf("%w: audit log unusable until restart: %w", store.ErrUnavailable, w.broken)
	}
	if w.f == nil || w.size > 0 && w.size+int64(len(frames)) > w.segSize {
		if err := w.rotate(first); err != nil {
			return err
		}
	}
	if _, err := w.f.WriteAt(frames, w.size); err != nil {
		w.undo(len(frames))
		return fmt.Errorf("%w: audit log write: %w", store.ErrUnavailable, err)
	}
	w.size += int64(len(frames))
	w.total += int64(len(frames))
	// The next segment is made once this one is half full: in time for
	// the rotation at any rate the disk can take, without a start-up
	// writing two segments of zeros before the first has much in it.
	if !w.ahead && 2*w.size >= w.segSize {
		w.ahead = true
		w.prepareAhead()
	}
	return nil
}

// undo takes back whatever part of a failed write of n bytes reached the
// segment, so the sequence numbers can be written again there and a
// shorter retry is not followed by the rest of the failed attempt.
// Where the segment was zero-filled the zeros are written back: cutting
// the file instead would be as correct, but would give up its
// preallocated blocks and make every later sync in it commit metadata
// again. Past them, in a segment that grows, the file is cut back, which
// a full disk allows too. Neither is synced: the next sync covers it, and
// until then nothing after the last frame is acknowledged.
func (w *wal) undo(n int) {
	var err error
	if w.size+int64(n) <= w.zeroed {
		_, err = w.f.WriteAt(make([]byte, n), w.size)
	} else {
		err = w.f.Truncate(w.size)
		w.zeroed = min(w.zeroed, w.size)
	}
	if err != nil {
		w.broken = err
	}
}

func (w *wal) rotate(first uint64) error {
	if w.f != nil {
		// Everything in the old segment is made durable before anything
		// goes to the new one, so a sync of the new segment covers all
		// bytes written so far.
		if err := w.f.Sync(); err != nil {
			w.broken = err
			return fmt.Errorf("%w: sync audit log segment: %w", store.ErrUnavailable, err)
		}
		if err := w.f.Close(); err != nil {
			return fmt.Errorf("%w: close audit log segment: %w", store.ErrUnavailable, err)
		}
		w.f = nil
	}
	name := w.path(first)
	zeroed, err := w.takeSpare(name)
	if err != nil {
		return fmt.Errorf("%w: prepare audit log segment: %w", store.ErrUnavailable, err)
	}
	f, err := w.create(name)
	if err != nil {
		return fmt.Errorf("%w: open audit log segment: %w", store.ErrUnavailable, err)
	}
	w.mu.Lock()
	if len(w.segs) == 0 || w.segs[len(w.segs)-1] != first {
		w.segs = append(w.segs, first)
	}
	w.mu.Unlock()
	w.f, w.size, w.zeroed = f, 0, zeroed
	w.ahead = false
	return nil
}

// dropThrough deletes the segments whose every event the store holds.
// The segment being written is never deleted, nor is the spare.
func (w *wal) dropThrough(indexed uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	keep := 0
	for keep+1 < len(w.segs) && w.segs[keep+1]-1 <= indexed {
		os.Remove(w.path(w.segs[keep]))
		keep++
	}
	w.segs = w.segs[keep:]
}

func (w *wal) close() error {
	if w.spareStop != nil {
		close(w.spareStop)
		<-w.spareDone
		w.spareWake, w.spareStop, w.spareDone = nil, nil, nil
	}
	var err error
	if w.f != nil {
		err = w.f.Close()
		w.f = nil
	}
	if w.release != nil {
		w.release()
		w.release = nil
	}
	return err
}
