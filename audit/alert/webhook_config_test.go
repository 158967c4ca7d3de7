package alert

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNewWebhookValidation(t *testing.T) {
	cases := []struct {
		name string
		cfg  WebhookConfig
		ok   bool
	}{
		{"https", WebhookConfig{URL: "https://alerts.example.com/hook"}, true},
		{"http to 127.0.0.1", WebhookConfig{URL: "http://127.0.0.1:8080/hook"}, true},
		{"http to ::1", WebhookConfig{URL: "http://[::1]:8080/hook"}, true},
		{"http to another host", WebhookConfig{URL: "http://alerts.example.com/hook"}, false},
		{"http to a private address", WebhookConfig{URL: "http://10.0.0.1/hook"}, false},
		{"http to localhost by name", WebhookConfig{URL: "http://localhost/hook"}, false},
		{"other scheme", WebhookConfig{URL: "ftp://alerts.example.com/hook"}, false},
		{"no host", WebhookConfig{URL: "https:///hook"}, false},
		{"empty", WebhookConfig{URL: ""}, false},
		{"unparsable", WebhookConfig{URL: "https://a b\x7f/"}, false},
		{"credentials in URL", WebhookConfig{URL: "https://user:pw@alerts.example.com/hook"}, false},
		{"short secret", WebhookConfig{URL: "https://alerts.example.com/hook", Secret: testSecret[:15]}, false},
		{"no secret", WebhookConfig{URL: "https://alerts.example.com/hook", Secret: []byte{}}, false},
		{"negative attempts", WebhookConfig{URL: "https://alerts.example.com/hook", MaxAttempts: -1}, false},
		{"negative backoff", WebhookConfig{URL: "https://alerts.example.com/hook", Backoff: -1}, false},
		{"negative queue", WebhookConfig{URL: "https://alerts.example.com/hook", QueueSize: -1}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cfg.Secret == nil {
				tc.cfg.Secret = testSecret
			}
			w, err := NewWebhook(tc.cfg)
			if tc.ok {
				if err != nil || w == nil {
					t.Fatalf("NewWebhook = %v", err)
				}
				if w.maxAttempts != 5 || w.backoff != 500*time.Millisecond || cap(w.queue) != 1000 || w.client.Timeout != 5*time.Second {
					t.Fatalf("defaults: attempts %d backoff %s queue %d timeout %s", w.maxAttempts, w.backoff, cap(w.queue), w.client.Timeout)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || w != nil {
				t.Fatalf("NewWebhook = %v, %v; want ErrInvalidConfig", w, err)
			}
			if strings.Contains(err.Error(), string(testSecret)) {
				t.Fatalf("error reveals the secret: %v", err)
			}
		})
	}
}

func TestSuppliedClientDoesNotFollowRedirects(t *testing.T) {
	srv := newHookServer(t, status(302, "Location", "/elsewhere"))
	client := &http.Client{Timeout: time.Second} // follows redirects by default
	w, _ := newTestWebhook(t, srv.URL+"/hook", WebhookConfig{Client: client})
	w.Enqueue(sampleAlert)
	deliver(t, w, 1)
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.elsewhere != 0 || client.CheckRedirect != nil {
		t.Fatalf("redirect followed %d times; caller's client changed: %v", srv.elsewhere, client.CheckRedirect != nil)
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	cfg := WebhookConfig{URL: "https://alerts.example.com/hook", Secret: testSecret}
	w, err := NewWebhook(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		fmt.Fprintf(&out, verb+"\n", cfg)
		fmt.Fprintf(&out, verb+"\n", w)
		fmt.Fprintf(&out, verb+"\n", w.secret)
		fmt.Fprintf(&out, verb+"\n", struct{ C WebhookConfig }{cfg})
	}
	out.WriteString(cfg.String() + cfg.GoString() + w.String() + w.GoString() + w.secret.String() + w.secret.GoString())
	log := slog.New(slog.NewJSONHandler(&out, nil))
	log.Info("webhook", "cfg", cfg, "w", w, "secret", w.secret)
	slog.New(slog.NewTextHandler(&out, nil)).Info("webhook", "cfg", cfg, "w", w, "secret", w.secret)

	text := out.String()
	for _, form := range []string{string(testSecret), hex.EncodeToString(testSecret), strings.ToUpper(hex.EncodeToString(testSecret)), fmt.Sprint(testSecret)} {
		if strings.Contains(text, form) {
			t.Fatalf("secret printed as %q in:\n%s", form, text)
		}
	}
	if !strings.Contains(text, "[REDACTED]") || !strings.Contains(text, "alerts.example.com") {
		t.Fatalf("output lacks the redaction marker or the URL:\n%s", text)
	}
}
