package server

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
	"github.com/latchkeyhq/latchkey/store"
)

// stuckKeys is a store whose key reads, once stuck, wait for the caller
// to give up, as a hung disk would, and count the cancellations.
type stuckKeys struct {
	store.Store
	stuck     atomic.Bool
	cancelled atomic.Int64
}

func (s *stuckKeys) GetKey(ctx context.Context, id string) (store.KeyRecord, error) {
	if !s.stuck.Load() {
		return s.Store.GetKey(ctx, id)
	}
	<-ctx.Done()
	s.cancelled.Add(1)
	return store.KeyRecord{}, ctx.Err()
}

// SECURITY-CASES L6: a call without a deadline gets its method's cap;
// when the store blocks, the call ends DEADLINE_EXCEEDED at the cap and
// the store call is cancelled, not left running.
func TestStuckStoreEndsAtTheDeadlineCap(t *testing.T) {
	var keys *stuckKeys
	e := newEnvConfig(t, func(c *Config) {
		keys = &stuckKeys{Store: c.Store}
		c.Store = keys
		c.MaxDeadline = 300 * time.Millisecond
	}, nil)
	root, _ := e.createKey(&adminv1.CreateKeyRequest{})
	keys.stuck.Store(true)
	start := time.Now()
	_, err := e.tokens(idWorkloadA).ExchangeToken(context.Background(), &latchkeyv1.ExchangeTokenRequest{RootKey: root})
	took := time.Since(start)
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("exchange with a stuck store = %v, want DeadlineExceeded", err)
	}
	if took < 250*time.Millisecond || took > 5*time.Second {
		t.Errorf("ended after %v, want about the 300ms cap", took)
	}
	if keys.cancelled.Load() != 1 {
		t.Errorf("%d store calls saw their context end, want 1", keys.cancelled.Load())
	}
}
