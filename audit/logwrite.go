package audit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

// With a write-ahead log, a caller only numbers its event and queues it
// under the trail's lock. A few syncer goroutines take turns: each seals
// and frames every event queued, chaining each on the one before, writes
// them (sealing and writes stay in order under writeMu), then syncs,
// outside every lock; a sync covers all bytes written before it began, so
// while one waits for the disk, or after it for a CPU, the next already
// covers the events queued meanwhile. Sealing a batch in one loop keeps
// the encoder's and the MAC's code and state in the cache: sealed one at
// a time by each caller, between the caller's own work, an event cost
// more than twice its sealing alone.
// Callers are acknowledged, and events published, strictly in sequence
// order.
//
// A failed write fails every event not yet written (they chain on each
// other) and the trail carries on from the last event written. A failed
// sync is not retried: after fsync fails the kernel may have dropped what
// it could not write, so the trail refuses every later event until it is
// reopened, and replays the log then.

// walSyncers is how many write-and-sync rounds may be in flight at once.
const walSyncers = 3

// Under load, a syncer that finds fewer events framed than the last write
// carried gathers before writing: it waits until as many are framed as
// that write carried, or gatherWait has passed, and while it waits the
// other syncers do not start another write, so one sync covers every
// event of the wait. A write and its fdatasync cost 60-100 µs of CPU on a
// virtual disk, whatever they cover, and under load the callers queue for
// the CPU far longer than the wait, so fewer syncs give them back more
// than the wait costs. The count ends the wait as soon as the callers of
// the last write are back, so a few callers, all waiting on the trail,
// are not held for the whole wait. Below gatherLoad events per write (one
// caller, a few) nothing waits.
//
// Measured with BenchmarkAuditPaired (both servers alive, taking turns):
// audited ÷ unaudited throughput had a median of 0.84 over nine runs
// waiting a fixed 2 ms and 0.89 waiting a fixed 4 ms; this rule against
// the fixed 2 ms, five runs each alternated, 0.89 against 0.82.
const (
	gatherWait = 4 * time.Millisecond
	gatherLoad = 16
)

// loggedReq is a request whose event is queued, waiting to be durable.
type loggedReq struct {
	*request
	rec store.AuditRecord
	end int64 // wal.total after its frame, once written
}

func (t *Trail) recordLogged(ctx context.Context, req *request) (Event, error) {
	req.state.Store(stateWaiting)
	if err := t.enqueue(req); err != nil {
		return Event{}, err
	}
	select {
	case err := <-req.done:
		if err != nil {
			return Event{}, err
		}
		return req.e, nil
	case <-ctx.Done():
		return Event{}, ctx.Err()
	}
}

// enqueue numbers req's event and hands it to the syncers, which seal,
// write and sync it, and answer on req.done once it is durable.
func (t *Trail) enqueue(req *request) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	if t.walFailed != nil {
		return t.walFailed
	}
	// Stamped under the lock, in sequence order, so times follow
	// sequence numbers. A time the encoding cannot hold is refused here:
	// once numbered, an event that fails to seal fails those after it.
	now := t.now().UTC()
	if y := now.Year(); y < 0 || y > 9999 {
		return fmt.Errorf("audit: encode event: time %s out of range", now)
	}
	t.numbered++
	req.e.Seq, req.e.Time, req.e.Prev, req.e.MAC = t.numbered, now, nil, nil
	t.headSeq.Store(t.numbered)
	t.unwritten = append(t.unwritten, loggedReq{request: req})
	// While a syncer gathers, the others wait until it is done and it
	// writes this event: waking one would only send it back to sleep, a
	// wasted futex wake and switch per event under load.
	if !t.gathering {
		t.syncCond.Signal()
	} else if len(t.unwritten) == t.gatherWant {
		select {
		case t.gathered <- struct{}{}:
		default: // already told
		}
	}
	return nil
}

// requests are reused by RecordWithin once answered by the trail. A
// request whose caller stopped waiting is left to the trail, which may
// still answer it.
var requests = sync.Pool{New: func() any { return &request{done: make(chan error, 1)} }}

func putRequest(req *request) {
	req.e = Event{}
	req.state.Store(0)
	requests.Put(req)
}

// errWaitOver is the watchdog's answer to a request whose caller waited
// as long as it would.
var errWaitOver = errors.New("audit: wait over")

// watchPeriod is how often the watchdog ends the waits that are over: a
// RecordWithin returns at most this long after its bound.
const watchPeriod = 50 * time.Millisecond

// RecordWithin is Record for a caller that waits at most about d (see
// watchPeriod) and has no context of its own to cancel the wait: it
// returns context.DeadlineExceeded when d passes first (the event may
// still be written), and otherwise what Record would.
//
// The caller waits on its request alone, and a watchdog ends the waits
// that are over: a timer per call, and a select over it and the answer,
// cost an audited exchange about 1.5 µs of CPU.
func (t *Trail) RecordWithin(e Event, d time.Duration) error {
	if t.wal == nil {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		_, err := t.Record(ctx, e)
		return err
	}
	req := requests.Get().(*request)
	req.e = e
	req.state.Store(max(1, int64(time.Since(t.epoch)+d)))
	if err := t.enqueue(req); err != nil {
		putRequest(req)
		return err
	}
	t.watchMu.Lock()
	t.watched = append(t.watched, req)
	t.watchMu.Unlock()
	if err := <-req.done; err != errWaitOver {
		putRequest(req)
		return err
	}
	return context.DeadlineExceeded
}

// watchdog ends the waits that are over, every watchPeriod, until stop
// closes.
func (t *Trail) watchdog(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(watchPeriod)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			t.endWaitsOver(int64(time.Since(t.epoch)))
		}
	}
}

// endWaitsOver answers every watched request whose wait is over at now,
// and forgets those answered. A request answered and taken again from
// the pool may be watched twice; its state says which wait it is in.
func (t *Trail) endWaitsOver(now int64) {
	t.watchMu.Lock()
	defer t.watchMu.Unlock()
	keep := t.watched[:0]
	for _, r := range t.watched {
		s := r.state.Load()
		switch {
		case s <= 0: // answered, or back in the pool
		case s <= now:
			if r.state.CompareAndSwap(s, stateAnswered) {
				r.done <- errWaitOver
			}
		default:
			keep = append(keep, r)
		}
	}
	clear(t.watched[len(keep):])
	t.watched = keep
}

// syncer writes and syncs framed events until the trail closes and
// nothing is left.
func (t *Trail) syncer() {
	defer t.syncers.Done()
	wait := time.NewTimer(time.Hour)
	wait.Stop()
	for {
		t.mu.Lock()
		for (len(t.unwritten) == 0 || t.gathering) && !t.stopSync {
			t.syncCond.Wait()
		}
		if len(t.unwritten) == 0 {
			t.mu.Unlock()
			return
		}
		gather := t.gather > 0 && t.lastWrite >= gatherLoad && len(t.unwritten) < t.lastWrite && !t.closed
		if gather {
			t.gathering, t.gatherWant = true, t.lastWrite
			select {
			case <-t.gathered: // left by a gather that ended on its timer
			default:
			}
		}
		t.mu.Unlock()
		if gather {
			wait.Reset(t.gather)
			select {
			case <-t.gathered:
				wait.Stop()
			case <-wait.C:
			}
			t.mu.Lock()
			t.gathering, t.gatherWant = false, 0
			t.syncCond.Signal()
			t.mu.Unlock()
		}
		target, f, ok := t.writeFramed()
		if !ok {
			continue
		}
		start := time.Now()
		err := f.Sync()
		if errors.Is(err, os.ErrClosed) {
			err = nil // the segment was rotated out, synced before closing
		}
		// Callers are woken from another goroutine: woken goroutines
		// queue on the waker's processor, and a syncer that goes
		// straight back into a write and a sync would keep it from them.
		t.acks <- syncDone{target: target, took: time.Since(start), err: err}
		// Measured: yielding here, before the next write and sync, lets
		// the goroutines queued behind this one run, and nearly doubles
		// audited exchanges per second under load.
		runtime.Gosched()
	}
}

type syncDone struct {
	target int64
	took   time.Duration
	err    error
}

// acker acknowledges what each sync covered, until the syncers are done.
func (t *Trail) acker() {
	defer close(t.ackerDone)
	for d := range t.acks {
		t.ackThrough(d.target, d.took, d.err)
	}
}

// writeFramed seals, frames and writes everything queued so far, in
// order, and returns the log position after it and the segment to sync.
func (t *Trail) writeFramed() (int64, walFile, bool) {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	t.mu.Lock()
	reqs, prev := t.unwritten, t.written
	if len(reqs) == 0 {
		t.mu.Unlock()
		return 0, nil, false
	}
	// The arrays swap: callers queue into the one written last time
	// while this one is written. unwrittenOld is only reassigned below,
	// so the two never share an array.
	t.unwritten = t.unwrittenOld[:0]
	t.unwrittenOld = nil
	t.mu.Unlock()
	frames, err := t.seal(reqs, prev)
	if err == nil {
		err = t.wal.write(frames, reqs[0].e.Seq)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		// Everything queued since is numbered after what failed: fail it
		// all and go on from the last event written.
		failed := append(reqs, t.unwritten...)
		t.unwritten = nil
		t.numbered = t.written.Seq
		t.headSeq.Store(t.written.Seq)
		if len(t.awaiting) == 0 {
			t.drained.Broadcast()
		}
		if t.observe != nil {
			t.observe(0, len(failed), err)
		}
		for _, r := range failed {
			r.answer(err)
		}
		return 0, nil, false
	}
	last := reqs[len(reqs)-1]
	t.written = point{Seq: last.e.Seq, MAC: last.e.MAC}
	t.lastWrite = len(reqs)
	for i := range reqs {
		reqs[i].end = t.wal.total
	}
	t.awaiting = append(t.awaiting, reqs...)
	clear(reqs)
	t.unwrittenOld = reqs[:0]
	return t.wal.total, t.wal.f, true
}

// seal chains reqs' events on prev, in order, and returns their frames;
// it runs under writeMu, in the buffer only the writer uses.
func (t *Trail) seal(reqs []loggedReq, prev point) ([]byte, error) {
	frames := t.sealed[:0]
	for i := range reqs {
		r := &reqs[i]
		r.e.Prev = prev.MAC
		rec, err := t.key.seal(&r.e)
		if err == nil {
			frames, err = t.wal.frame(frames, rec)
		}
		if err != nil {
			t.sealed = frames[:0]
			return nil, err
		}
		r.rec = rec
		prev = point{Seq: r.e.Seq, MAC: r.e.MAC}
	}
	t.sealed = frames
	return frames, nil
}

// dropFront removes the first n elements of s. When no more are left than
// were removed, it moves them to the front, so the appends that follow
// reuse the array rather than grow a new one each time the front is
// consumed; the references left behind are cleared.
func dropFront[T any](s []T, n int) []T {
	rest := len(s) - n
	if rest > n {
		return s[n:]
	}
	copy(s, s[n:])
	clear(s[rest:])
	return s[:rest]
}

// ackThrough acknowledges, in order, every event that ends at or before
// target, or on a failed sync fails every event still waiting.
func (t *Trail) ackThrough(target int64, took time.Duration, err error) {
	t.pubMu.Lock()
	defer t.pubMu.Unlock()
	t.mu.Lock()
	if err != nil {
		failed := append(t.awaiting, t.unwritten...)
		t.awaiting, t.unwritten = nil, nil
		if t.walFailed == nil {
			t.walFailed = fmt.Errorf("%w: audit log sync failed; restart to recover: %w", store.ErrUnavailable, err)
		}
		t.drained.Broadcast()
		t.mu.Unlock()
		if t.observe != nil {
			t.observe(took, len(failed), err)
		}
		for _, r := range failed {
			r.answer(t.walFailed)
		}
		return
	}
	n := 0
	for n < len(t.awaiting) && t.awaiting[n].end <= target {
		n++
	}
	// Copied out: the syncers append to awaiting once the lock is gone.
	// Only the acker runs this, so its scratch space is its own.
	done := append(t.ackDone[:0], t.awaiting[:n]...)
	t.awaiting = dropFront(t.awaiting, n)
	if len(t.awaiting) == 0 && len(t.unwritten) == 0 {
		t.drained.Broadcast()
	}
	t.mu.Unlock()
	if n == 0 {
		return
	}
	if t.observe != nil {
		t.observe(took, n, nil)
	}
	recs, batch := t.ackRecs[:0], t.ackBatch[:0]
	for _, r := range done {
		recs, batch = append(recs, r.rec), append(batch, r.request)
	}
	t.queueIndex(recs) // copies recs
	t.publish(batch)
	for _, r := range batch {
		r.answer(nil)
	}
	clear(done)
	clear(recs)
	clear(batch)
	t.ackDone, t.ackRecs, t.ackBatch = done[:0], recs[:0], batch[:0]
}

func (t *Trail) startSyncers() {
	t.acks = make(chan syncDone, walSyncers)
	t.ackerDone = make(chan struct{})
	go t.acker()
	t.watchStop, t.watchDone = make(chan struct{}), make(chan struct{})
	go t.watchdog(t.watchStop, t.watchDone)
	for range walSyncers {
		t.syncers.Add(1)
		go t.syncer()
	}
}

// stopSyncers waits for every framed event to be acknowledged or failed,
// then ends the syncers.
func (t *Trail) stopSyncers() {
	t.mu.Lock()
	// No event follows: a gathering syncer writes what it has now.
	if t.gathering {
		select {
		case t.gathered <- struct{}{}:
		default:
		}
	}
	for (len(t.awaiting) > 0 || len(t.unwritten) > 0) && t.walFailed == nil {
		t.drained.Wait()
	}
	t.stopSync = true
	t.syncCond.Broadcast()
	t.mu.Unlock()
	t.syncers.Wait()
	close(t.acks)
	<-t.ackerDone
	close(t.watchStop)
	<-t.watchDone
}
