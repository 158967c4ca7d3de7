package alert

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Webhook defaults and limits.
const (
	DefaultWebhookTimeout = 5 * time.Second
	DefaultMaxAttempts    = 5
	DefaultBackoff        = 500 * time.Millisecond
	DefaultQueueSize      = 1000
	// MaxBackoff caps both the doubling backoff and a server's Retry-After.
	MaxBackoff = 30 * time.Second
)

// maxResponseDrain is how much of a response body is read so the
// connection can be reused; receivers have nothing to tell us in it.
const maxResponseDrain = 64 << 10

// WebhookConfig configures a Webhook.
type WebhookConfig struct {
	// URL is https://..., or http:// only to a loopback IP address.
	URL string
	// Secret is the HMAC key for SignatureHeader, at least MinSecretLen bytes.
	Secret []byte
	// Client sends the requests; default a client with a 5 s timeout. A
	// copy is used so that redirects can be refused.
	Client *http.Client
	// MaxAttempts bounds tries per alert, the first included. Default 5.
	MaxAttempts int
	// Backoff is the delay before the first retry, doubling after each,
	// capped at MaxBackoff. Default 500ms.
	Backoff time.Duration
	// QueueSize bounds alerts waiting for delivery. Default 1000.
	QueueSize int
	// Sleep waits between attempts and returns early with an error when ctx
	// ends. Default a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now stamps signatures and reads Retry-After dates. Default time.Now.
	Now func() time.Time
}

var (
	_ fmt.Stringer   = WebhookConfig{}
	_ fmt.GoStringer = WebhookConfig{}
	_ fmt.Formatter  = WebhookConfig{}
	_ slog.LogValuer = WebhookConfig{}
)

// String names the URL and hides the secret.
func (c WebhookConfig) String() string {
	return fmt.Sprintf("WebhookConfig{URL: %q, Secret: %s}", c.URL, redacted)
}

// GoString is String, so %#v hides the secret too.
func (c WebhookConfig) GoString() string { return c.String() }

// Format prints String for every verb, so %x cannot dump the secret.
func (c WebhookConfig) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue logs the URL and hides the secret.
func (c WebhookConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("url", c.URL), slog.String("secret", redacted))
}

// Webhook posts alerts to one URL from a bounded queue.
type Webhook struct {
	url         string
	secret      secret
	client      *http.Client
	maxAttempts int
	backoff     time.Duration
	sleep       func(context.Context, time.Duration) error
	now         func() time.Time
	queue       chan delivery

	delivered, failed, dropped atomic.Uint64

	// afterDelivery, when set, runs after each alert's outcome is counted.
	afterDelivery func()
}

var (
	_ fmt.Stringer   = (*Webhook)(nil)
	_ fmt.GoStringer = (*Webhook)(nil)
	_ fmt.Formatter  = (*Webhook)(nil)
	_ slog.LogValuer = (*Webhook)(nil)
)

// String names the URL. fmt would otherwise print unexported fields,
// the secret's bytes among them, by reflection.
func (w *Webhook) String() string { return fmt.Sprintf("Webhook{URL: %q}", w.url) }

// GoString is String.
func (w *Webhook) GoString() string { return w.String() }

// Format prints String for every verb.
func (w *Webhook) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, w.String()) }

// LogValue logs the URL only.
func (w *Webhook) LogValue() slog.Value { return slog.GroupValue(slog.String("url", w.url)) }

// delivery is one alert ready to send. The body is encoded once, at
// Enqueue, so every retry sends the same bytes and id.
type delivery struct {
	id   string
	body []byte
}

// NewWebhook validates cfg, fills its defaults and returns a Webhook. Call
// Run to start delivering.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	if err := checkWebhookURL(cfg.URL); err != nil {
		return nil, err
	}
	if len(cfg.Secret) < MinSecretLen {
		return nil, fmt.Errorf("%w: Secret must be at least %d bytes", ErrInvalidConfig, MinSecretLen)
	}
	if cfg.MaxAttempts < 0 || cfg.Backoff < 0 || cfg.QueueSize < 0 {
		return nil, fmt.Errorf("%w: MaxAttempts, Backoff and QueueSize must not be negative", ErrInvalidConfig)
	}
	var client http.Client
	if cfg.Client != nil {
		client = *cfg.Client
	} else {
		client.Timeout = DefaultWebhookTimeout
	}
	// A redirect could carry the signed alert to a host nobody configured.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	w := &Webhook{
		url:         cfg.URL,
		secret:      newSecret(cfg.Secret),
		client:      &client,
		maxAttempts: orDefault(cfg.MaxAttempts, DefaultMaxAttempts),
		backoff:     orDefault(cfg.Backoff, DefaultBackoff),
		sleep:       cfg.Sleep,
		now:         cfg.Now,
		queue:       make(chan delivery, orDefault(cfg.QueueSize, DefaultQueueSize)),
	}
	if w.sleep == nil {
		w.sleep = sleepTimer
	}
	if w.now == nil {
		w.now = time.Now
	}
	return w, nil
}

// orDefault returns v, or def when v is zero.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: URL does not parse", ErrInvalidConfig)
	}
	if u.User != nil {
		// Credentials in the URL would end up in error text; the signature
		// authenticates the sender instead.
		return fmt.Errorf("%w: URL must not carry credentials", ErrInvalidConfig)
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%w: URL needs a host", ErrInvalidConfig)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		// Only an address literal: a name could resolve anywhere.
		if a, err := netip.ParseAddr(u.Hostname()); err == nil && a.IsLoopback() {
			return nil
		}
		return fmt.Errorf("%w: http:// URL must name a loopback address; use https://", ErrInvalidConfig)
	}
	return fmt.Errorf("%w: URL scheme must be https", ErrInvalidConfig)
}

// payload is the JSON body receivers see.
type payload struct {
	ID       string            `json:"id"`
	Kind     Kind              `json:"kind"`
	At       string            `json:"at"`
	KeyID    string            `json:"key_id"`
	Identity string            `json:"identity"`
	Network  string            `json:"network"`
	Message  string            `json:"message"`
	Detail   map[string]string `json:"detail"`
}

// Enqueue queues a for delivery without blocking. It returns false, and
// counts a drop, when the queue is full.
func (w *Webhook) Enqueue(a Alert) bool {
	var raw [16]byte
	_, _ = rand.Read(raw[:]) // never fails; see crypto/rand.Read
	id := hex.EncodeToString(raw[:])
	detail := a.Detail
	if detail == nil {
		detail = map[string]string{}
	}
	body, err := json.Marshal(payload{
		ID:       id,
		Kind:     a.Kind,
		At:       a.At.UTC().Format(time.RFC3339Nano),
		KeyID:    a.KeyID,
		Identity: a.Identity,
		Network:  a.Network,
		Message:  a.Message,
		Detail:   detail,
	})
	if err != nil {
		w.dropped.Add(1)
		return false
	}
	select {
	case w.queue <- delivery{id: id, body: body}:
		return true
	default:
		w.dropped.Add(1)
		return false
	}
}

// Stats reports alerts delivered, given up on (after a permanent failure,
// MaxAttempts or cancellation mid-delivery) and dropped by Enqueue.
func (w *Webhook) Stats() (delivered, failed, dropped uint64) {
	return w.delivered.Load(), w.failed.Load(), w.dropped.Load()
}

// Run delivers queued alerts one at a time until ctx ends, then returns.
// Alerts still queued then are not sent.
func (w *Webhook) Run(ctx context.Context) {
	defer w.client.CloseIdleConnections()
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-w.queue:
			if ctx.Err() != nil {
				return
			}
			if w.deliver(ctx, d) {
				w.delivered.Add(1)
			} else {
				w.failed.Add(1)
			}
			if w.afterDelivery != nil {
				w.afterDelivery()
			}
		}
	}
}

func (w *Webhook) deliver(ctx context.Context, d delivery) bool {
	delay := w.backoff
	for attempt := 1; ; attempt++ {
		ok, retry, retryAfter := w.post(ctx, d)
		if ok {
			return true
		}
		if !retry || attempt >= w.maxAttempts || ctx.Err() != nil {
			return false
		}
		wait := delay
		if retryAfter >= 0 {
			wait = retryAfter
		}
		if err := w.sleep(ctx, min(wait, MaxBackoff)); err != nil {
			return false
		}
		delay = min(delay*2, MaxBackoff)
	}
}

// post makes one attempt. retryAfter is negative unless the server asked
// for a delay.
func (w *Webhook) post(ctx context.Context, d delivery) (ok, retry bool, retryAfter time.Duration) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(d.body))
	if err != nil {
		return false, false, -1
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", d.id)
	req.Header.Set(SignatureHeader, sign(w.secret, w.now(), d.body))
	resp, err := w.client.Do(req)
	if err != nil {
		return false, !errors.Is(err, context.Canceled), -1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseDrain))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return true, false, -1
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return false, true, w.parseRetryAfter(resp.Header.Get("Retry-After"))
	default:
		// Redirects and other 4xx will not change by asking again.
		return false, false, -1
	}
}

// parseRetryAfter reads delay-seconds or an HTTP date, returning -1 when
// the header is absent or unusable.
func (w *Webhook) parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return -1
	}
	if isDigits(v) {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs > int64(MaxBackoff/time.Second) {
			return MaxBackoff
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(w.now()), 0), MaxBackoff)
	}
	return -1
}

func sleepTimer(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
