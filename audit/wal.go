package audit

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/latchkeyhq/latchkey/store"
)

// The write-ahead log makes an event durable with one append and one
// fdatasync, far cheaper than a synced store transaction. The store's
// copy, which answers queries and Verify, is written behind it in larger
// batches, and a segment is deleted once the store holds all of it.
//
// A segment is named by the sequence number of its first event. A frame
// is a 4-byte length, then a random 12-byte nonce and the AES-GCM sealed
// 8-byte sequence number and record body: the log holds no plaintext.
const (
	walSegmentMax = 64 << 20
	walPrefix     = "audit-"
	walSuffix     = ".wal"
	walNonceLen   = 12
	walMaxFrame   = 16 << 20
)

// walFile is what the log needs of an open segment, so tests can make
// writes and syncs fail.
type walFile interface {
	io.Writer
	Sync() error
	Truncate(size int64) error
	Close() error
}

type wal struct {
	dir    string
	aead   cipher.AEAD
	create func(name string) (walFile, error)

	mu   sync.Mutex // guards segs against the indexer's dropThrough
	segs []uint64   // first sequence number of each segment, ascending

	f    walFile // the segment being appended to, nil before the first append
	size int64   // bytes in f
	// total counts every byte written since open, across segments: the
	// position syncs are measured in.
	total int64
	// broken is set when a failed write could not be undone: the log then
	// refuses every write until the trail is reopened, rather than risk
	// acknowledging events behind a damaged frame.
	broken error
	// plain is frame's scratch space; frame runs under the trail's lock.
	plain []byte
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
	w := &wal{dir: dir, aead: aead}
	w.create = func(name string) (walFile, error) {
		return os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
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
	return w, nil
}

func (w *wal) path(first uint64) string {
	return filepath.Join(w.dir, fmt.Sprintf("%s%020d%s", walPrefix, first, walSuffix))
}

// replay returns every record in the log after seq `after`, in order. A
// record written again after a failed write replaces the first attempt.
// A torn frame at the end of the last segment (a crash mid-write) is cut
// off; anywhere else it is corruption.
func (w *wal) replay(after uint64) ([]store.AuditRecord, error) {
	var recs []store.AuditRecord
	for i, first := range w.segs {
		data, err := os.ReadFile(w.path(first))
		if err != nil {
			return nil, fmt.Errorf("audit: read log: %w", err)
		}
		good := 0
		for good < len(data) {
			r, n, err := w.decodeFrame(data[good:])
			if err != nil {
				if i == len(w.segs)-1 && torn(data[good:], err) {
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
		if good < len(data) {
			if err := os.Truncate(w.path(first), int64(good)); err != nil {
				return nil, fmt.Errorf("audit: cut the torn end of the log: %w", err)
			}
		}
	}
	start := 0
	for start < len(recs) && recs[start].Seq <= after {
		start++
	}
	return recs[start:], nil
}

var (
	errFrameIncomplete = errors.New("incomplete frame")
	errFrameLength     = errors.New("bad frame length")
)

// torn reports whether a frame that failed to decode is what a crash
// mid-write leaves at the end of the log: a frame cut short, a zeroed
// tail, or a last frame whose bytes did not all reach the disk. A whole
// frame followed by more data that fails is damage, not a crash.
func torn(rest []byte, err error) bool {
	switch {
	case errors.Is(err, errFrameIncomplete):
		return true
	case errors.Is(err, errFrameLength):
		for _, b := range rest {
			if b != 0 {
				return false
			}
		}
		return true
	}
	return 4+int(binary.BigEndian.Uint32(rest)) == len(rest)
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

// write appends frames, the first of which holds event first, without
// syncing them. On failure the segment is cut back to where it was, so
// the sequence numbers can be written again.
func (w *wal) write(frames []byte, first uint64) error {
	if w.broken != nil {
		return fmt.Errorf("%w: audit log unusable until restart: %w", store.ErrUnavailable, w.broken)
	}
	if w.f == nil || w.size >= walSegmentMax {
		if err := w.rotate(first); err != nil {
			return err
		}
	}
	if _, err := w.f.Write(frames); err != nil {
		if terr := w.f.Truncate(w.size); terr != nil {
			w.broken = terr
		}
		return fmt.Errorf("%w: audit log write: %w", store.ErrUnavailable, err)
	}
	w.size += int64(len(frames))
	w.total += int64(len(frames))
	return nil
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
	f, err := w.create(w.path(first))
	if err != nil {
		return fmt.Errorf("%w: open audit log segment: %w", store.ErrUnavailable, err)
	}
	if d, err := os.Open(w.dir); err == nil {
		d.Sync() // the new name must survive a crash too
		d.Close()
	}
	w.mu.Lock()
	if len(w.segs) == 0 || w.segs[len(w.segs)-1] != first {
		w.segs = append(w.segs, first)
	}
	w.mu.Unlock()
	w.f, w.size = f, 0
	return nil
}

// dropThrough deletes the segments whose every event the store holds.
// The segment being written is never deleted.
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
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}
