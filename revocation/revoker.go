package revocation

import (
	"context"
	"fmt"

	"github.com/latchkeyhq/latchkey/store"
)

// Revoker makes revocations durable and then visible. An acknowledged
// revocation is in the log and is seen by the next Revoked call and by
// every watcher, in revision order.
type Revoker struct {
	log  store.RevocationLog
	view *View
	// sem serialises append-then-apply. Revisions are assigned inside the
	// log, so letting two appends overlap would let their applies reach the
	// view out of order; and since a log may skip revisions, a waiting
	// applier could not tell a gap from a slow peer. A channel rather than
	// a mutex lets a caller give up while queued.
	sem chan struct{}
}

// NewRevoker returns a Revoker that appends to log and applies to v. It
// must be the only writer to v and to log while it is in use.
func NewRevoker(log store.RevocationLog, v *View) *Revoker {
	return &Revoker{log: log, view: v, sem: make(chan struct{}, 1)}
}

// Revoke appends rev to the log and applies the stored entry to the view
// before returning it. A rev the store rules reject returns an error
// wrapping store.ErrInvalidArgument without touching the log. A log error
// is returned and the view is untouched. An entry the log did not keep
// because it had already expired (Rev 0) is returned without being applied.
// If the log returns a revision not after the view's, the entry is durable
// but the error wraps ErrRevisionOrder: the view is stale and must be
// rebuilt.
func (r *Revoker) Revoke(ctx context.Context, rev store.Revocation) (store.Revocation, error) {
	if err := rev.Validate(); err != nil {
		return store.Revocation{}, fmt.Errorf("revocation: %w", err)
	}
	select {
	case r.sem <- struct{}{}:
	case <-ctx.Done():
		return store.Revocation{}, ctx.Err()
	}
	defer func() { <-r.sem }()

	stored, err := r.log.AppendRevocation(ctx, rev)
	if err != nil {
		return store.Revocation{}, fmt.Errorf("revocation: append: %w", err)
	}
	if stored.Rev == 0 {
		return stored, nil
	}
	if err := r.view.apply(stored); err != nil {
		return stored, fmt.Errorf("revocation: apply revision %d: %w", stored.Rev, err)
	}
	return stored, nil
}
