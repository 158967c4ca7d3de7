package audit

import (
	"context"
	"errors"
	"io"
	"math"
	"sync/atomic"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

// Without a write-ahead log, writes are group commits led by callers: the first caller to find no
// write in progress writes every event waiting, its own first, with one
// sync; callers arriving meanwhile wait, and the first of them leads the
// next write. No goroutine of the trail's own sits on the path, so under
// load the write is never queued behind the request handlers for a CPU.

// errLead, sent on a waiting request, hands it the next write.
var errLead = errors.New("audit: lead the next write")

type request struct {
	e    Event
	done chan error
	// state, with a write-ahead log, is when the caller of RecordWithin
	// stops waiting (on the trail's monotonic clock, see Trail.epoch, so
	// a step of the wall clock ends no wait), stateWaiting for a caller
	// with no bound, or stateAnswered once an answer is on done. The
	// trail and the watchdog both answer through it, so only the first
	// answer is sent.
	state atomic.Int64
}

const (
	stateWaiting  = math.MaxInt64
	stateAnswered = -1
)

// answer sends err on done unless the request was answered already.
func (r *request) answer(err error) {
	for {
		s := r.state.Load()
		if s == stateAnswered {
			return
		}
		if r.state.CompareAndSwap(s, stateAnswered) {
			r.done <- err
			return
		}
	}
}

// Record appends e and returns once it is durable, with Seq, Time, Prev
// and MAC filled in. An error means the event may not have been written,
// and the action it describes must not be reported as done. When ctx
// ends first, Record returns ctx's error; the event may still be written.
func (t *Trail) Record(ctx context.Context, e Event) (Event, error) {
	req := &request{e: e, done: make(chan error, 1)}
	if t.wal != nil {
		return t.recordLogged(ctx, req)
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return Event{}, ErrClosed
	}
	t.pending = append(t.pending, req)
	lead := !t.writing
	t.writing = true
	t.mu.Unlock()
	if lead {
		t.lead()
	}
	for {
		select {
		case err := <-req.done:
			if err == errLead {
				t.lead()
				continue
			}
			if err != nil {
				return Event{}, err
			}
			return req.e, nil
		case <-ctx.Done():
			// The write still needs this request's turn to lead, if it
			// comes; someone must take it.
			go t.follow(req)
			return Event{}, ctx.Err()
		}
	}
}

func (t *Trail) follow(req *request) {
	for err := range req.done {
		if err != errLead {
			return
		}
		t.lead()
	}
}

// lead writes one batch of waiting events, then hands the next write to
// the first caller still waiting, or ends the writing.
func (t *Trail) lead() {
	t.mu.Lock()
	n := min(len(t.pending), store.MaxAuditBatch)
	batch := t.pending[:n:n]
	t.pending = t.pending[n:]
	t.mu.Unlock()
	t.commit(batch)
	t.mu.Lock()
	if len(t.pending) > 0 {
		next := t.pending[0]
		t.mu.Unlock()
		next.done <- errLead
		return
	}
	t.writing = false
	t.pending = nil
	t.idle.Broadcast()
	t.mu.Unlock()
}

func (t *Trail) commit(batch []*request) {
	start := time.Now()
	recs := make([]store.AuditRecord, 0, len(batch))
	prev := t.head
	var err error
	for _, r := range batch {
		r.e.Seq = prev.Seq + 1
		r.e.Prev = prev.MAC
		// Stamped here, in sequence order, so times follow sequence
		// numbers and a time range can be found by bisection.
		r.e.Time = t.now().UTC()
		var rec store.AuditRecord
		if rec, err = t.key.seal(&r.e); err != nil {
			break
		}
		recs = append(recs, rec)
		prev = point{Seq: r.e.Seq, MAC: r.e.MAC}
	}
	if err == nil {
		meta := map[string][]byte{metaHead: t.key.encodePoint(metaHead, prev)}
		err = t.log.AppendAudit(context.Background(), recs, meta)
	}
	if t.observe != nil {
		t.observe(time.Since(start), len(batch), err)
	}
	if err != nil {
		for _, r := range batch {
			r.done <- err
		}
		return
	}
	t.head = prev
	t.headSeq.Store(prev.Seq)
	t.markIndexed(prev.Seq)
	// Sink and hooks see events before their callers return, so a hook
	// (the anomaly detector) sees them in order.
	t.publish(batch)
	for _, r := range batch {
		r.done <- nil
	}
}

func (t *Trail) publish(batch []*request) {
	if t.sink != nil {
		var err error
		for _, r := range batch {
			if err == nil {
				err = writeLine(t.sink, &r.e)
			}
		}
		if err == nil {
			err = t.sink.Flush()
		}
		if err != nil {
			// A bufio.Writer keeps failing after one error; start afresh
			// so a sink that recovers (disk freed) gets later events.
			t.sink.Reset(t.sinkTo)
			if t.onSinkError != nil {
				t.onSinkError(err)
			}
		}
	}
	t.hooksMu.RLock()
	hooks := t.hooks
	t.hooksMu.RUnlock()
	for _, r := range batch {
		for _, h := range hooks {
			h(r.e)
		}
		t.subs.publish(r.e)
	}
}

func writeLine(w io.Writer, e *Event) error {
	_, err := w.Write(append(appendEvent(make([]byte, 0, 512), e), '\n'))
	return err
}
