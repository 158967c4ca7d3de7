package alert

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
)

// received is one request as the test server saw it.
type received struct {
	header http.Header
	body   []byte
}

// hookServer answers each POST to /hook with the next response in the
// script (the last repeats) and records it; it counts hits on /elsewhere.
type hookServer struct {
	*httptest.Server
	mu        sync.Mutex
	reqs      []received
	elsewhere int
}

type reply func(w http.ResponseWriter, r *http.Request)

func status(code int, headers ...string) reply {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(code)
	}
}

// hangUp closes the connection without answering: a transport error.
func hangUp(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

func newHookServer(t *testing.T, script ...reply) *hookServer {
	s := &hookServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hook", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, received{header: r.Header.Clone(), body: body})
		n := len(s.reqs)
		s.mu.Unlock()
		script[min(n, len(script))-1](w, r)
	})
	mux.HandleFunc("/elsewhere", func(http.ResponseWriter, *http.Request) {
		s.mu.Lock()
		s.elsewhere++
		s.mu.Unlock()
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func (s *hookServer) requests() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// fakeSleep records requested delays and returns at once.
type fakeSleep struct {
	mu    sync.Mutex
	slept []time.Duration
}

func (f *fakeSleep) sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.slept = append(f.slept, d)
	return ctx.Err()
}

func (f *fakeSleep) delays() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.slept)
}

func newTestWebhook(t *testing.T, url string, cfg WebhookConfig) (*Webhook, *fakeSleep) {
	t.Helper()
	fs := &fakeSleep{}
	cfg.URL = url
	if cfg.Secret == nil {
		cfg.Secret = testSecret
	}
	cfg.Sleep = fs.sleep
	cfg.Now = func() time.Time { return sigNow }
	w, err := NewWebhook(cfg)
	if err != nil {
		t.Fatalf("NewWebhook: %v", err)
	}
	return w, fs
}

// deliver runs w until n alerts have an outcome, then stops it.
func deliver(t *testing.T, w *Webhook, n int) {
	t.Helper()
	done := make(chan struct{}, n)
	w.afterDelivery = func() { done <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		w.Run(ctx)
	}()
	for range n {
		<-done
	}
	cancel()
	<-stopped
}

var sampleAlert = Alert{
	Kind:     NewNetwork,
	At:       time.Date(2026, 3, 2, 10, 0, 0, 0, time.FixedZone("CET", 3600)),
	KeyID:    "k1",
	Identity: idB,
	Network:  "192.0.2.0/24",
	Message:  `Key "k1" was used from network 192.0.2.0/24, which had not used it before.`,
	Detail:   map[string]string{"known_networks": "1"},
}

func TestWebhookDelivers(t *testing.T) {
	srv := newHookServer(t, status(http.StatusNoContent))
	w, fs := newTestWebhook(t, srv.URL+"/hook", WebhookConfig{})
	if !w.Enqueue(sampleAlert) {
		t.Fatal("Enqueue = false")
	}
	deliver(t, w, 1)

	reqs := srv.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	var got map[string]any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	id, _ := got["id"].(string)
	if raw, err := hex.DecodeString(id); err != nil || len(raw) != 16 {
		t.Fatalf("id %q is not 128 bits of hex", id)
	}
	want := map[string]any{
		"id":       id,
		"kind":     "new_network",
		"at":       "2026-03-02T09:00:00Z",
		"key_id":   "k1",
		"identity": idB,
		"network":  "192.0.2.0/24",
		"message":  sampleAlert.Message,
		"detail":   map[string]any{"known_networks": "1"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("body = %v\nwant   %v", got, want)
	}
	headers := map[string]string{"Content-Type": "application/json", "Idempotency-Key": id}
	for k, v := range headers {
		if r.header.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, r.header.Get(k), v)
		}
	}
	if d, f, dr := w.Stats(); d != 1 || f != 0 || dr != 0 {
		t.Errorf("Stats = %d, %d, %d; want 1, 0, 0", d, f, dr)
	}
	if len(fs.delays()) != 0 {
		t.Errorf("slept %v before a first-time success", fs.delays())
	}

	sig := r.header.Get(SignatureHeader)
	changed := bytes.Replace(r.body, []byte("k1"), []byte("k2"), 1)
	checks := []struct {
		name   string
		secret []byte
		body   []byte
		now    time.Time
		want   error
	}{
		{"as sent", testSecret, r.body, sigNow, nil},
		{"within tolerance", testSecret, r.body, sigNow.Add(5 * time.Minute), nil},
		{"changed body", testSecret, changed, sigNow, ErrSignatureMismatch},
		{"wrong secret", otherSecret, r.body, sigNow, ErrSignatureMismatch},
		{"stale", testSecret, r.body, sigNow.Add(5*time.Minute + time.Second), ErrSignatureStale},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			err := VerifySignature(c.secret, sig, c.body, c.now, 5*time.Minute)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("VerifySignature = %v, want %v", err, c.want)
			}
		})
	}
}

func TestWebhookRetries(t *testing.T) {
	cases := []struct {
		name          string
		cfg           WebhookConfig
		script        []reply
		wantAttempts  int
		wantSleeps    []time.Duration
		wantDelivered bool
	}{
		{
			name:          "503 with Retry-After then success",
			script:        []reply{status(503, "Retry-After", "7"), status(200)},
			wantAttempts:  2,
			wantSleeps:    []time.Duration{7 * time.Second},
			wantDelivered: true,
		},
		{
			name:          "5xx backs off, doubling",
			script:        []reply{status(500), status(502), status(201)},
			wantAttempts:  3,
			wantSleeps:    []time.Duration{500 * time.Millisecond, time.Second},
			wantDelivered: true,
		},
		{
			name:          "429 Retry-After is capped",
			script:        []reply{status(429, "Retry-After", "120"), status(200)},
			wantAttempts:  2,
			wantSleeps:    []time.Duration{30 * time.Second},
			wantDelivered: true,
		},
		{
			name:          "Retry-After as a date",
			script:        []reply{status(503, "Retry-After", sigNow.Add(12*time.Second).UTC().Format(http.TimeFormat)), status(200)},
			wantAttempts:  2,
			wantSleeps:    []time.Duration{12 * time.Second},
			wantDelivered: true,
		},
		{
			name:          "unusable Retry-After falls back to backoff",
			script:        []reply{status(503, "Retry-After", "soon"), status(200)},
			wantAttempts:  2,
			wantSleeps:    []time.Duration{500 * time.Millisecond},
			wantDelivered: true,
		},
		{
			name:          "transport error is retried",
			script:        []reply{hangUp, status(200)},
			wantAttempts:  2,
			wantSleeps:    []time.Duration{500 * time.Millisecond},
			wantDelivered: true,
		},
		{
			name:         "gives up after MaxAttempts",
			cfg:          WebhookConfig{MaxAttempts: 3},
			script:       []reply{status(503)},
			wantAttempts: 3,
			wantSleeps:   []time.Duration{500 * time.Millisecond, time.Second},
		},
		{
			name:         "backoff is capped",
			cfg:          WebhookConfig{MaxAttempts: 4, Backoff: 20 * time.Second},
			script:       []reply{status(503)},
			wantAttempts: 4,
			wantSleeps:   []time.Duration{20 * time.Second, 30 * time.Second, 30 * time.Second},
		},
		{
			name:         "400 is not retried",
			script:       []reply{status(400), status(200)},
			wantAttempts: 1,
		},
		{
			name:         "404 is not retried",
			script:       []reply{status(404), status(200)},
			wantAttempts: 1,
		},
		{
			name:         "a redirect is a failure",
			script:       []reply{status(307, "Location", "/elsewhere"), status(200)},
			wantAttempts: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newHookServer(t, tc.script...)
			w, fs := newTestWebhook(t, srv.URL+"/hook", tc.cfg)
			w.Enqueue(sampleAlert)
			deliver(t, w, 1)

			reqs := srv.requests()
			if len(reqs) != tc.wantAttempts {
				t.Fatalf("attempts = %d, want %d", len(reqs), tc.wantAttempts)
			}
			for i, r := range reqs {
				if !bytes.Equal(r.body, reqs[0].body) || r.header.Get("Idempotency-Key") != reqs[0].header.Get("Idempotency-Key") {
					t.Fatalf("attempt %d sent a different body or id", i+1)
				}
			}
			if got := fs.delays(); !slices.Equal(got, tc.wantSleeps) {
				t.Fatalf("sleeps = %v, want %v", got, tc.wantSleeps)
			}
			wantD, wantF := uint64(0), uint64(1)
			if tc.wantDelivered {
				wantD, wantF = 1, 0
			}
			if d, f, dr := w.Stats(); d != wantD || f != wantF || dr != 0 {
				t.Fatalf("Stats = %d, %d, %d; want %d, %d, 0", d, f, dr, wantD, wantF)
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			if srv.elsewhere != 0 {
				t.Fatalf("redirect followed %d times", srv.elsewhere)
			}
		})
	}
}

func TestWebhookDistinctIDs(t *testing.T) {
	srv := newHookServer(t, status(200))
	w, _ := newTestWebhook(t, srv.URL+"/hook", WebhookConfig{})
	for range 3 {
		w.Enqueue(sampleAlert)
	}
	deliver(t, w, 3)
	seen := map[string]bool{}
	for _, r := range srv.requests() {
		seen[r.header.Get("Idempotency-Key")] = true
	}
	if len(seen) != 3 {
		t.Fatalf("3 alerts carried %d distinct ids", len(seen))
	}
}

func TestWebhookQueueFull(t *testing.T) {
	w, _ := newTestWebhook(t, "https://alerts.example.com/hook", WebhookConfig{QueueSize: 2})
	var got []bool
	for range 4 {
		got = append(got, w.Enqueue(sampleAlert))
	}
	if want := []bool{true, true, false, false}; !slices.Equal(got, want) {
		t.Fatalf("Enqueue results = %v, want %v", got, want)
	}
	if d, f, dr := w.Stats(); d != 0 || f != 0 || dr != 2 {
		t.Fatalf("Stats = %d, %d, %d; want 0, 0, 2", d, f, dr)
	}
}

func TestWebhookRunStops(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		w, _ := newTestWebhook(t, "https://alerts.example.com/hook", WebhookConfig{})
		ctx, cancel := context.WithCancel(context.Background())
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			w.Run(ctx)
		}()
		cancel()
		<-stopped
	})
	t.Run("while backing off", func(t *testing.T) {
		hit := make(chan struct{}, 1)
		srv := newHookServer(t, func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(503)
			hit <- struct{}{}
		})
		// The real timer: Run must not wait out the 30 s backoff.
		w, err := NewWebhook(WebhookConfig{URL: srv.URL + "/hook", Secret: testSecret, Backoff: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		w.Enqueue(sampleAlert)
		ctx, cancel := context.WithCancel(context.Background())
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			w.Run(ctx)
		}()
		<-hit
		cancel()
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
		if d, f, dr := w.Stats(); d != 0 || f != 1 || dr != 0 {
			t.Fatalf("Stats = %d, %d, %d; want 0, 1, 0", d, f, dr)
		}
	})
}

func TestSleepTimer(t *testing.T) {
	if err := sleepTimer(context.Background(), time.Nanosecond); err != nil {
		t.Fatalf("elapsed sleep = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleepTimer(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled sleep = %v, want context.Canceled", err)
	}
}
