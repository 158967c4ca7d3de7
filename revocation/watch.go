package revocation

import (
	"github.com/latchkeyhq/latchkey/store"
)

// Watcher receives applied revocations in revision order. It owns no
// goroutine: the view pushes into its buffered channel without blocking
// and drops it when the buffer is full.
type Watcher struct {
	v  *View
	ch chan store.Revocation
	// err and closed are guarded by v.mu.
	err    error
	closed bool
}

// Watch returns a watcher that first yields the events after from (replayed
// from the history ring) and then live ones. It returns ErrResync if from
// is newer than Revision or older than the ring reaches.
//
// The channel has room for the replayed events plus the watch buffer, so a
// watcher catching up is not dropped for its backlog alone.
func (v *View) Watch(from uint64) (*Watcher, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if from > v.rev || from < v.hist.floor {
		return nil, ErrResync
	}
	backlog := v.hist.after(from)
	w := v.addLocked(len(backlog))
	for _, e := range backlog {
		w.ch <- e
	}
	return w, nil
}

// SnapshotAndWatch returns every entry held, the revision it reflects, and
// a watcher that yields exactly the events after that revision: the three
// are taken under one lock, so no revocation falls between them.
func (v *View) SnapshotAndWatch() ([]store.Revocation, uint64, *Watcher) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.snapshotLocked(), v.rev, v.addLocked(0)
}

func (v *View) addLocked(backlog int) *Watcher {
	w := &Watcher{v: v, ch: make(chan store.Revocation, backlog+v.opts.buffer)}
	v.watchers[w] = struct{}{}
	return w
}

// dropLocked detaches w and closes its channel. The caller holds v.mu.
func (v *View) dropLocked(w *Watcher, err error) {
	if w.closed {
		return
	}
	w.closed = true
	w.err = err
	delete(v.watchers, w)
	close(w.ch)
}

// Events yields revocations in revision order. It is closed by Close or
// when the watcher is dropped; Err then tells which.
func (w *Watcher) Events() <-chan store.Revocation { return w.ch }

// Err returns ErrResync if the watcher was dropped for falling behind, and
// nil while it is open or after Close.
func (w *Watcher) Err() error {
	w.v.mu.RLock()
	defer w.v.mu.RUnlock()
	return w.err
}

// Close detaches the watcher and closes its channel. It is safe to call
// more than once and after the watcher was dropped.
func (w *Watcher) Close() {
	w.v.mu.Lock()
	defer w.v.mu.Unlock()
	w.v.dropLocked(w, nil)
}
