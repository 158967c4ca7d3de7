package client

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
)

// Client hands out Latchkey tokens, exchanging the root key when needed.
// It is safe for concurrent use.
type Client struct {
	stub    latchkeyv1.TokenServiceClient
	owned   *grpc.ClientConn // closed by Close when Dial made it
	addr    string
	rootKey secret
	req     request
	log     *slog.Logger
	clk     clock
	rnd     randN

	ctx    context.Context // ends at Close; parents every exchange
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{}

	mu        sync.Mutex
	closed    bool
	started   bool // a token was asked for: the refresher may act
	tok       Token
	refreshAt time.Time
	flight    *flight
	failures  int
	retryAt   time.Time
	lastErr   error
}

// request is what every exchange asks for.
type request struct {
	scopes, audiences []string
	ttl               time.Duration
}

// flight is one ExchangeToken call; done closes when tok or err is set.
type flight struct {
	done chan struct{}
	tok  Token
	err  error
}

// secret holds the root key so that printing a Client cannot reveal it.
type secret string

func (secret) String() string               { return redacted }
func (secret) GoString() string             { return redacted }
func (secret) Format(f fmt.State, _ rune)   { _, _ = io.WriteString(f, redacted) }
func (secret) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// Dial connects to cfg.Addr over mutual TLS (1.3 at least) and returns a
// Client that owns the connection. No network I/O happens before the first
// Token call; ctx is only checked for being done already.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tlsCfg, err := cfg.transport()
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(cfg.Addr, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	c, err := New(conn, cfg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	c.owned = conn
	return c, nil
}

// New returns a Client that exchanges over conn, which the caller keeps
// ownership of. conn must be mutually authenticated: the server binds each
// token to the client certificate it sees.
func New(conn grpc.ClientConnInterface, cfg Config) (*Client, error) {
	if conn == nil {
		return nil, errors.New("client: conn is required")
	}
	cfg, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	return newClient(conn, cfg, systemClock{now: cfg.Now}, rand.Int64N), nil
}

func newClient(conn grpc.ClientConnInterface, cfg Config, clk clock, rnd randN) *Client {
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		stub:    latchkeyv1.NewTokenServiceClient(conn),
		addr:    cfg.Addr,
		rootKey: secret(cfg.RootKey),
		req:     request{scopes: cfg.Scopes, audiences: cfg.Audiences, ttl: cfg.TTL},
		log:     cfg.Logger,
		clk:     clk,
		rnd:     rnd,
		ctx:     ctx,
		cancel:  cancel,
		wake:    make(chan struct{}, 1),
	}
	c.wg.Add(1)
	go c.refresher()
	return c
}

// String identifies the client without any secret it holds.
func (c *Client) String() string { return fmt.Sprintf("client.Client{Addr:%q}", c.addr) }

// GoString is String.
func (c *Client) GoString() string { return c.String() }

// Format makes every verb print String: the fields include the root key and
// the cached token, which fmt would otherwise print by reflection.
func (c *Client) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue logs only the server address.
func (c *Client) LogValue() slog.Value { return slog.GroupValue(slog.String("addr", c.addr)) }

// Token returns the cached token, or exchanges the root key for a new one
// when none is valid. Concurrent callers share a single exchange. While
// retries are backing off and no valid token is cached it fails at once with
// ErrNoToken wrapping the last error. It returns no later than ctx is done.
func (c *Client) Token(ctx context.Context) (Token, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return Token{}, ErrClosed
	}
	if !c.started {
		c.started = true
		c.signal()
	}
	now := c.clk.Now()
	if c.tok.usable(now) {
		tok := c.tok.clone()
		c.mu.Unlock()
		return tok, nil
	}
	f := c.flight
	if f == nil {
		if now.Before(c.retryAt) {
			err := fmt.Errorf("%w (next exchange in %s): %w", ErrNoToken, c.retryAt.Sub(now).Round(time.Millisecond), c.lastErr)
			c.mu.Unlock()
			return Token{}, err
		}
		f = c.startLocked()
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.tok.clone(), f.err
	case <-ctx.Done():
		return Token{}, ctx.Err()
	}
}

// Invalidate tells the client that a resource server refused tok. When tok
// is the cached token it is dropped and the next Token call exchanges at once,
// without waiting for a backoff step; any other value is ignored, so a burst
// of refusals of one token causes a single exchange.
func (c *Client) Invalidate(tok string) {
	c.mu.Lock()
	if c.tok.Value == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(c.tok.Value)) != 1 {
		c.mu.Unlock()
		return
	}
	jti := c.tok.JTI
	c.tok = Token{}
	c.retryAt = time.Time{}
	c.signal()
	c.mu.Unlock()
	c.log.Info("latchkey token refused by a resource server; will exchange again", "jti", jti)
}

// Close stops the background refresher, abandons any exchange in flight and,
// when Dial made the connection, closes it. It waits for every goroutine the
// client started.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.tok = Token{}
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	if c.owned != nil {
		return c.owned.Close()
	}
	return nil
}

// signal nudges the refresher to recompute its schedule.
func (c *Client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// startLocked begins an exchange; c.mu must be held and no flight running.
func (c *Client) startLocked() *flight {
	f := &flight{done: make(chan struct{})}
	c.flight = f
	c.wg.Add(1)
	go c.exchange(f)
	return f
}

// exchange runs one ExchangeToken call and records its outcome.
func (c *Client) exchange(f *flight) {
	defer c.wg.Done()
	ctx, cancel := context.WithTimeout(c.ctx, exchangeTimeout)
	defer cancel()
	req := &latchkeyv1.ExchangeTokenRequest{
		RootKey:   string(c.rootKey),
		Scopes:    c.req.scopes,
		Audiences: c.req.audiences,
	}
	if c.req.ttl > 0 {
		req.Ttl = durationpb.New(c.req.ttl)
	}
	resp, err := c.stub.ExchangeToken(ctx, req)

	c.mu.Lock()
	now := c.clk.Now()
	var tok Token
	if err == nil {
		tok, err = tokenFrom(resp, now)
	}
	if err != nil {
		err = fmt.Errorf("client: token exchange: %w", err)
		c.failures++
		c.retryAt = now.Add(backoff(c.failures, c.rnd))
		c.lastErr = err
	} else {
		c.failures = 0
		c.retryAt = time.Time{}
		c.lastErr = nil
		if !c.closed {
			c.tok = tok
		}
		c.refreshAt = now.Add(refreshAfter(tok.ExpiresAt.Sub(now), c.rnd))
	}
	failures, retryAt, refreshAt := c.failures, c.retryAt, c.refreshAt
	c.flight = nil
	f.tok, f.err = tok, err
	close(f.done)
	c.signal()
	c.mu.Unlock()

	if err != nil && c.ctx.Err() != nil {
		return // abandoned by Close; not a server failure worth a warning
	}
	if err != nil {
		c.log.Warn("latchkey token exchange failed",
			"code", status.Code(err).String(), "error", err,
			"failures", failures, "retry_in", retryAt.Sub(now))
		return
	}
	c.log.Info("latchkey token obtained", "token", tok, "refresh_in", refreshAt.Sub(now))
}

// tokenFrom checks a response before it is cached: a token that is empty or
// already expired by our clock would be served and refused everywhere.
func tokenFrom(resp *latchkeyv1.ExchangeTokenResponse, now time.Time) (Token, error) {
	if resp.GetAccessToken() == "" {
		return Token{}, errors.New("server returned no access token")
	}
	if !resp.GetExpiresAt().IsValid() {
		return Token{}, errors.New("server returned no valid expiry")
	}
	exp := resp.GetExpiresAt().AsTime()
	if !now.Before(exp) {
		return Token{}, fmt.Errorf("server returned a token that expired at %s, before local time %s (clock skew?)",
			exp.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return Token{
		Value:     resp.GetAccessToken(),
		ExpiresAt: exp,
		JTI:       resp.GetJti(),
		KeyID:     resp.GetKeyId(),
		Scopes:    append([]string(nil), resp.GetScopes()...),
	}, nil
}

// refresher exchanges in the background: before the cached token expires,
// and at each backoff step after a failure. It stays idle until the first
// Token call.
func (c *Client) refresher() {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		at, ok := c.nextAttemptLocked()
		now := c.clk.Now()
		if ok && !now.Before(at) {
			c.startLocked()
			ok = false
		}
		c.mu.Unlock()

		var fire <-chan time.Time
		stop := func() {}
		if ok {
			fire, stop = c.clk.Timer(at.Sub(now))
		}
		select {
		case <-c.ctx.Done():
			stop()
			return
		case <-c.wake:
		case <-fire:
		}
		stop()
	}
}

// nextAttemptLocked says when the refresher should start an exchange, or
// false when it has nothing to schedule: before first use, after Close, or
// while an exchange is in flight.
func (c *Client) nextAttemptLocked() (time.Time, bool) {
	if c.closed || !c.started || c.flight != nil {
		return time.Time{}, false
	}
	var at time.Time // no valid token: as soon as backoff allows
	if c.tok.Value != "" {
		at = c.refreshAt
	}
	if at.Before(c.retryAt) {
		at = c.retryAt
	}
	return at, true
}

// retryIn is how long until the next exchange may start.
func (c *Client) retryIn() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.retryAt.Sub(c.clk.Now())
}
