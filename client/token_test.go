package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestTokenExchangesOnFirstUseAndCaches(t *testing.T) {
	fx := newFixture(t, middleRand, func(c *Config) { c.TTL = 5 * time.Minute })

	// Idle until asked: time passing alone must not cause an exchange.
	fx.clk.Advance(time.Hour)
	if n := fx.server.count(); n != 0 {
		t.Fatalf("exchanges before first use = %d, want 0", n)
	}

	first := fx.token(t)
	want := &latchkeyv1.ExchangeTokenRequest{
		RootKey: testRootKey, Scopes: []string{"orders.read"}, Audiences: []string{"orders-api"},
		Ttl: durationpb.New(5 * time.Minute),
	}
	fx.server.mu.Lock()
	got := fx.server.lastReq
	fx.server.mu.Unlock()
	if !proto.Equal(got, want) {
		t.Fatalf("request = %v, want %v", got, want)
	}
	if first.Value != fx.server.tokens()[0] || first.KeyID != "AbCdEfGhIjKl" ||
		!first.ExpiresAt.Equal(fx.clk.Now().Add(10*time.Minute)) || len(first.Scopes) != 1 || first.Scopes[0] != "orders.read" {
		t.Fatalf("token = %v, not the one issued", first)
	}

	first.Scopes[0] = "mutated"
	for range 10 {
		again := fx.token(t)
		if again.Value != first.Value || again.Scopes[0] != "orders.read" {
			t.Fatalf("cached token changed: %v", again)
		}
	}
	if n := fx.server.count(); n != 1 {
		t.Fatalf("exchanges = %d, want 1", n)
	}
}

func TestRefreshBeforeExpiry(t *testing.T) {
	for _, ttl := range []time.Duration{30 * time.Second, 10 * time.Minute, time.Hour} {
		t.Run(ttl.String(), func(t *testing.T) {
			fx := newFixture(t, middleRand, nil)
			fx.server.set(func(f *fakeTokens) { f.ttl = ttl })
			start := fx.clk.Now()
			first := fx.token(t)
			// middleRand puts the refresh at exactly 80% of the lifetime.
			refreshAt := start.Add(ttl / 100 * 80)
			fx.clk.waitTimer(t, refreshAt)

			fx.clk.Advance(refreshAt.Sub(start) - time.Nanosecond)
			if n := fx.server.count(); n != 1 {
				t.Fatalf("exchanges just before the refresh point = %d, want 1", n)
			}

			// Hold the refresh on the server: meanwhile callers get the
			// still-valid token at once.
			gate := make(chan struct{})
			fx.server.set(func(f *fakeTokens) { f.gate = gate })
			fx.clk.Advance(time.Nanosecond)
			fx.server.waitCall(t, 2)
			var wg sync.WaitGroup
			for range 50 {
				wg.Go(func() {
					if tok := fx.token(t); tok.Value != first.Value {
						t.Errorf("during refresh got a different token")
					}
				})
			}
			wg.Wait()

			// Dropping the cached token mid-refresh joins the refresh in
			// flight instead of starting a second exchange.
			fx.client.Invalidate(first.Value)
			values := make([]string, 50)
			for i := range values {
				wg.Go(func() { values[i] = fx.token(t).Value })
			}
			close(gate)
			wg.Wait()
			for _, v := range values {
				if v == first.Value || v != values[0] {
					t.Fatal("callers did not all get the refreshed token")
				}
			}
			if n, p := fx.server.count(), fx.server.peak(); n != 2 || p != 1 {
				t.Fatalf("exchanges = %d, peak concurrency = %d; want 2 and 1", n, p)
			}
			// The next refresh is scheduled from the second token's receipt.
			fx.clk.waitTimer(t, fx.clk.Now().Add(ttl/100*80))
		})
	}
}

func TestConcurrentCallersShareOneExchange(t *testing.T) {
	for _, callers := range []int{2, 1000} {
		t.Run(fmt.Sprint(callers), func(t *testing.T) {
			fx := newFixture(t, middleRand, nil)
			gate := make(chan struct{})
			fx.server.set(func(f *fakeTokens) { f.gate = gate })

			values := make([]string, callers)
			var started, done sync.WaitGroup
			started.Add(callers)
			for i := range callers {
				done.Go(func() {
					started.Done()
					values[i] = fx.token(t).Value
				})
			}
			started.Wait()
			fx.server.waitCall(t, 1)
			close(gate)
			done.Wait()

			if n := fx.server.count(); n != 1 {
				t.Fatalf("%d callers caused %d exchanges, want 1", callers, n)
			}
			for i, v := range values {
				if v != values[0] || v == "" {
					t.Fatalf("caller %d got a different token", i)
				}
			}
		})
	}
}

func TestBackoffStepsWhileServerFails(t *testing.T) {
	fx := newFixture(t, maxRand, nil)
	fx.server.set(func(f *fakeTokens) { f.fail = unavailable })

	err := fx.tokenErr(t)
	assertCode(t, err, codes.Unavailable)
	// maxRand makes each wait the whole step: 200 ms doubling, capped at 30 s.
	steps := []time.Duration{
		200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, 1600 * time.Millisecond,
		3200 * time.Millisecond, 6400 * time.Millisecond, 12800 * time.Millisecond, 25600 * time.Millisecond,
		30 * time.Second, 30 * time.Second, 30 * time.Second,
	}
	for i, step := range steps {
		exchanges := i + 1
		fx.clk.waitTimer(t, fx.clk.Now().Add(step))
		fx.clk.Advance(step - time.Nanosecond)
		// Callers during the wait fail fast and start nothing.
		for range 20 {
			err := fx.tokenErr(t)
			if !errors.Is(err, ErrNoToken) {
				t.Fatalf("step %d: err = %v, want ErrNoToken", i, err)
			}
			assertCode(t, err, codes.Unavailable)
		}
		if n := fx.server.count(); n != exchanges {
			t.Fatalf("step %d (%s): exchanges before the step ended = %d, want %d", i, step, n, exchanges)
		}
		fx.clk.Advance(time.Nanosecond)
		fx.server.waitCall(t, exchanges+1)
	}
	if p := fx.server.peak(); p != 1 {
		t.Fatalf("peak concurrent exchanges = %d, want 1", p)
	}

	// Recovery resets the backoff: the next exchange succeeds and is served.
	fx.server.set(func(f *fakeTokens) { f.fail = nil })
	fx.clk.waitTimer(t, fx.clk.Now().Add(30*time.Second))
	fx.clk.Advance(30 * time.Second)
	fx.server.waitCall(t, len(steps)+2)
	deadline := time.Now().Add(waitLimit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		_, err := fx.client.Token(ctx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no token after recovery: %v", err)
		}
	}
	fx.client.mu.Lock()
	failures := fx.client.failures
	fx.client.mu.Unlock()
	if failures != 0 {
		t.Fatalf("failures after success = %d, want 0", failures)
	}
}

func TestUnreachableServesCachedTokenUntilExpiry(t *testing.T) {
	fx := newFixture(t, maxRand, nil)
	start := fx.clk.Now()
	cached := fx.token(t)
	exp := cached.ExpiresAt
	fx.server.set(func(f *fakeTokens) { f.fail = unavailable })

	// maxRand: refresh at 85% of the 10 minute lifetime, then full backoff steps.
	next := start.Add(510 * time.Second)
	exchanges := 1
	for step := 0; next.Before(exp); step++ {
		fx.clk.waitTimer(t, next)
		fx.clk.Advance(next.Sub(fx.clk.Now()))
		exchanges++
		fx.server.waitCall(t, exchanges)
		// Wait until the failure is recorded, then the cached token is still served.
		fx.clk.waitTimer(t, fx.clk.Now().Add(backoff(step+1, maxRand)))
		if tok := fx.token(t); tok.Value != cached.Value {
			t.Fatalf("at %s: served another token while the server is down", fx.clk.Now().Sub(start))
		}
		next = fx.clk.Now().Add(backoff(step+1, maxRand))
	}
	if n := fx.server.count(); n != exchanges {
		t.Fatalf("exchanges = %d, want %d", n, exchanges)
	}

	fx.clk.Advance(exp.Sub(fx.clk.Now()) - time.Nanosecond)
	if tok := fx.token(t); tok.Value != cached.Value {
		t.Fatal("token not served 1 ns before it expires")
	}
	fx.clk.Advance(time.Nanosecond)
	err := fx.tokenErr(t)
	if !errors.Is(err, ErrNoToken) {
		t.Fatalf("at expiry: err = %v, want ErrNoToken", err)
	}
	assertCode(t, err, codes.Unavailable)
	if n := fx.server.count(); n != exchanges {
		t.Fatalf("expired-token callers started exchanges: %d, want %d", n, exchanges)
	}
}

func TestInvalidate(t *testing.T) {
	tests := []struct {
		name string
		// failing makes the refresh fail first, so Invalidate happens during a backoff wait.
		failing bool
		// invalidate returns what to pass to Invalidate, given the cached token.
		invalidate func(cur string) []string
		wantExch   int
	}{
		{"current token", false, func(cur string) []string { return []string{cur} }, 2},
		{"current token many times", false, func(cur string) []string { return []string{cur, cur, cur, cur} }, 2},
		{"unknown value", false, func(string) []string { return []string{"eyJ.unknown.sig"} }, 1},
		{"prefix of current token", false, func(cur string) []string { return []string{cur[:len(cur)-1]} }, 1},
		{"empty string", false, func(string) []string { return []string{""} }, 1},
		{"during backoff", true, func(cur string) []string { return []string{cur, cur} }, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, maxRand, nil)
			cur := fx.token(t)
			if tt.failing {
				fx.server.set(func(f *fakeTokens) { f.fail = unavailable })
				refresh := cur.ExpiresAt.Add(-90 * time.Second)
				fx.clk.waitTimer(t, refresh)
				fx.clk.Advance(refresh.Sub(fx.clk.Now()))
				fx.server.waitCall(t, 2)
				// The first backoff wait has not passed when the token is refused.
				fx.clk.waitTimer(t, fx.clk.Now().Add(200*time.Millisecond))
				fx.server.set(func(f *fakeTokens) { f.fail = nil })
			}
			for _, v := range tt.invalidate(cur.Value) {
				fx.client.Invalidate(v)
			}
			got := fx.token(t)
			if n := fx.server.count(); n != tt.wantExch {
				t.Fatalf("exchanges = %d, want %d", n, tt.wantExch)
			}
			changed := got.Value != cur.Value
			if changed != (tt.wantExch > 1) {
				t.Fatalf("token changed = %v, want %v", changed, tt.wantExch > 1)
			}
			if !changed {
				return
			}
			// Refusals of the old token arriving late change nothing.
			fx.client.Invalidate(cur.Value)
			if again := fx.token(t); again.Value != got.Value || fx.server.count() != tt.wantExch {
				t.Fatalf("late Invalidate of the old token caused another exchange")
			}
		})
	}
}

func TestInvalidateBurstCausesOneExchange(t *testing.T) {
	fx := newFixture(t, middleRand, nil)
	old := fx.token(t)
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			fx.client.Invalidate(old.Value)
			if tok := fx.token(t); tok.Value == old.Value {
				t.Error("refused token served again")
			}
		})
	}
	wg.Wait()
	if n, p := fx.server.count(), fx.server.peak(); n != 2 || p != 1 {
		t.Fatalf("exchanges = %d, peak = %d; want 2 and 1", n, p)
	}
}

func TestTokenHonoursContext(t *testing.T) {
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 20*time.Millisecond)
		}, context.DeadlineExceeded},
		{"cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t, middleRand, nil)
			gate := make(chan struct{})
			defer close(gate)
			fx.server.set(func(f *fakeTokens) { f.gate = gate })
			ctx, cancel := tt.ctx()
			defer cancel()
			begin := time.Now()
			_, err := fx.client.Token(ctx)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if d := time.Since(begin); d > 2*time.Second {
				t.Fatalf("Token blocked %s past its context", d)
			}
		})
	}
}

func TestRejectsUnusableResponses(t *testing.T) {
	tests := []struct {
		name string
		resp *latchkeyv1.ExchangeTokenResponse
	}{
		{"no token", &latchkeyv1.ExchangeTokenResponse{}},
		{"no expiry", &latchkeyv1.ExchangeTokenResponse{AccessToken: "eyJ.x.y"}},
	}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := tokenFrom(tt.resp, now); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	t.Run("already expired", func(t *testing.T) {
		fx := newFixture(t, maxRand, nil)
		fx.server.set(func(f *fakeTokens) { f.ttl = 0 })
		err := fx.tokenErr(t)
		if errors.Is(err, ErrNoToken) || fx.server.count() != 1 {
			t.Fatalf("err = %v after %d exchanges", err, fx.server.count())
		}
		if err := fx.tokenErr(t); !errors.Is(err, ErrNoToken) {
			t.Fatalf("second call: err = %v, want ErrNoToken (backing off)", err)
		}
	})
}
