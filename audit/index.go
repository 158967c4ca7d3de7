package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

// Backoff of the store copy's retries while the store refuses writes.
const (
	indexRetryMin = 50 * time.Millisecond
	indexRetryMax = 5 * time.Second
	// A synced store write costs about as much CPU as a few hundred
	// events, and its index entries are one per distinct term, so the
	// copy waits for a full batch or indexDelay, whichever comes first,
	// unless a reader is waiting for it. The log keeps the events durable
	// meanwhile.
	indexBatch = store.MaxAuditBatch
	indexDelay = 100 * time.Millisecond
)

func (t *Trail) queueIndex(recs []store.AuditRecord) {
	t.idxMu.Lock()
	t.idxPending = append(t.idxPending, recs...)
	t.idxMu.Unlock()
	select {
	case t.idxWake <- struct{}{}:
	default:
	}
}

// index copies logged events to the store in batches, in order, retrying
// while the store fails. After Close it makes one last attempt; what it
// cannot write stays in the log and is copied at the next Open.
func (t *Trail) index() {
	defer close(t.idxDone)
	retry := indexRetryMin
	delay := time.NewTimer(indexDelay)
	defer delay.Stop()
	for {
		t.idxMu.Lock()
		batch := t.idxPending[:min(len(t.idxPending), store.MaxAuditBatch)]
		t.idxMu.Unlock()
		stopping := false
		select {
		case <-t.idxStop:
			stopping = true
		default:
		}
		if len(batch) == 0 {
			if stopping {
				return
			}
			select {
			case <-t.idxWake:
			case <-t.idxStop:
			}
			continue
		}
		if len(batch) < indexBatch && !stopping && !t.idxUrgent.Load() {
			delay.Reset(indexDelay)
			select {
			case <-delay.C:
			case <-t.idxStop:
			case <-t.idxKick:
			}
			delay.Stop()
			t.idxMu.Lock()
			batch = t.idxPending[:min(len(t.idxPending), store.MaxAuditBatch)]
			t.idxMu.Unlock()
		}
		t.idxUrgent.Store(false)
		if err := t.appendIndex(context.Background(), batch); err != nil {
			if t.onIndexError != nil {
				t.onIndexError(err)
			}
			if stopping {
				return
			}
			select {
			case <-time.After(retry):
			case <-t.idxStop:
			}
			retry = min(2*retry, indexRetryMax)
			continue
		}
		retry = indexRetryMin
		last := batch[len(batch)-1].Seq
		t.idxMu.Lock()
		t.idxPending = dropFront(t.idxPending, len(batch))
		t.idxMu.Unlock()
		t.markIndexed(last)
		t.wal.dropThrough(last)
	}
}

func (t *Trail) markIndexed(seq uint64) {
	t.indexed.Store(seq)
	t.idxMu.Lock()
	close(t.idxProgress)
	t.idxProgress = make(chan struct{})
	t.idxMu.Unlock()
}

// waitIndexed returns once the store holds every event up to seq, so
// reads of the store see everything acknowledged before they started.
func (t *Trail) waitIndexed(ctx context.Context, seq uint64) error {
	for {
		t.idxMu.Lock()
		ch := t.idxProgress
		t.idxMu.Unlock()
		if t.indexed.Load() >= seq {
			return nil
		}
		// Someone is reading: copy what is pending now.
		t.idxUrgent.Store(true)
		select {
		case t.idxKick <- struct{}{}:
		default:
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: the audit store is behind its log: %w", store.ErrUnavailable, ctx.Err())
		}
	}
}
