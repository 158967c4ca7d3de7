package verifier

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
)

// Reconnect backoff bounds. The backoff restarts from the minimum once a
// stream has delivered something.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// watcher keeps the replica fed from WatchRevocations, reconnecting with
// backoff and resuming from the last revision applied.
//
// A resumed stream with nothing new to send is silent, and a connection can
// die without the client noticing. So while a stream is open the watcher
// also probes Latchkey with an empty IntrospectToken call on the same
// connection, which needs the same role as the stream: a probe that fails
// ends the stream, and one that succeeds confirms it.
type watcher struct {
	client     latchkeyv1.TokenServiceClient
	rep        *replica
	log        *slog.Logger
	probeEvery time.Duration
	// first receives the outcome of the first stream: nil once its snapshot
	// is applied, otherwise the error that ended it.
	first chan error
}

func (w *watcher) run(ctx context.Context) {
	backoff := minBackoff
	reported := false
	report := func(err error) {
		if !reported {
			reported = true
			w.first <- err
		}
	}
	for {
		progressed, err := w.session(ctx, func() { report(nil) })
		w.rep.down()
		if ctx.Err() != nil {
			report(ctx.Err())
			return
		}
		report(err)
		w.log.Warn("revocation stream ended; reconnecting", "error", err, "revision", w.rep.revision())
		if progressed {
			backoff = minBackoff
		}
		// Jitter keeps a fleet of verifiers from reconnecting in step
		// after Latchkey restarts.
		wait := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			report(ctx.Err())
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// session runs one stream until it fails. progressed reports whether it
// delivered at least one message.
func (w *watcher) session(ctx context.Context, synced func()) (progressed bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	probeDone := make(chan struct{})
	defer func() {
		cancel()
		<-probeDone
	}()
	stream, err := w.client.WatchRevocations(ctx, &latchkeyv1.WatchRevocationsRequest{FromRevision: w.rep.resumeFrom()})
	if err != nil {
		close(probeDone)
		return false, err
	}
	var probeErr error
	go func() {
		defer close(probeDone)
		probeErr = w.probe(ctx)
		cancel()
	}()
	for {
		msg, err := stream.Recv()
		if err != nil {
			cancel()
			<-probeDone
			if probeErr != nil {
				err = errors.Join(probeErr, err)
			}
			return progressed, err
		}
		if err := w.rep.apply(msg); err != nil {
			return progressed, err
		}
		progressed = true
		if w.rep.isSynced() {
			synced()
		}
	}
}

// probe confirms the open stream at once and then every probeEvery until it
// fails or ctx ends. It returns the failure, or nil when ctx ended.
func (w *watcher) probe(ctx context.Context) error {
	t := time.NewTicker(w.probeEvery)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, w.probeEvery)
		_, err := w.client.IntrospectToken(pctx, &latchkeyv1.IntrospectTokenRequest{})
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		w.rep.confirm()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
