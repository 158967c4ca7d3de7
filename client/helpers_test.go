package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	mathrand "math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/timestamppb"

	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
)

// testRootKey has the shape of a real root key so that a leak is recognisable.
const testRootKey = "lk_AbCdEfGhIjKl_s3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3Zz9Yx8"

// waitLimit bounds every wait for a background event; reaching it is a failure,
// never part of the expected timing.
const waitLimit = 10 * time.Second

// Jitter sources that pin the random draw to either end of its range.
func maxRand(n int64) int64    { return n - 1 }
func zeroRand(int64) int64     { return 0 }
func middleRand(n int64) int64 { return n / 2 }

// fakeClock only moves when Advance is called; its timers fire then.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  map[*fakeTimer]struct{}
	changed chan struct{}
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{
		now:     time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		timers:  map[*fakeTimer]struct{}{},
		changed: make(chan struct{}),
	}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Timer(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch, func() {}
	}
	t := &fakeTimer{at: c.now.Add(d), ch: ch}
	c.timers[t] = struct{}{}
	c.notifyLocked()
	return ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.timers, t)
		c.notifyLocked()
	}
}

func (c *fakeClock) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Advance moves the clock and fires every timer that is due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for t := range c.timers {
		if !t.at.After(c.now) {
			t.ch <- c.now
			delete(c.timers, t)
		}
	}
	c.notifyLocked()
}

// waitTimer blocks until a timer set for exactly at is pending.
func (c *fakeClock) waitTimer(t *testing.T, at time.Time) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		c.mu.Lock()
		for tm := range c.timers {
			if tm.at.Equal(at) {
				c.mu.Unlock()
				return
			}
		}
		changed := c.changed
		var pending []time.Time
		for tm := range c.timers {
			pending = append(pending, tm.at)
		}
		c.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no timer set for %s (now %s); pending: %v", at, c.Now(), pending)
		}
	}
}

// fakeTokens is a TokenService whose ExchangeToken mints opaque random
// tokens, counts calls and can be told to fail or to hold every answer.
type fakeTokens struct {
	latchkeyv1.UnimplementedTokenServiceServer
	clk *fakeClock

	mu          sync.Mutex
	ttl         time.Duration
	fail        error
	gate        chan struct{}
	calls       int
	inflight    int
	maxInflight int
	issued      []string
	lastReq     *latchkeyv1.ExchangeTokenRequest
	called      chan int
}

func newFakeTokens(clk *fakeClock) *fakeTokens {
	return &fakeTokens{clk: clk, ttl: 10 * time.Minute, called: make(chan int, 100000)}
}

func (f *fakeTokens) ExchangeToken(ctx context.Context, req *latchkeyv1.ExchangeTokenRequest) (*latchkeyv1.ExchangeTokenResponse, error) {
	f.mu.Lock()
	f.calls++
	n := f.calls
	f.inflight++
	f.maxInflight = max(f.maxInflight, f.inflight)
	f.lastReq = req
	gate, fail, ttl := f.gate, f.fail, f.ttl
	f.mu.Unlock()
	f.called <- n
	defer func() {
		f.mu.Lock()
		f.inflight--
		f.mu.Unlock()
	}()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if fail != nil {
		return nil, fail
	}
	b := make([]byte, 16)
	rand.Read(b)
	tok := "eyJhbGciOiJFZERTQSJ9." + hex.EncodeToString(b) + ".sig"
	f.mu.Lock()
	f.issued = append(f.issued, tok)
	f.mu.Unlock()
	return &latchkeyv1.ExchangeTokenResponse{
		AccessToken: tok,
		TokenType:   "Bearer",
		ExpiresAt:   timestamppb.New(f.clk.Now().Add(ttl)),
		Jti:         "jti-" + hex.EncodeToString(b[:4]),
		KeyId:       "AbCdEfGhIjKl",
		Scopes:      []string{"orders.read"},
		Audiences:   []string{"orders-api"},
	}, nil
}

func (f *fakeTokens) set(fn func(f *fakeTokens)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeTokens) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeTokens) peak() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxInflight
}

func (f *fakeTokens) tokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.issued...)
}

// waitCall blocks until the server has received exchange number n.
func (f *fakeTokens) waitCall(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		if f.count() >= n {
			return
		}
		select {
		case <-f.called:
		case <-deadline:
			t.Fatalf("server saw %d exchanges, waited for %d", f.count(), n)
		}
	}
}

// unavailable is how a failing Latchkey server answers.
var unavailable = status.Error(codes.Unavailable, "store unavailable")

// syncBuffer collects log output written from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fixture is a Client on a fake clock talking to fakeTokens over bufconn.
type fixture struct {
	clk    *fakeClock
	server *fakeTokens
	client *Client
	logs   *syncBuffer
}

// newFixture starts the fake server and a client; cfg may adjust the config.
// At cleanup it checks that no secret the test made reached the logs.
func newFixture(t *testing.T, rnd randN, cfg func(*Config)) *fixture {
	t.Helper()
	clk := newFakeClock()
	fake := newFakeTokens(clk)
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	latchkeyv1.RegisterTokenServiceServer(srv, fake)
	go srv.Serve(lis)
	conn, err := grpc.NewClient("passthrough:///latchkey",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	c := Config{
		RootKey:   testRootKey,
		Scopes:    []string{"orders.read"},
		Audiences: []string{"orders-api"},
		Now:       clk.Now,
		Logger:    slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if cfg != nil {
		cfg(&c)
	}
	c, err = c.validate()
	if err != nil {
		t.Fatal(err)
	}
	cl := newClient(conn, c, clk, rnd)
	t.Cleanup(func() {
		cl.Close()
		conn.Close()
		srv.Stop()
		assertNoSecrets(t, "client logs", logs.String(), append(fake.tokens(), testRootKey))
	})
	return &fixture{clk: clk, server: fake, client: cl, logs: logs}
}

// token calls Token with a bounded context and fails the test on error.
func (fx *fixture) token(t *testing.T) Token {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	tok, err := fx.client.Token(ctx)
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	return tok
}

// tokenErr calls Token expecting an error.
func (fx *fixture) tokenErr(t *testing.T) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	tok, err := fx.client.Token(ctx)
	if err == nil {
		t.Fatalf("Token succeeded with %v, want an error", tok)
	}
	return err
}

// assertNoSecrets fails when out contains any of the secrets.
func assertNoSecrets(t *testing.T, what, out string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(out, s) {
			t.Errorf("%s contain a secret %.12s...", what, s)
		}
	}
}

// assertCode fails unless err carries the given gRPC code.
func assertCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("code = %s, want %s (err: %v)", got, want, err)
	}
}

func realRand(n int64) int64 { return mathrand.Int64N(n) }
