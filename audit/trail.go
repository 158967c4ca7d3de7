package audit

import (
	"bufio"
	"context"
	"crypto/hmac"
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
	// WALDir, when set, holds the trail's write-ahead log: an event is
	// durable once appended and synced there, and the store's copy is
	// written behind it in larger batches. Without it every write batch
	// is a synced store transaction.
	WALDir string
	// OnIndexError is told when writing the store's copy fails; the log
	// keeps the events and the write is retried.
	OnIndexError func(error)
	// OnBlockingSync is told at Open, on Linux, when the log's segments
	// sync with blocking fdatasync because the kernel (or a sandbox)
	// refused native asynchronous I/O: events are as durable, and each
	// sync holds a server thread while the disk flushes.
	OnBlockingSync func(reason error)
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

	mu      sync.Mutex // guards closed, pending and writing
	closed  bool
	pending []*request // waiting for the next write
	writing bool       // a caller is leading a write
	idle    *sync.Cond // signalled when writing ends

	head    point // without a log, the chain's head, owned by the write's leader; with one, see numbered and written
	headSeq atomic.Uint64

	hooksMu sync.RWMutex
	hooks   []func(Event)
	subs    subscribers

	wal          *wal
	numbered     uint64      // with a log: the last sequence number given out
	sealed       []byte      // the writer's frames, reused; see seal
	unwritten    []loggedReq // queued, not yet written
	unwrittenOld []loggedReq // the other unwritten array, emptied; see writeFramed
	awaiting     []loggedReq // written to the log, waiting for a sync
	// The acknowledger's scratch space, reused from one sync to the next.
	ackDone      []loggedReq
	ackRecs      []store.AuditRecord
	ackBatch     []*request
	written      point      // the last event written to the log
	writeMu      sync.Mutex // keeps log writes in order
	syncCond     *sync.Cond // on mu: bytes to sync, or stopping
	drained      *sync.Cond // on mu: awaiting emptied
	stopSync     bool
	lastWrite    int           // events in the last write to the log
	gather       time.Duration // see gatherWait
	gathering    bool          // a syncer is gathering; the others wait
	gatherWant   int           // while gathering: events framed that end it early
	gathered     chan struct{} // told when gatherWant events are framed
	walFailed    error
	epoch        time.Time // the waits' clock: nanoseconds since epoch, monotonic
	watchMu      sync.Mutex
	watched      []*request // RecordWithin's requests, for the watchdog
	watchStop    chan struct{}
	watchDone    chan struct{}
	syncers      sync.WaitGroup
	acks         chan syncDone
	ackerDone    chan struct{}
	pubMu        sync.Mutex // orders acknowledgements and publication
	onIndexError func(error)
	indexed      atomic.Uint64 // the last event the store holds
	idxMu        sync.Mutex
	idxPending   []store.AuditRecord // in the log, not yet in the store
	idxProgress  chan struct{}       // closed (and replaced) when indexed moves
	idxWake      chan struct{}
	idxKick      chan struct{} // a reader waits: write what is pending
	idxUrgent    atomic.Bool
	idxStop      chan struct{}
	idxDone      chan struct{}
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
	t := &Trail{
		gather: gatherWait, gathered: make(chan struct{}, 1), epoch: time.Now(),
		log: cfg.Log, key: newChainKey(cfg.Key), now: cfg.Now,
		onSinkError: cfg.OnSinkError, observe: cfg.Observe, onIndexError: cfg.OnIndexError,
		idxProgress: make(chan struct{}), idxWake: make(chan struct{}, 1), idxKick: make(chan struct{}, 1),
		idxStop: make(chan struct{}), idxDone: make(chan struct{}),
	}
	if cfg.Sink != nil {
		t.sink, t.sinkTo = bufio.NewWriterSize(cfg.Sink, 64<<10), cfg.Sink
	}
	head, err := t.loadHead(ctx)
	if err != nil {
		return nil, err
	}
	if cfg.WALDir != "" {
		if head, err = t.recover(ctx, cfg.WALDir, head); err != nil {
			return nil, err
		}
		if t.wal.blockingSync != nil && cfg.OnBlockingSync != nil {
			cfg.OnBlockingSync(t.wal.blockingSync)
		}
		go t.index()
	} else {
		close(t.idxDone)
	}
	t.head, t.written, t.numbered = head, head, head.Seq
	t.headSeq.Store(head.Seq)
	t.indexed.Store(head.Seq)
	t.idle = sync.NewCond(&t.mu)
	t.syncCond = sync.NewCond(&t.mu)
	t.drained = sync.NewCond(&t.mu)
	if t.wal != nil {
		t.startSyncers()
	}
	return t, nil
}

// recover brings the store up to the end of the write-ahead log: events
// acknowledged before a crash, but not yet copied to the store.
func (t *Trail) recover(ctx context.Context, dir string, head point) (_ point, err error) {
	w, err := openWAL(dir, t.key.b)
	if err != nil {
		return point{}, err
	}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	recs, err := w.replay(head.Seq)
	if err != nil {
		return point{}, err
	}
	prev := head
	for _, r := range recs {
		e, err := t.key.check(r, prev)
		if err != nil {
			return point{}, fmt.Errorf("audit: the log does not continue the stored trail: %w", err)
		}
		prev = point{Seq: e.Seq, MAC: e.MAC}
	}
	for len(recs) > 0 {
		chunk := recs[:min(len(recs), store.MaxAuditBatch)]
		recs = recs[len(chunk):]
		if err := t.appendIndex(ctx, chunk); err != nil {
			return point{}, err
		}
	}
	w.dropThrough(prev.Seq)
	t.wal = w
	// The first segment after a start is made now, not by the first
	// event to be written.
	w.prepareAhead()
	return prev, nil
}

// appendIndex writes recs, already in the log, to the store with the
// head record naming the last of them.
func (t *Trail) appendIndex(ctx context.Context, recs []store.AuditRecord) error {
	last := recs[len(recs)-1]
	head := point{Seq: last.Seq, MAC: last.Body[:min(len(last.Body), MACKeyLen)]}
	return t.log.AppendAudit(ctx, recs, map[string][]byte{metaHead: t.key.encodePoint(metaHead, head)})
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

// Close waits for the write in progress, if any, and stops the store
// copy. Record fails with ErrClosed afterwards.
func (t *Trail) Close() error {
	t.mu.Lock()
	t.closed = true
	for t.writing {
		t.idle.Wait()
	}
	t.mu.Unlock()
	if t.wal != nil {
		t.stopSyncers()
	}
	t.subs.closeAll()
	t.idxMu.Lock()
	select {
	case <-t.idxStop:
	default:
		close(t.idxStop)
	}
	t.idxMu.Unlock()
	<-t.idxDone
	if t.wal != nil {
		return t.wal.close()
	}
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
