package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

func walSegments(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, walPrefix+"*"+walSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// smallSegments has tr's log start 64 KiB segments rather than 64 MiB
// ones: these tests write little, and some need several segments. A spare
// made at open, of the full size, is made again at the small one.
func smallSegments(tr *Trail) {
	tr.wal.spareMu.Lock()
	defer tr.wal.spareMu.Unlock()
	tr.wal.segSize, tr.wal.spareReady = 64<<10, false
}

// An event is acknowledged once the log has it, before the store does.
func TestLoggedEventsAreAcknowledgedBeforeTheStoreCopy(t *testing.T) {
	log, dir := newMemLog(), t.TempDir()
	tr := openTrail(t, Config{Log: log, Key: testKey(t), WALDir: dir})
	smallSegments(tr)
	block := make(chan struct{})
	log.mu.Lock()
	log.block = block
	log.mu.Unlock()
	for i := range 5 {
		if e := record(t, tr, exchange("k", "a", ResultOK, "")); e.Seq != uint64(i+1) {
			t.Fatalf("seq %d", e.Seq)
		}
	}
	// Reads wait for the store to catch up, up to their deadline.
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := tr.Query(short, Query{}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Query while the store is stuck = %v, want ErrUnavailable", err)
	}
	log.mu.Lock()
	log.block = nil
	log.mu.Unlock()
	close(block)
	page, err := tr.Query(context.Background(), Query{})
	if err != nil || len(page.Events) != 5 {
		t.Fatalf("Query after the store caught up = %d events, %v", len(page.Events), err)
	}
	if res := mustVerify(t, tr); res.Events != 5 {
		t.Errorf("verified %d", res.Events)
	}
}

// A crash (here: a store that never took the copy) loses nothing: the
// next Open copies the logged events to the store.
func TestOpenRecoversLoggedEvents(t *testing.T) {
	log, dir, key := newMemLog(), t.TempDir(), testKey(t)
	tr, err := Open(context.Background(), Config{Log: log, Key: key, WALDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	record(t, tr, exchange("k", "a", ResultOK, ""))
	waitFor(t, func() bool { return tr.indexed.Load() == 1 })
	log.setFail(errors.New("store down"))
	var want []Event
	for range 20 {
		want = append(want, record(t, tr, exchange("k", "a", ResultOK, "")))
	}
	tr.Close()
	if len(log.recs) != 1 {
		t.Fatalf("store holds %d events, want only the first", len(log.recs))
	}
	// A torn frame at the end, as a crash mid-write leaves.
	segs := walSegments(t, dir)
	f, err := os.OpenFile(segs[len(segs)-1], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0, 0, 1, 0, 9, 9, 9})
	f.Close()
	log.setFail(nil)
	tr2 := openTrail(t, Config{Log: log, Key: key, WALDir: dir})
	if tr2.Head() != 21 {
		t.Fatalf("head after recovery %d, want 21", tr2.Head())
	}
	res := mustVerify(t, tr2)
	if res.Events != 21 {
		t.Errorf("verified %d events, want 21", res.Events)
	}
	got, err := log.GetAudit(context.Background(), 21)
	if e, _ := open(got); err != nil || e.Seq != 21 || string(e.MAC) != string(want[19].MAC) {
		t.Errorf("recovered event 21 = %+v, %v", e, err)
	}
	if e := record(t, tr2, exchange("k", "a", ResultOK, "")); e.Seq != 22 {
		t.Errorf("next event %d, want 22", e.Seq)
	}
}

// failingFile fails the next write (after writing part of it, if
// partial) when told to.
type failingFile struct {
	walFile
	failNext, partial bool
}

func (f *failingFile) WriteAt(p []byte, off int64) (int, error) {
	if !f.failNext {
		return f.walFile.WriteAt(p, off)
	}
	f.failNext = false
	if f.partial {
		n, _ := f.walFile.WriteAt(p[:len(p)/2], off)
		return n, errors.New("disk full")
	}
	return 0, errors.New("disk full")
}

func TestFailedLogWriteIsRefusedAndRewritten(t *testing.T) {
	for _, partial := range []bool{false, true} {
		t.Run(fmt.Sprintf("partial=%v", partial), func(t *testing.T) {
			log, dir, key := newMemLog(), t.TempDir(), testKey(t)
			tr, err := Open(context.Background(), Config{Log: log, Key: key, WALDir: dir})
			if err != nil {
				t.Fatal(err)
			}
			smallSegments(tr)
			ff := &failingFile{}
			tr.wal.create = func(name string) (walFile, error) {
				f, err := openSegment(name)
				ff.walFile = f
				return ff, err
			}
			record(t, tr, exchange("k", "a", ResultOK, ""))
			ff.failNext, ff.partial = true, partial
			if _, err := tr.Record(context.Background(), exchange("k", "a", ResultOK, "")); !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("Record with the log failing = %v", err)
			}
			if e := record(t, tr, exchange("k2", "a", ResultOK, "")); e.Seq != 2 {
				t.Fatalf("after the failure the next event is %d, want 2", e.Seq)
			}
			waitFor(t, func() bool { return tr.indexed.Load() == 2 })
			// Recovery from the log alone must give the same chain.
			log.setFail(errors.New("store down"))
			record(t, tr, exchange("k3", "a", ResultOK, ""))
			tr.Close()
			log.setFail(nil)
			tr2 := openTrail(t, Config{Log: log, Key: key, WALDir: dir})
			smallSegments(tr2)
			if res := mustVerify(t, tr2); res.Events != 3 {
				t.Errorf("verified %d events, want 3", res.Events)
			}
		})
	}
}

func TestSegmentsAreDroppedOnceStored(t *testing.T) {
	log, dir, key := newMemLog(), t.TempDir(), testKey(t)
	tr := openTrail(t, Config{Log: log, Key: key, WALDir: dir})
	smallSegments(tr)
	record(t, tr, exchange("k", "a", ResultOK, ""))
	waitFor(t, func() bool { return tr.indexed.Load() == 1 })
	// Force a new segment, as a full one would be.
	tr.wal.size = tr.wal.segSize
	record(t, tr, exchange("k", "a", ResultOK, ""))
	waitFor(t, func() bool { return tr.indexed.Load() == 2 })
	waitFor(t, func() bool { return len(walSegments(t, dir)) == 1 })
	if segs := walSegments(t, dir); filepath.Base(segs[0]) != fmt.Sprintf("%s%020d%s", walPrefix, 2, walSuffix) {
		t.Errorf("kept %v, want only the segment starting at 2", segs)
	}
}

func TestLogThatDoesNotContinueTheStoreIsRefused(t *testing.T) {
	log, dir, key := newMemLog(), t.TempDir(), testKey(t)
	tr, err := Open(context.Background(), Config{Log: log, Key: key, WALDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	smallSegments(tr)
	log.setFail(errors.New("store down"))
	for range 3 {
		record(t, tr, exchange("k", "a", ResultOK, ""))
	}
	tr.Close()
	log.setFail(nil)
	// Another trail's log in the same folder: it does not chain on.
	other := newMemLog()
	if tr, err := Open(context.Background(), Config{Log: other, Key: testKey(t), WALDir: dir}); err == nil {
		tr.Close()
		t.Fatal("a log sealed with another key was accepted")
	}
}

// syncFailFile fails every sync.
type syncFailFile struct{ walFile }

func (f syncFailFile) Sync() error { return errors.New("EIO") }

// After a failed sync the trail refuses events until reopened, and the
// reopened trail recovers whatever reached the log.
func TestFailedSyncStopsTheTrailUntilReopened(t *testing.T) {
	log, dir, key := newMemLog(), t.TempDir(), testKey(t)
	tr, err := Open(context.Background(), Config{Log: log, Key: key, WALDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	smallSegments(tr)
	record(t, tr, exchange("k", "a", ResultOK, ""))
	tr.mu.Lock()
	tr.wal.f = syncFailFile{tr.wal.f}
	tr.mu.Unlock()
	if _, err := tr.Record(context.Background(), exchange("k", "a", ResultOK, "")); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Record with syncs failing = %v", err)
	}
	if _, err := tr.Record(context.Background(), exchange("k", "a", ResultOK, "")); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Record after a failed sync = %v, want the trail to stay stopped", err)
	}
	tr.Close()
	tr2 := openTrail(t, Config{Log: log, Key: key, WALDir: dir})
	smallSegments(tr2)
	if e := record(t, tr2, exchange("k", "a", ResultOK, "")); e.Seq < 2 {
		t.Errorf("after reopening the next event is %d", e.Seq)
	}
	mustVerify(t, tr2)
}

// Under concurrent load every frame in the log decodes and the events
// replay in order, across the segments they filled: the frame buffers
// are never shared while written.
func TestConcurrentRecordsReplayFromTheLog(t *testing.T) {
	log, dir, key := newMemLog(), t.TempDir(), testKey(t)
	tr, err := Open(context.Background(), Config{Log: log, Key: key, WALDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	smallSegments(tr)
	// With the store down no segment is dropped.
	log.setFail(errors.New("store down"))
	const workers, each = 64, 200
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				if _, err := tr.Record(context.Background(), exchange("k", "a", ResultOK, "")); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	tr.Close()
	w, err := openWAL(dir, key)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	recs, err := w.replay(0)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if len(recs) != workers*each {
		t.Fatalf("replayed %d events, want %d", len(recs), workers*each)
	}
	for i, r := range recs {
		if r.Seq != uint64(i+1) {
			t.Fatalf("replayed event %d has seq %d", i, r.Seq)
		}
	}
	if len(w.segs) < 10 {
		t.Errorf("the events filled %d segments, want many", len(w.segs))
	}
}

// stallingFile holds every sync until release is closed.
type stallingFile struct {
	walFile
	release <-chan struct{}
}

func (f stallingFile) Sync() error {
	<-f.release
	return f.walFile.Sync()
}

// RecordWithin waits at most its bound for the event to be durable, and
// the event it gave up on is still written, in order, once the disk
// answers.
func TestRecordWithinBoundsTheWait(t *testing.T) {
	log, key := newMemLog(), testKey(t)
	release := make(chan struct{})
	tr := openTrail(t, Config{Log: log, Key: key, WALDir: t.TempDir()})
	smallSegments(tr)
	tr.wal.create = func(name string) (walFile, error) {
		f, err := openSegment(name)
		return stallingFile{walFile: f, release: release}, err
	}
	var (
		mu        sync.Mutex
		published []string
	)
	tr.AddHook(func(e Event) {
		mu.Lock()
		published = append(published, e.KeyID)
		mu.Unlock()
	})
	start := time.Now()
	if err := tr.RecordWithin(exchange("k", "a", ResultOK, ""), 50*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RecordWithin with the disk stalled = %v, want DeadlineExceeded", err)
	}
	if took := time.Since(start); took < 50*time.Millisecond || took > 5*time.Second {
		t.Fatalf("RecordWithin gave up after %v, want 50ms", took)
	}
	close(release)
	if err := tr.RecordWithin(exchange("k2", "a", ResultOK, ""), 5*time.Second); err != nil {
		t.Fatalf("RecordWithin once the disk answers = %v", err)
	}
	waitFor(t, func() bool { return tr.indexed.Load() == 2 })
	if res := mustVerify(t, tr); res.Events != 2 {
		t.Fatalf("verified %d events, want both", res.Events)
	}
	page, err := tr.Query(context.Background(), Query{})
	if err != nil || len(page.Events) != 2 || page.Events[0].KeyID != "k" || page.Events[1].KeyID != "k2" {
		t.Fatalf("events after the stall = %+v, %v", page.Events, err)
	}
	// The request given up on stays the trail's: the next call does not
	// reuse it, so each event is published as it was recorded.
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(published) != "[k k2]" {
		t.Fatalf("published %v, want [k k2]", published)
	}
}

func TestDropFront(t *testing.T) {
	for _, tc := range []struct {
		len, n int
		reused bool
	}{{10, 10, true}, {10, 7, true}, {10, 5, true}, {10, 4, false}, {10, 0, true}, {0, 0, true}} {
		s := make([]*int, tc.len, tc.len+5)
		for i := range s {
			v := i
			s[i] = &v
		}
		backing := s[:cap(s)]
		got := dropFront(s, tc.n)
		if len(got) != tc.len-tc.n {
			t.Fatalf("dropFront(len %d, %d): len %d", tc.len, tc.n, len(got))
		}
		for i, p := range got {
			if *p != tc.n+i {
				t.Fatalf("dropFront(len %d, %d)[%d] = %d, want %d", tc.len, tc.n, i, *p, tc.n+i)
			}
		}
		if reused := cap(got) == cap(s); reused != tc.reused {
			t.Errorf("dropFront(len %d, %d): array reused %t, want %t", tc.len, tc.n, reused, tc.reused)
		}
		if tc.reused {
			for i := len(got); i < tc.len; i++ {
				if backing[i] != nil {
					t.Errorf("dropFront(len %d, %d): element %d left behind", tc.len, tc.n, i)
				}
			}
		}
	}
}

// setLoad makes the trail act as if its last write carried n events, so
// that the next write gathers for at most wait.
func setLoad(tr *Trail, n int, wait time.Duration) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.lastWrite, tr.gather = n, wait
}

// Under load a syncer gathers until as many events are framed as the last
// write carried: callers that all wait on the trail are written as soon
// as the last of them arrives, not held for the whole wait.
func TestGatherEndsWhenTheLastWritesCallersAreBack(t *testing.T) {
	tr := openTrail(t, Config{Log: newMemLog(), Key: testKey(t), WALDir: t.TempDir()})
	record(t, tr, exchange("k", "a", ResultOK, "")) // the first segment is made
	const callers = 2 * gatherLoad
	setLoad(tr, callers, time.Hour)
	errs := make(chan error, callers)
	for i := range callers {
		go func() { errs <- tr.RecordWithin(exchange(fmt.Sprint("k", i), "a", ResultOK, ""), time.Minute) }()
	}
	for range callers {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the callers of the last write were held for the gathering's whole wait")
		}
	}
	if res := mustVerify(t, tr); res.Events != callers+1 {
		t.Fatalf("verified %d events, want %d", res.Events, callers+1)
	}
}

// Fewer callers than the last write carried are written when the wait
// ends.
func TestGatherEndsWhenItsWaitIsOver(t *testing.T) {
	tr := openTrail(t, Config{Log: newMemLog(), Key: testKey(t), WALDir: t.TempDir()})
	record(t, tr, exchange("k", "a", ResultOK, ""))
	const wait = 30 * time.Millisecond
	setLoad(tr, 4*gatherLoad, wait)
	start := time.Now()
	if err := tr.RecordWithin(exchange("k2", "a", ResultOK, ""), time.Minute); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < wait {
		t.Fatalf("one event under load was written after %v, before the gathering's wait of %v", took, wait)
	}
	// The lone event's write is now the last: the next one does not wait.
	tr.mu.Lock()
	last := tr.lastWrite
	tr.mu.Unlock()
	if last != 1 {
		t.Fatalf("last write carried %d events, want 1", last)
	}
}

// The watchdog ends the waits that are over, once each, and leaves the
// requests the trail answered (or that went back to the pool) alone.
func TestWatchdogEndsOnlyWaitsThatAreOver(t *testing.T) {
	tr := &Trail{}
	newReq := func(due int64) *request {
		r := &request{done: make(chan error, 1)}
		r.state.Store(due)
		tr.watched = append(tr.watched, r)
		return r
	}
	over, later, answered, pooled := newReq(100), newReq(300), newReq(100), newReq(100)
	answered.answer(nil)
	<-answered.done
	putRequest(pooled)
	tr.endWaitsOver(200)
	if err := <-over.done; err != errWaitOver {
		t.Fatalf("the wait that is over got %v, want errWaitOver", err)
	}
	if len(later.done) != 0 || len(answered.done) != 0 || len(pooled.done) != 0 {
		t.Fatal("a request whose wait is not over was answered by the watchdog")
	}
	if len(tr.watched) != 1 || tr.watched[0] != later {
		t.Fatalf("%d requests still watched, want only the later one", len(tr.watched))
	}
	// The trail's own answer, when the event is written after all, is
	// not sent: nobody waits for it, and a second send could block.
	over.answer(nil)
	if len(over.done) != 0 {
		t.Fatal("a request the watchdog answered was answered again")
	}
	tr.endWaitsOver(300)
	if err := <-later.done; err != errWaitOver {
		t.Fatalf("the later wait got %v at its end, want errWaitOver", err)
	}
	if len(tr.watched) != 0 {
		t.Fatalf("%d requests still watched, want none", len(tr.watched))
	}
}

func TestWALTrailRefusesUnencodableTimeWithoutAGap(t *testing.T) {
	c := newClock()
	tr := openTrail(t, Config{Log: newMemLog(), Key: testKey(t), Now: c.Now, WALDir: t.TempDir()})
	first := record(t, tr, exchange("k", "a", ResultOK, ""))
	// A clock past year 9999 cannot be written as RFC 3339: the event is
	// refused before it is numbered, and neither it nor any later event
	// is lost or leaves a gap in the chain.
	c.mu.Lock()
	now := c.t
	c.t = time.Date(10001, 1, 1, 0, 0, 0, 0, time.UTC)
	c.mu.Unlock()
	if _, err := tr.Record(context.Background(), exchange("k", "a", ResultOK, "")); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Fatalf("Record at %s = %v, want an out-of-range error", c.Now(), err)
	}
	c.mu.Lock()
	c.t = now.Add(time.Second)
	c.mu.Unlock()
	second := record(t, tr, exchange("k", "a", ResultOK, ""))
	if second.Seq != first.Seq+1 || !bytes.Equal(second.Prev, first.MAC) {
		t.Fatalf("the event after the refused one is %d chained on %x, want %d chained on %x", second.Seq, second.Prev, first.Seq+1, first.MAC)
	}
	res, err := tr.Verify(context.Background())
	if err != nil || res.Break != nil || res.Events != 2 {
		t.Fatalf("Verify = %+v, %v; want 2 events and no break", res, err)
	}
}
