//go:build linux && (amd64 || arm64)

package audit

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

func newTestAsyncSync(t *testing.T) *asyncSync {
	t.Helper()
	a, err := newAsyncSync()
	if err != nil {
		t.Skipf("no native AIO here: %v", err)
	}
	t.Cleanup(a.close)
	return a
}

func TestAsyncSyncFlushesSegments(t *testing.T) {
	a := newTestAsyncSync(t)
	name := filepath.Join(t.TempDir(), "seg")
	if err := os.WriteFile(name, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := openSegmentWith(name, a)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Syncers overlap their flushes: many at once, each answered.
	const workers, each = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if _, err := f.WriteAt([]byte{byte(w), byte(i)}, int64(w*4096+i*2)); err != nil {
					errs <- err
					return
				}
				errs <- f.Sync()
			}
		})
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != workers*each {
		t.Fatalf("%d syncs answered, want %d", n, workers*each)
	}
	a.mu.Lock()
	left, submitted := len(a.waits), a.next
	a.mu.Unlock()
	if left != 0 || submitted != workers*each {
		t.Fatalf("%d flushes still waiting of %d submitted, want 0 of %d: the syncs did not go through AIO", left, submitted, workers*each)
	}
}

func TestAsyncSyncRefusedFallsBackToFdatasync(t *testing.T) {
	a := newTestAsyncSync(t)
	// A pipe has no fsync: io_submit refuses the flush, the blocking
	// fdatasync is tried, and its error is the one reported.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	err = dataSyncFile{File: w, async: a}.Sync()
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Op != "fdatasync" || !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("Sync of a pipe = %v, want fdatasync's EINVAL", err)
	}
	// A closed syncer refuses flushes; segments then sync themselves.
	a.close()
	name := filepath.Join(t.TempDir(), "seg")
	if err := os.WriteFile(name, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := openSegmentWith(name, a)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := a.submit(0); !errors.Is(err, errAsyncSyncClosed) {
		t.Fatalf("submit after close = %v, want errAsyncSyncClosed", err)
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("Sync after the syncer closed: %v", err)
	}
}

func TestAsyncSyncReportsFlushErrors(t *testing.T) {
	// The kernel answers a failed flush with a negated errno. A flush that
	// fails on a real disk cannot be made here, so the answer is handed
	// to the waiter as the reaper would hand it.
	a := &asyncSync{waits: make(map[uint64]chan int64)}
	ch := make(chan int64, 1)
	a.waits[7] = ch
	a.flying.Add(1)
	a.complete(7, -int64(syscall.EIO))
	a.complete(7, 0) // a second answer for one flush is dropped
	res := <-ch
	select {
	case got := <-ch:
		t.Fatalf("waiter answered twice, the second time %d", got)
	default:
	}
	err := flushError("seg", res)
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Op != "fdatasync" || pe.Path != "seg" || !errors.Is(err, syscall.EIO) {
		t.Fatalf("a flush answered %d is reported as %v, want fdatasync seg: EIO", res, err)
	}
	if err := flushError("seg", 0); err != nil {
		t.Fatalf("a flush answered 0 is reported as %v", err)
	}
}

func TestAsyncSyncAbandonFailsWaitersAndRefusesMore(t *testing.T) {
	// Should the reaper stop with flushes in flight, their outcome is
	// unknown: each fails, and no flush is submitted after.
	a := &asyncSync{waits: make(map[uint64]chan int64)}
	waiting := []chan int64{make(chan int64, 1), make(chan int64, 1)}
	for i, ch := range waiting {
		a.waits[uint64(i)] = ch
		a.flying.Add(1)
	}
	a.abandon()
	for i, ch := range waiting {
		if got := <-ch; got != -int64(syscall.EIO) {
			t.Fatalf("flush %d answered %d, want -EIO", i, got)
		}
	}
	a.flying.Wait() // every flush answered once
	if _, err := a.submit(0); !errors.Is(err, errAsyncSyncClosed) {
		t.Fatalf("submit after the reaper stopped = %v, want errAsyncSyncClosed", err)
	}
}

func TestOpenTellsWhenTheLogSyncsBlocking(t *testing.T) {
	openWith := func(t *testing.T) (told []error) {
		tr := openTrail(t, Config{
			Log: newMemLog(), Key: testKey(t), WALDir: t.TempDir(),
			OnBlockingSync: func(reason error) { told = append(told, reason) },
		})
		record(t, tr, exchange("k", "a", ResultOK, ""))
		return told
	}
	if a, err := newAsyncSync(); err == nil {
		a.close()
		if told := openWith(t); len(told) != 0 {
			t.Fatalf("told of blocking syncs %v with native AIO available", told)
		}
	}
	refused := errors.New("io_setup: operation not permitted")
	startAsyncSync = func() (*asyncSync, error) { return nil, refused }
	t.Cleanup(func() { startAsyncSync = newAsyncSync })
	if told := openWith(t); len(told) != 1 || told[0] != refused {
		t.Fatalf("told %v, want the refusal once", told)
	}
}
