package audit

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/latchkeyhq/latchkey/store"
)

// layout is where put wrote the frames of a two-segment log.
type layout struct {
	dir         string
	first, last []framePos // the frames of each segment
}

func countIn(pos []framePos, seg uint64) int {
	n := 0
	for _, p := range pos {
		if p.seg == seg {
			n++
		}
	}
	return n
}

func (l layout) lastFile() string  { return (&wal{dir: l.dir}).path(l.last[0].seg) }
func (l layout) firstFile() string { return (&wal{dir: l.dir}).path(l.first[0].seg) }

// The shapes a crash, damage or an attacker can leave in the log, and
// what replay makes of them. The log holds two segments; the last holds
// frames L0..L4 and nothing was written after them.
func TestWALReplayOfDamagedOrTornSegments(t *testing.T) {
	const tampered = -1
	cases := []struct {
		name string
		edit func(t *testing.T, l layout)
		keep int // frames of the last segment replayed, or tampered
	}{
		{"nothing changed", func(*testing.T, layout) {}, 5},
		{"last frame cut short", func(t *testing.T, l layout) {
			f := l.last[4]
			overwrite(t, l.lastFile(), f.start+(f.end-f.start)/2, make([]byte, (f.end-f.start)/2+1))
		}, 4},
		{"last frame zeroed", func(t *testing.T, l layout) {
			f := l.last[4]
			overwrite(t, l.lastFile(), f.start, make([]byte, f.end-f.start))
		}, 4},
		{"last frame damaged, zeros after it", func(t *testing.T, l layout) {
			overwrite(t, l.lastFile(), l.last[4].start+40, fill(8, 0xff))
		}, 4},
		{"a block lost, later frames on disk", func(t *testing.T, l layout) {
			// The block holding L2's start reached the disk before L2 was
			// written; the blocks after it reached it later.
			f := l.last[2]
			if blockEnd(f.start) > l.last[4].start {
				t.Fatalf("layout: L4 at %d is in L2's block", l.last[4].start)
			}
			overwrite(t, l.lastFile(), f.start, make([]byte, blockEnd(f.start)-f.start))
		}, 2},
		{"a block lost inside a frame, later frames on disk", func(t *testing.T, l layout) {
			f := l.last[1]
			b := blockEnd(f.start + 4)
			if b >= f.end || b+walBlock > l.last[4].start {
				t.Fatalf("layout: no block boundary inside L1 (%d-%d)", f.start, f.end)
			}
			overwrite(t, l.lastFile(), b, make([]byte, walBlock))
		}, 1},
		{"zero gap, then a later frame", func(t *testing.T, l layout) {
			overwrite(t, l.lastFile(), l.last[2].start, make([]byte, l.last[4].start-l.last[2].start))
		}, 2},
		{"bytes past the preallocated end", func(t *testing.T, l layout) {
			overwrite(t, l.lastFile(), testSegSize, []byte{0, 0, 1, 0, 9, 9, 9})
		}, 5},
		{"every frame of the last segment zeroed", func(t *testing.T, l layout) {
			overwrite(t, l.lastFile(), 0, make([]byte, l.last[4].end))
		}, 0},
		{"middle frame damaged, valid frames after", func(t *testing.T, l layout) {
			overwrite(t, l.lastFile(), l.last[2].start+40, fill(8, 0xff))
		}, tampered},
		{"middle frame length damaged", func(t *testing.T, l layout) {
			overwrite(t, l.lastFile(), l.last[2].start, fill(4, 0xff))
		}, tampered},
		{"zeros in the middle of a block, valid frames after", func(t *testing.T, l layout) {
			// Not what a disk leaves: a block holds its bytes up to a
			// point and zeros after it, never zeros and then bytes.
			f := l.last[2]
			if blockEnd(f.start) < f.end {
				t.Fatalf("layout: L2 (%d-%d) crosses a block boundary", f.start, f.end)
			}
			overwrite(t, l.lastFile(), f.start+4, make([]byte, f.end-f.start-8))
		}, tampered},
		{"earlier segment damaged", func(t *testing.T, l layout) {
			overwrite(t, l.firstFile(), l.first[3].start+40, fill(8, 0xff))
		}, tampered},
		{"block of an earlier segment zeroed", func(t *testing.T, l layout) {
			f := l.first[3]
			overwrite(t, l.firstFile(), f.start, make([]byte, blockEnd(f.start)-f.start))
		}, tampered},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, key := t.TempDir(), testKey(t)
			w, s := smallWAL(t, dir, key), newSealer(key)
			var pos []framePos
			for len(w.segs) < 2 || len(pos) == 0 || countIn(pos, w.segs[1]) < 5 {
				pos = append(pos, put(t, w, s.next(t, "k"))...)
			}
			w.close()
			l := layout{dir: dir}
			for _, p := range pos {
				if p.seg == w.segs[0] {
					l.first = append(l.first, p)
				} else {
					l.last = append(l.last, p)
				}
			}
			tc.edit(t, l)

			recs, err := replayDir(t, dir, key)
			if tc.keep == tampered {
				if !errors.Is(err, ErrTampered) {
					t.Fatalf("replay = %v, want ErrTampered", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("replay: %v", err)
			}
			want := seqRange(1, uint64(len(l.first)+tc.keep))
			if got := seqsOf(recs); !slices.Equal(got, want) {
				t.Fatalf("replayed %v, want %v", got, want)
			}
			// The log carries on after what it kept, and keeps it.
			w2 := smallWAL(t, dir, key)
			if _, err := w2.replay(0); err != nil {
				t.Fatal(err)
			}
			s.after(recs)
			put(t, w2, s.next(t, "k2"))
			w2.close()
			recs, err = replayDir(t, dir, key)
			if err != nil {
				t.Fatalf("replay after the next write: %v", err)
			}
			if got, want := seqsOf(recs), append(want, uint64(len(want)+1)); !slices.Equal(got, want) {
				t.Fatalf("replayed after the next write %v, want %v", got, want)
			}
			checkChain(t, key, recs)
		})
	}
}

// cutFile makes the next fail writes fail, the first of them after
// writing its first keep bytes.
type cutFile struct {
	walFile
	fail, keep int
}

func (f *cutFile) WriteAt(p []byte, off int64) (int, error) {
	if f.fail == 0 {
		return f.walFile.WriteAt(p, off)
	}
	f.fail--
	n, _ := f.walFile.WriteAt(p[:min(f.keep, len(p))], off)
	f.keep = 0
	return n, errors.New("EIO")
}

// A write that fails after two whole frames reached the file is taken
// back, so a retry of the same sequence numbers is not followed by the
// rest of the failed attempt: zeros are written back over a zero-filled
// segment, a segment that grows is cut back. If that fails too the log
// refuses writes until reopened.
func TestWALFailedWriteIsTakenBack(t *testing.T) {
	cases := []struct {
		name       string
		noRoom     bool // segments are not zero-filled, and grow
		undoFails  bool
		wantRetry  bool
		wantReplay []uint64
	}{
		{"zeros written back", false, false, true, []uint64{1, 2}},
		{"growing segment cut back", true, false, true, []uint64{1, 2}},
		// What reached the file was never acknowledged, but it chains on
		// the log, as unsynced events at a crash do.
		{"zeros cannot be written back", false, true, false, []uint64{1, 2, 3}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, key := t.TempDir(), testKey(t)
			w, s := smallWAL(t, dir, key), newSealer(key)
			if tc.noRoom {
				w.free = func(string) (int64, bool) { return 0, true }
			}
			cf := &cutFile{}
			w.create = func(name string) (walFile, error) {
				f, err := openSegment(name)
				cf.walFile = f
				return cf, err
			}
			p := put(t, w, s.next(t, "k"))
			retry := *s
			failed := []store.AuditRecord{s.next(t, "k2"), s.next(t, "k3"), s.next(t, "k4")}
			var frames []byte
			for _, r := range failed[:2] {
				frames, _ = w.frame(frames, r)
			}
			cf.fail, cf.keep = 1, len(frames)
			if tc.undoFails {
				cf.fail = 2
			}
			frames, _ = w.frame(frames, failed[2])
			if err := w.write(frames, 2); !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("failed write = %v, want ErrUnavailable", err)
			}
			wantSize := int64(testSegSize)
			if tc.noRoom {
				wantSize = int64(p[0].end)
			}
			if got := fileSize(t, w.path(1)); got != wantSize {
				t.Errorf("after the failed write the segment is %d bytes, want %d", got, wantSize)
			}
			again := retry.next(t, "k9") // as long as the failed event 2
			one, _ := w.frame(nil, again)
			err := w.write(one, 2)
			if tc.wantRetry != (err == nil) {
				t.Fatalf("retry = %v, want success %v", err, tc.wantRetry)
			}
			if err == nil {
				if err := w.f.Sync(); err != nil {
					t.Fatal(err)
				}
			} else if !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("retry = %v, want ErrUnavailable", err)
			}
			w.close()
			recs, err := replayDir(t, dir, key)
			if err != nil {
				t.Fatalf("replay: %v", err)
			}
			if got := seqsOf(recs); !slices.Equal(got, tc.wantReplay) {
				t.Fatalf("replayed %v, want %v", got, tc.wantReplay)
			}
			want := failed[0]
			if tc.wantRetry {
				want = again
			}
			if !bytes.Equal(recs[1].Body, want.Body) {
				t.Errorf("event 2 replayed from the wrong attempt")
			}
			checkChain(t, key, recs)
		})
	}
}
