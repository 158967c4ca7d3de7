package server

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
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

// The cap bounds every call: one without a deadline or with a later one
// runs until the cap, one with an earlier deadline keeps its own.
func TestDeadlineCapAgainstTheCallersDeadline(t *testing.T) {
	// Below the method's own cap, so the server's applies.
	const limit = time.Second
	intercept := deadlineUnary(limit)
	info := &grpc.UnaryServerInfo{FullMethod: latchkeyv1.TokenService_ExchangeToken_FullMethodName}
	seen := func(ctx context.Context) (time.Time, bool) {
		var dl time.Time
		var ok bool
		_, _ = intercept(ctx, nil, info, func(ctx context.Context, _ any) (any, error) {
			dl, ok = ctx.Deadline()
			return nil, nil
		})
		return dl, ok
	}
	near := func(got, want time.Time) bool { return got.Sub(want).Abs() < 200*time.Millisecond }

	if dl, ok := seen(context.Background()); !ok || !near(dl, time.Now().Add(limit)) {
		t.Errorf("no deadline of its own: handler deadline %v (%t), want the cap", dl, ok)
	}
	later, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	if dl, ok := seen(later); !ok || !near(dl, time.Now().Add(limit)) {
		t.Errorf("a later deadline: handler deadline %v (%t), want the cap", dl, ok)
	}
	earlier, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	want, _ := earlier.Deadline()
	if dl, ok := seen(earlier); !ok || !dl.Equal(want) {
		t.Errorf("an earlier deadline: handler deadline %v (%t), want the caller's %v", dl, ok, want)
	}
}
