package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/latchkeyhq/latchkey/audit/alert"
	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
	"github.com/latchkeyhq/latchkey/policy"
)

// nextAlert waits for the server to hand an alert to its sink.
func (e *env) nextAlert() alert.Alert {
	e.t.Helper()
	select {
	case a := <-e.alerts.ch:
		return a
	case <-time.After(10 * time.Second):
		e.t.Fatal("no alert within 10s")
		return alert.Alert{}
	}
}

func (e *env) alertEvents(kind string) []*adminv1.AuditEvent {
	var out []*adminv1.AuditEvent
	for _, ev := range e.events(&adminv1.QueryAuditEventsRequest{Kind: "alert"}) {
		if ev.GetAlert() == kind {
			out = append(out, ev)
		}
	}
	return out
}

func TestLeakedKeyUseAlertsThroughTheWebhook(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	var (
		mu     sync.Mutex
		bodies [][]byte
	)
	got := make(chan struct{}, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := alert.VerifySignature(secret, r.Header.Get(alert.SignatureHeader), body, time.Now(), time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		mu.Lock()
		bodies = append(bodies, body)
		mu.Unlock()
		got <- struct{}{}
	}))
	defer hook.Close()
	webhook, err := alert.NewWebhook(alert.WebhookConfig{URL: hook.URL, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { webhook.Run(c) })
	defer func() { cancel(); wg.Wait() }()
	e := newEnvConfig(t, func(cfg *Config) { cfg.Alerts = webhook }, nil)

	leaked, k := e.createKey(&adminv1.CreateKeyRequest{})
	if _, err := e.admin().RevokeKey(ctx(t), &adminv1.RevokeKeyRequest{KeyId: k.GetKeyId(), Reason: adminv1.RevocationReason_REVOCATION_REASON_LEAKED}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.tokens(idWorkloadA).ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: leaked}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("exchange with a leaked key: %v", err)
	}
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("webhook not called within 10s")
	}
	mu.Lock()
	var payload map[string]any
	err = json.Unmarshal(bodies[0], &payload)
	mu.Unlock()
	if err != nil || payload["kind"] != "flagged_key_use" || payload["key_id"] != k.GetKeyId() {
		t.Fatalf("webhook payload %v (%v)", payload, err)
	}
	waitFor(t, func() bool { return len(e.alertEvents("flagged_key_use")) == 1 })
	if n := e.counter("latchkey_alerts_total", "kind", "flagged_key_use"); n != 1 {
		t.Errorf("alert metric = %v, want 1", n)
	}
}

func TestNewIdentityAlertQuarantinesTheKey(t *testing.T) {
	e := envWithPolicy(t, "alerts:\n  quarantine: [new_identity]\n")
	root, k := e.createKey(&adminv1.CreateKeyRequest{})
	first, err := e.tokens(idWorkloadA).ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: root})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.tokens(idWorkloadB).ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: root}); err != nil {
		t.Fatal(err)
	}
	a := e.nextAlert()
	if a.Kind != alert.NewIdentity || a.KeyID != k.GetKeyId() || a.Identity != idWorkloadB {
		t.Fatalf("alert = %+v", a)
	}
	waitFor(t, func() bool {
		got, err := e.admin().GetKey(ctx(t), &adminv1.GetKeyRequest{KeyId: k.GetKeyId()})
		return err == nil && got.GetKey().GetState() == adminv1.KeyState_KEY_STATE_DISABLED
	})
	got, _ := e.admin().GetKey(ctx(t), &adminv1.GetKeyRequest{KeyId: k.GetKeyId()})
	if got.GetKey().GetDisabledReason() != "quarantined: new_identity" {
		t.Errorf("disabled reason %q", got.GetKey().GetDisabledReason())
	}
	// Quarantine ends the tokens already issued, as a DisableKey does.
	waitFor(t, func() bool {
		r, err := e.tokens(idIntrospect).IntrospectToken(ctx(t), &latchkeyv1.IntrospectTokenRequest{Token: first.GetAccessToken()})
		return err == nil && !r.GetActive()
	})
	if _, err := e.tokens(idWorkloadA).ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: root}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("exchange after quarantine: %v", err)
	}
	waitFor(t, func() bool {
		for _, ev := range e.events(&adminv1.QueryAuditEventsRequest{KeyId: k.GetKeyId(), Kind: "key.disable"}) {
			if ev.GetActor() == "system:alerts" && ev.GetAlert() == "new_identity" {
				return true
			}
		}
		return false
	})
}

func TestAlertWithoutQuarantineLeavesTheKeyAlone(t *testing.T) {
	e := newEnv(t) // the default policy quarantines on no alert
	root, k := e.createKey(&adminv1.CreateKeyRequest{})
	for _, id := range []string{idWorkloadA, idWorkloadB} {
		if _, err := e.tokens(id).ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: root}); err != nil {
			t.Fatal(err)
		}
	}
	if a := e.nextAlert(); a.Kind != alert.NewIdentity {
		t.Fatalf("alert = %+v", a)
	}
	waitFor(t, func() bool { return len(e.alertEvents("new_identity")) == 1 })
	got, _ := e.admin().GetKey(ctx(t), &adminv1.GetKeyRequest{KeyId: k.GetKeyId()})
	if got.GetKey().GetState() != adminv1.KeyState_KEY_STATE_ACTIVE {
		t.Errorf("key state %v after an alert the policy does not quarantine on", got.GetKey().GetState())
	}
}

func TestScopeProbeAndInvalidKeyBurstAlerts(t *testing.T) {
	e := envWithPolicy(t, "alerts:\n  scope_probe_count: 3\n  invalid_key_count: 4\n")
	root, k := e.createKey(&adminv1.CreateKeyRequest{})
	client := e.tokens(idWorkloadA)
	for range 3 {
		_, err := client.ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: root, Scopes: []string{"billing.read"}})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatal(err)
		}
	}
	if a := e.nextAlert(); a.Kind != alert.ScopeProbe || a.KeyID != k.GetKeyId() {
		t.Fatalf("alert = %+v, want scope_probe for the key", a)
	}
	wrong := otherSecret(t, k.GetKeyId())
	for range 4 {
		client.ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: wrong})
	}
	if a := e.nextAlert(); a.Kind != alert.InvalidKeyBurst || a.Identity != idWorkloadA {
		t.Fatalf("alert = %+v, want invalid_key_burst from workload A", a)
	}
}

// The policy's alert kinds and the detector's are the same list.
func TestAlertKindsAgree(t *testing.T) {
	if len(policy.AlertKinds) != len(alert.Kinds) {
		t.Fatalf("policy knows %d alert kinds, the detector %d", len(policy.AlertKinds), len(alert.Kinds))
	}
	for _, k := range policy.AlertKinds {
		if _, err := alert.ParseKind(k); err != nil {
			t.Errorf("policy alert kind %q unknown to the detector", k)
		}
	}
}
