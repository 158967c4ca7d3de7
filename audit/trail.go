package audit

import (
	"bufio"
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

// ErrClosed is returned by Record after Close.
var ErrClosed = errors.New("audit: trail is closed")

// Defaults for Config fields left zero.
const (
	DefaultQueueSize = 4096
)

// Config configures a Trail.
type Config struct {
	Log store.AuditLog
	// Key is the chain key, MACKeyLen bytes of secret. It must stay the
	// same across restarts: events chained under one key do not verify
	// under another.
	Key []byte
	// Sink, when set, receives each durable event as one JSON line, for a
	// SIEM. A failing sink does not fail requests: the store is the
	// trail of record.
	Sink io.Writer
	// OnSinkError is told of each sink write failure.
	OnSinkError func(error)
	// Observe is told the duration and size of every durable write.
	Observe func(d time.Duration, events int, err error)
	Now     func() time.Time
	// QueueSize bounds the events waiting to be written; Record blocks
	// while it is full.
	QueueSize int
}

// Trail is the audit trail: one writer goroutine numbers, chains and
// writes events in batches, so concurrent callers share one synced write.
type Trail struct {
	log    store.AuditLog
	key    chainKey
	now    func() time.Time
	sink   *bufio.Writer
	sinkTo io.Writer

	onSinkError func(error)
	observe     func(time.Duration, int, error)

	mu     sync.RWMutex // guards closed against sends on reqs
	closed bool
	reqs   chan *request
	done   chan struct{}

	head    point // owned by the writer goroutine
	headSeq atomic.Uint64

	hooksMu sync.RWMutex
	hooks   []func(Event)
	subs    subscribers
}

type request struct {
	e    Event
	done chan error
}

// Open reads the trail's head from cfg.Log, checks that the last event
// stored is the one the head names, and starts the writer.
func Open(ctx context.Context, cfg Config) (*Trail, error) {
	if cfg.Log == nil {
		return nil, errors.New("audit: a log is required")
	}
	if len(cfg.Key) != MACKeyLen {
		return nil, fmt.Errorf("audit: chain key must be %d bytes", MACKeyLen)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	t := &Trail{
		log: cfg.Log, key: chainKey{b: append([]byte(nil), cfg.Key...)}, now: cfg.Now,
		onSinkError: cfg.OnSinkError, observe: cfg.Observe,
		reqs: make(chan *request, cfg.QueueSize), done: make(chan struct{}),
	}
	if cfg.Sink != nil {
		t.sink, t.sinkTo = bufio.NewWriterSize(cfg.Sink, 64<<10), cfg.Sink
	}
	head, err := t.loadHead(ctx)
	if err != nil {
		return nil, err
	}
	t.head = head
	t.headSeq.Store(head.Seq)
	go t.write()
	return t, nil
}

// loadHead returns the chain position new events follow: the stored
// head, or the pruning anchor, or the start.
func (t *Trail) loadHead(ctx context.Context) (point, error) {
	raw, err := t.log.AuditMeta(ctx, metaHead)
	if errors.Is(err, store.ErrNotFound) {
		anchor, err := t.anchor(ctx)
		if err != nil {
			return point{}, err
		}
		// No head but records: the head was deleted.
		found := false
		err = t.log.ScanAudit(ctx, "", 0, func(store.AuditRecord) (bool, error) {
			found = true
			return false, nil
		})
		if err != nil {
			return point{}, err
		}
		if found {
			return point{}, fmt.Errorf("%w: events are stored but the head record is missing", ErrTampered)
		}
		return anchor, nil
	}
	if err != nil {
		return point{}, err
	}
	head, err := t.key.decodePoint(metaHead, raw)
	if err != nil {
		return point{}, err
	}
	r, err := t.log.GetAudit(ctx, head.Seq)
	if errors.Is(err, store.ErrNotFound) {
		anchor, aerr := t.anchor(ctx)
		if aerr == nil && anchor.Seq == head.Seq {
			return head, nil // everything up to the head was pruned
		}
		return point{}, fmt.Errorf("%w: the head event %d is missing", ErrTampered, head.Seq)
	}
	if err != nil {
		return point{}, err
	}
	// The head event must be whole, as well as the one the head names:
	// new events are chained to it.
	e, err := open(r)
	if err != nil {
		return point{}, err
	}
	if !hmac.Equal(t.key.mac(r.Body[len(e.MAC):]), e.MAC) || !hmac.Equal(e.MAC, head.MAC) {
		return point{}, fmt.Errorf("%w: the head event %d does not match the head record", ErrTampered, head.Seq)
	}
	return head, nil
}

func (t *Trail) anchor(ctx context.Context) (point, error) {
	raw, err := t.log.AuditMeta(ctx, metaAnchor)
	if errors.Is(err, store.ErrNotFound) {
		return point{}, nil
	}
	if err != nil {
		return point{}, err
	}
	return t.key.decodePoint(metaAnchor, raw)
}

// Head is the sequence number of the last durable event.
func (t *Trail) Head() uint64 { return t.headSeq.Load() }

// Record appends e and returns once it is durable, with Seq, Time, Prev
// and MAC filled in. An error means the event may
// not have been written, and the action it describes must not be
// reported as done. When ctx ends first, Record returns ctx's error; the
// event may still be written.
func (t *Trail) Record(ctx context.Context, e Event) (Event, error) {
	req := &request{e: e, done: make(chan error, 1)}
	t.mu.RLock()
	if t.closed {
		t.mu.RUnlock()
		return Event{}, ErrClosed
	}
	select {
	case t.reqs <- req:
	case <-ctx.Done():
		t.mu.RUnlock()
		return Event{}, ctx.Err()
	}
	t.mu.RUnlock()
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

// Close writes what is queued and stops the writer. Record fails with
// ErrClosed afterwards.
func (t *Trail) Close() error {
	t.mu.Lock()
	if !t.closed {
		t.closed = true
		close(t.reqs)
	}
	t.mu.Unlock()
	<-t.done
	t.subs.closeAll()
	return nil
}

// AddHook registers f to be called, in sequence order and from the writer
// goroutine, with every event once it is durable. f must be quick and must
// not call Record.
func (t *Trail) AddHook(f func(Event)) {
	t.hooksMu.Lock()
	defer t.hooksMu.Unlock()
	t.hooks = append(t.hooks, f)
}

// maxLinger caps how long the writer waits for more events under load.
const maxLinger = 500 * time.Microsecond

func (t *Trail) write() {
	defer close(t.done)
	batch := make([]*request, 0, store.MaxAuditBatch)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	last, lastTook := 0, time.Duration(0)
	for first := range t.reqs {
		batch = append(batch[:0], first)
		closed := t.drain(&batch)
		// Under load the last write released several callers, who come
		// back within moments: waiting a fraction of a write for them
		// lets one synced write serve them all, instead of a write for
		// the first and another for the rest.
		if !closed && last > 1 && len(batch) < last {
			linger.Reset(min(lastTook/2, maxLinger))
		wait:
			for len(batch) < last && len(batch) < store.MaxAuditBatch {
				select {
				case r, ok := <-t.reqs:
					if !ok {
						break wait
					}
					batch = append(batch, r)
				case <-linger.C:
					break wait
				}
			}
			linger.Stop()
		}
		start := time.Now()
		t.commit(batch)
		last, lastTook = len(batch), time.Since(start)
	}
}

// drain adds every queued request to batch without waiting, and reports
// whether the queue is closed.
func (t *Trail) drain(batch *[]*request) bool {
	for len(*batch) < store.MaxAuditBatch {
		select {
		case r, ok := <-t.reqs:
			if !ok {
				return true
			}
			*batch = append(*batch, r)
		default:
			return false
		}
	}
	return false
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
	for _, r := range batch {
		r.done <- nil
	}
	t.publish(batch)
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
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
