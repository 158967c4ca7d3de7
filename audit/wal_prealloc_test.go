package audit

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/latchkeyhq/latchkey/store"
)

const testSegSize = 4 << 10

// smallWAL opens the log in dir with 4 KiB segments, closed with the test.
func smallWAL(t *testing.T, dir string, key []byte) *wal {
	t.Helper()
	w, err := openWAL(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	w.segSize = testSegSize
	t.Cleanup(func() { w.close() })
	return w
}

// sealer seals events as the trail does, each chained on the one before.
type sealer struct {
	key  chainKey
	head point
}

func newSealer(key []byte) *sealer { return &sealer{key: newChainKey(key)} }

// after continues the chain from the last of recs.
func (s *sealer) after(recs []store.AuditRecord) {
	s.head = point{}
	if len(recs) > 0 {
		last := recs[len(recs)-1]
		s.head = point{Seq: last.Seq, MAC: last.Body[:MACKeyLen]}
	}
}

func (s *sealer) next(t testing.TB, keyID string) store.AuditRecord {
	t.Helper()
	e := exchange(keyID, "a", ResultOK, "")
	e.Seq, e.Prev, e.Time = s.head.Seq+1, s.head.MAC, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	rec, err := s.key.seal(&e)
	if err != nil {
		t.Fatal(err)
	}
	s.head = point{Seq: e.Seq, MAC: e.MAC}
	return rec
}

// framePos is where a frame went: its segment and its bytes there.
type framePos struct {
	seg        uint64
	start, end int
}

// put writes recs as one batch and syncs it, as a syncer does.
func put(t testing.TB, w *wal, recs ...store.AuditRecord) []framePos {
	t.Helper()
	var frames []byte
	var ends []int
	for _, r := range recs {
		var err error
		if frames, err = w.frame(frames, r); err != nil {
			t.Fatal(err)
		}
		ends = append(ends, len(frames))
	}
	if err := w.write(frames, recs[0].Seq); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := w.f.Sync(); err != nil {
		t.Fatalf("sync: %v", err)
	}
	base, start := int(w.size)-len(frames), 0
	pos := make([]framePos, len(recs))
	for i, end := range ends {
		pos[i] = framePos{seg: w.segs[len(w.segs)-1], start: base + start, end: base + end}
		start = end
	}
	return pos
}

// replayDir opens the log in dir afresh and replays all of it.
func replayDir(t *testing.T, dir string, key []byte) ([]store.AuditRecord, error) {
	t.Helper()
	w := smallWAL(t, dir, key)
	return w.replay(0)
}

func seqsOf(recs []store.AuditRecord) []uint64 {
	var s []uint64
	for _, r := range recs {
		s = append(s, r.Seq)
	}
	return s
}

func seqRange(from, to uint64) []uint64 {
	var s []uint64
	for q := from; q <= to; q++ {
		s = append(s, q)
	}
	return s
}

// checkChain fails unless recs are events 1..n, each chained on the one
// before.
func checkChain(t *testing.T, key []byte, recs []store.AuditRecord) {
	t.Helper()
	k, prev := newChainKey(key), point{}
	for _, r := range recs {
		e, err := k.check(r, prev)
		if err != nil {
			t.Fatalf("replayed event %d does not chain: %v", r.Seq, err)
		}
		prev = point{Seq: e.Seq, MAC: e.MAC}
	}
}

func fileSize(t *testing.T, name string) int64 {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// overwrite writes b at off in the file name, as a crash or an attacker
// might leave it.
func overwrite(t *testing.T, name string, off int, b []byte) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, int64(off)); err != nil {
		t.Fatal(err)
	}
}

func fill(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }

func blockEnd(off int) int { return (off/walBlock + 1) * walBlock }

func TestWALSegmentsAreZeroFilledAndReplay(t *testing.T) {
	dir, key := t.TempDir(), testKey(t)
	w, s := smallWAL(t, dir, key), newSealer(key)
	var pos []framePos
	for range 3 {
		pos = append(pos, put(t, w, s.next(t, "k"))...)
	}
	w.close()
	seg := w.path(1)
	if got := fileSize(t, seg); got != testSegSize {
		t.Fatalf("segment is %d bytes, want the preallocated %d", got, testSegSize)
	}
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	if !allZero(data[pos[2].end:]) {
		t.Fatal("the segment's unused end is not zero")
	}

	w2 := smallWAL(t, dir, key)
	recs, err := w2.replay(0)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if got := seqsOf(recs); !slices.Equal(got, []uint64{1, 2, 3}) {
		t.Fatalf("replayed %v, want [1 2 3]", got)
	}
	checkChain(t, key, recs)
	if got := fileSize(t, seg); got != int64(pos[2].end) {
		t.Errorf("after replay the last segment is %d bytes, want its frames' %d", got, pos[2].end)
	}
	// The reopened log writes to a new segment, never to the old one.
	s.after(recs)
	put(t, w2, s.next(t, "k"))
	if !slices.Equal(w2.segs, []uint64{1, 4}) {
		t.Fatalf("segments after reopening %v, want [1 4]", w2.segs)
	}
	if got := fileSize(t, w2.path(4)); got != testSegSize {
		t.Errorf("new segment is %d bytes, want %d", got, testSegSize)
	}
	if got := fileSize(t, seg); got != int64(pos[2].end) {
		t.Errorf("the old segment changed size to %d", got)
	}
}

func TestWALRotatesAcrossSegments(t *testing.T) {
	dir, key := t.TempDir(), testKey(t)
	w, s := smallWAL(t, dir, key), newSealer(key)
	var pos []framePos
	for range 30 {
		pos = append(pos, put(t, w, s.next(t, "k"))...)
	}
	// A batch larger than a whole segment goes to a segment of its own,
	// which grows past the preallocated size.
	var big []store.AuditRecord
	for range 2 * testSegSize / (pos[0].end - pos[0].start) {
		big = append(big, s.next(t, "k"))
	}
	bigPos := put(t, w, big...)
	last := put(t, w, s.next(t, "k"))
	if len(w.segs) < 4 {
		t.Fatalf("%d segments, want several", len(w.segs))
	}
	for i, p := range pos[1:] {
		prev := pos[i]
		if p.seg != prev.seg {
			// A frame goes to a new segment only if it did not fit.
			if prev.end+(p.end-p.start) <= testSegSize {
				t.Errorf("segment %d was left with room for event %d", prev.seg, i+2)
			}
			if p.seg != uint64(i+2) || p.start != 0 {
				t.Errorf("event %d starts segment %d at byte %d", i+2, p.seg, p.start)
			}
		}
	}
	bigSeg := bigPos[0].seg
	if bigSeg != big[0].Seq || bigPos[0].start != 0 || fileSize(t, w.path(bigSeg)) != int64(bigPos[len(bigPos)-1].end) {
		t.Errorf("the large batch went to segment %d at byte %d, %d bytes", bigSeg, bigPos[0].start, fileSize(t, w.path(bigSeg)))
	}
	if last[0].seg != big[len(big)-1].Seq+1 || last[0].start != 0 || fileSize(t, w.path(last[0].seg)) != testSegSize {
		t.Errorf("the event after the large batch went to segment %d at byte %d", last[0].seg, last[0].start)
	}
	w.close()

	recs, err := replayDir(t, dir, key)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if got, want := seqsOf(recs), seqRange(1, s.head.Seq); !slices.Equal(got, want) {
		t.Fatalf("replayed %v, want %v", got, want)
	}
	checkChain(t, key, recs)

	// Segments go once the store holds every event in them; the one
	// being written and the spare stay.
	w2 := smallWAL(t, dir, key)
	if _, err := w2.replay(0); err != nil {
		t.Fatal(err)
	}
	made := spareSignal(w2)
	s.after(recs)
	for first := true; first || 2*w2.size < w2.segSize; first = false {
		put(t, w2, s.next(t, "k"))
	}
	waitSpare(t, made)
	segs := slices.Clone(w2.segs)
	w2.dropThrough(segs[2] - 1)
	if !slices.Equal(w2.segs, segs[2:]) {
		t.Errorf("segments after dropping through %d: %v, want %v", segs[2]-1, w2.segs, segs[2:])
	}
	for i, first := range segs {
		_, err := os.Stat(w2.path(first))
		if gone := errors.Is(err, os.ErrNotExist); gone != (i < 2) {
			t.Errorf("segment %d: gone=%v, %v", first, gone, err)
		}
	}
	w2.dropThrough(s.head.Seq)
	if !slices.Equal(w2.segs, segs[len(segs)-1:]) {
		t.Errorf("dropping everything kept %v, want the segment being written", w2.segs)
	}
	w2.close()
	if _, err := os.Stat(filepath.Join(dir, walSpare)); err != nil {
		t.Errorf("the spare: %v", err)
	}
}

// spareSignal reports each spare w makes in the background.
func spareSignal(w *wal) <-chan error {
	made := make(chan error, 16)
	w.onSpare = func(err error) { made <- err }
	return made
}

func waitSpare(t *testing.T, made <-chan error) {
	t.Helper()
	select {
	case err := <-made:
		if err != nil {
			t.Fatalf("making the spare: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no spare made in 10s")
	}
}

func TestWALSpare(t *testing.T) {
	t.Run("made ahead and used", func(t *testing.T) {
		dir, key := t.TempDir(), testKey(t)
		w, s := smallWAL(t, dir, key), newSealer(key)
		made := spareSignal(w)
		put(t, w, s.next(t, "k")) // no spare yet: made on the spot
		// The next is asked for once the segment is half full, not before.
		for 2*w.size < w.segSize {
			select {
			case <-made:
				t.Fatalf("a spare was made with the segment at %d of %d bytes", w.size, w.segSize)
			case <-time.After(20 * time.Millisecond):
			}
			put(t, w, s.next(t, "k"))
		}
		waitSpare(t, made)
		spare, err := os.Stat(filepath.Join(dir, walSpare))
		if err != nil {
			t.Fatal(err)
		}
		if spare.Size() != testSegSize {
			t.Fatalf("spare is %d bytes, want %d", spare.Size(), testSegSize)
		}
		for len(w.segs) < 2 {
			put(t, w, s.next(t, "k"))
		}
		seg, err := os.Stat(w.path(w.segs[1]))
		if err != nil {
			t.Fatal(err)
		}
		if !os.SameFile(spare, seg) {
			t.Error("the new segment is not the spare made ahead")
		}
		for 2*w.size < w.segSize {
			put(t, w, s.next(t, "k"))
		}
		waitSpare(t, made)
		if got := fileSize(t, filepath.Join(dir, walSpare)); got != testSegSize {
			t.Errorf("next spare is %d bytes", got)
		}
	})
	t.Run("removed behind the log's back", func(t *testing.T) {
		dir, key := t.TempDir(), testKey(t)
		w, s := smallWAL(t, dir, key), newSealer(key)
		made := spareSignal(w)
		for 2*w.size < w.segSize {
			put(t, w, s.next(t, "k"))
		}
		waitSpare(t, made)
		if err := os.Remove(filepath.Join(dir, walSpare)); err != nil {
			t.Fatal(err)
		}
		for len(w.segs) < 2 {
			put(t, w, s.next(t, "k"))
		}
		if got := fileSize(t, w.path(w.segs[1])); got != testSegSize {
			t.Errorf("segment made without the spare is %d bytes", got)
		}
		w.close()
		recs, err := replayDir(t, dir, key)
		if err != nil || !slices.Equal(seqsOf(recs), seqRange(1, s.head.Seq)) {
			t.Fatalf("replay = %v, %v", seqsOf(recs), err)
		}
	})
	t.Run("left over from the last run", func(t *testing.T) {
		dir, key := t.TempDir(), testKey(t)
		w, s := smallWAL(t, dir, key), newSealer(key)
		put(t, w, s.next(t, "k"))
		w.close()
		// A spare cut short by a crash, over stale blocks.
		if err := os.WriteFile(filepath.Join(dir, walSpare), fill(100, 0x5a), 0o600); err != nil {
			t.Fatal(err)
		}
		w2 := smallWAL(t, dir, key)
		if _, err := os.Stat(filepath.Join(dir, walSpare)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("leftover spare after open: %v", err)
		}
		recs, err := w2.replay(0)
		if err != nil {
			t.Fatal(err)
		}
		s.after(recs)
		p := put(t, w2, s.next(t, "k"))
		data, err := os.ReadFile(w2.path(2))
		if err != nil {
			t.Fatal(err)
		}
		if len(data) != testSegSize || !allZero(data[p[0].end:]) {
			t.Errorf("new segment: %d bytes, unused end zero: %v", len(data), allZero(data[p[0].end:]))
		}
	})
	t.Run("no room for it", func(t *testing.T) {
		dir, key := t.TempDir(), testKey(t)
		w, s := smallWAL(t, dir, key), newSealer(key)
		w.free = func(string) (int64, bool) { return 2*testSegSize - 1, true }
		var pos []framePos
		for len(w.segs) < 3 {
			pos = append(pos, put(t, w, s.next(t, "k"))...)
		}
		for _, first := range w.segs {
			end := 0
			for _, p := range pos {
				if p.seg == first {
					end = p.end
				}
			}
			if got := fileSize(t, w.path(first)); got != int64(end) {
				t.Errorf("segment %d is %d bytes, want only its frames' %d", first, got, end)
			}
		}
		w.close()
		recs, err := replayDir(t, dir, key)
		if err != nil || !slices.Equal(seqsOf(recs), seqRange(1, s.head.Seq)) {
			t.Fatalf("replay = %v, %v", seqsOf(recs), err)
		}
	})
	t.Run("stopped by close", func(t *testing.T) {
		leaks := goleak.IgnoreCurrent()
		dir, key := t.TempDir(), testKey(t)
		w, s := smallWAL(t, dir, key), newSealer(key)
		w.segSize = walSegmentMax
		put(t, w, s.next(t, "k"))
		w.prepareAhead() // a spare of 64 MiB, as at half the segment
		if err := w.close(); err != nil {
			t.Fatal(err)
		}
		goleak.VerifyNone(t, leaks)
		// Either it was done, or it was stopped and removed.
		if fi, err := os.Stat(filepath.Join(dir, walSpare)); err == nil && fi.Size() != walSegmentMax {
			t.Errorf("a %d-byte spare was left", fi.Size())
		} else if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Error(err)
		}
		stop := make(chan struct{})
		close(stop)
		if err := w.prepare(stop); !errors.Is(err, errStopped) {
			t.Errorf("prepare when stopped = %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, walSpare)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a stopped spare was left: %v", err)
		}
	})
}

// BenchmarkWALWriteSync measures one audited event's cost to the log: an
// ~8 KiB frame written and synced, as a syncer does under light load.
func BenchmarkWALWriteSync(b *testing.B) {
	key := testKey(b)
	w, err := openWAL(b.TempDir(), key)
	if err != nil {
		b.Fatal(err)
	}
	defer w.close()
	made := make(chan error, 1)
	w.onSpare = func(err error) { made <- err }
	ck := newChainKey(key)
	e := exchange("k", "a", ResultOK, strings.Repeat("r", 8<<10))
	e.Time = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var frames []byte
	seq := uint64(0)
	round := func() {
		seq++
		e.Seq = seq
		rec, err := ck.seal(&e)
		if err != nil {
			b.Fatal(err)
		}
		if frames, err = w.frame(frames[:0], rec); err != nil {
			b.Fatal(err)
		}
		if err := w.write(frames, seq); err != nil {
			b.Fatal(err)
		}
		if err := w.f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	round() // the first write makes a segment
	w.ahead = true
	w.prepareAhead()
	if err := <-made; err != nil {
		b.Fatal(err) // and the spare after it, which the rounds must not race
	}
	b.SetBytes(int64(len(frames)))
	b.ResetTimer()
	for range b.N {
		round()
	}
}

// A syncer may sync a segment that rotation has just closed; it takes
// os.ErrClosed to mean the rotation synced it.
func TestWALSyncOfAClosedSegmentSaysClosed(t *testing.T) {
	name := filepath.Join(t.TempDir(), "seg")
	if err := os.WriteFile(name, make([]byte, 10), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := openSegment(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{1}, 3); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("Sync = %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Sync after Close = %v, want os.ErrClosed", err)
	}
}

// Replaying a full-size segment must not take the segment's size in the
// heap: starting with two 64 MiB segments used to hold 128 MiB at once.
func TestWALReplayDoesNotReadSegmentsIntoTheHeap(t *testing.T) {
	dir, key := t.TempDir(), testKey(t)
	w, s := smallWAL(t, dir, key), newSealer(key)
	w.segSize = walSegmentMax
	for range 3 {
		put(t, w, s.next(t, "k"))
	}
	w.close()
	if got := fileSize(t, w.path(1)); got != walSegmentMax {
		t.Fatalf("segment is %d bytes, want %d", got, walSegmentMax)
	}
	// Replay as the last segment cuts its zeros off; an older segment
	// keeps them, so replay the segment as an older one.
	w2 := smallWAL(t, dir, key)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	recs, err := w2.replaySegment(nil, 1, false)
	runtime.ReadMemStats(&after)
	if err != nil || len(recs) != 3 {
		t.Fatalf("replay: %d records, %v", len(recs), err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("replaying a %d MiB segment allocated %d bytes", walSegmentMax>>20, alloc)
	}
}
