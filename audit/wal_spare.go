package audit

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// A segment is born as the spare: a file of zeros, written and synced in
// the background while the current segment fills, so that rotation is a
// rename and every sync of a segment flushes data only.

// takeSpare gives the spare the segment name, making a spare first if
// none is ready, makes the name durable and returns the spare's size. A
// segment of that name, whose every frame replay found torn, is replaced.
func (w *wal) takeSpare(name string) (int64, error) {
	w.spareMu.Lock()
	defer w.spareMu.Unlock()
	ready := w.spareReady
	w.spareReady = false
	if !ready {
		if err := w.prepare(nil); err != nil {
			return 0, err
		}
	}
	spare := filepath.Join(w.dir, walSpare)
	err := os.Rename(spare, name)
	if ready && errors.Is(err, fs.ErrNotExist) {
		// Removed behind the log's back: make another.
		if err = w.prepare(nil); err == nil {
			err = os.Rename(spare, name)
		}
	}
	if err != nil {
		return 0, err
	}
	return w.spareSize, syncDir(w.dir)
}

var errStopped = errors.New("audit log closed")

// prepare writes the spare, w.segSize zero bytes, and syncs it; it runs
// under spareMu. The zeros are written rather than allocated with
// fallocate: on ext4 that leaves unwritten extents, and converting them
// on first write is a metadata change for every sync to commit. On a
// filesystem short of room the spare is left empty, so it never fills
// the disk the store needs, and the segment grows as frames are written:
// slower syncs, the same log.
func (w *wal) prepare(stop <-chan struct{}) (err error) {
	name := filepath.Join(w.dir, walSpare)
	f, err := os.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(name)
		}
	}()
	size := w.segSize
	if free, ok := w.free(w.dir); ok && free < 2*size {
		size = 0
	}
	zeros := make([]byte, min(size, 1<<20))
	for left := size; left > 0; left -= int64(len(zeros)) {
		select {
		case <-stop:
			return errStopped
		default:
		}
		zeros = zeros[:min(left, int64(len(zeros)))]
		if _, err := f.Write(zeros); err != nil {
			return err
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	w.spareSize = size
	return nil
}

// prepareAhead has the next spare made in the background, starting the
// goroutine that makes it the first time.
func (w *wal) prepareAhead() {
	if w.spareWake == nil {
		w.spareWake, w.spareStop, w.spareDone = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
		go w.spareLoop()
	}
	select {
	case w.spareWake <- struct{}{}:
	default:
	}
}

func (w *wal) spareLoop() {
	defer close(w.spareDone)
	for {
		select {
		case <-w.spareStop:
			return
		case <-w.spareWake:
		}
		w.spareMu.Lock()
		var err error
		if !w.spareReady {
			err = w.prepare(w.spareStop)
			w.spareReady = err == nil
		}
		w.spareMu.Unlock()
		if w.onSpare != nil {
			w.onSpare(err)
		}
	}
}
