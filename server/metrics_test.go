package server

import (
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
)

func TestMetricsEndpointCountsOutcomesWithoutSecrets(t *testing.T) {
	e := newEnv(t)
	root, k := e.createKey(&adminv1.CreateKeyRequest{})
	client := e.tokens(idWorkloadA)
	resp, err := client.ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: root})
	if err != nil {
		t.Fatal(err)
	}
	wrong := otherSecret(t, k.GetKeyId())
	if _, err := client.ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: wrong}); status.Code(err) != codes.Unauthenticated {
		t.Fatal(err)
	}
	if _, err := client.RevokeToken(ctx(t), &latchkeyv1.RevokeTokenRequest{Token: resp.GetAccessToken()}); err != nil {
		t.Fatal(err)
	}
	h, err := NewHTTPHandler(HTTPConfig{
		Issuer: e.iss, IssuerURL: "https://latchkey.test", BaseURL: "https://127.0.0.1:7444", Metrics: e.metrics.Handler(),
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := httpDo(h, http.MethodGet, MetricsPath)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`latchkey_exchanges_total{result="granted"} 1`,
		`latchkey_exchanges_total{result="bad_secret"} 1`,
		`latchkey_tokens_issued_total{alg="EdDSA"} 1`,
		`latchkey_revocations_total{kind="token"} 1`,
		`latchkey_grpc_requests_total{code="OK",method="/latchkey.v1.TokenService/ExchangeToken"} 1`,
		`latchkey_grpc_requests_total{code="Unauthenticated",method="/latchkey.v1.TokenService/ExchangeToken"} 1`,
		`latchkey_audit_events_total`,
		`latchkey_grpc_request_duration_seconds_bucket`,
		`latchkey_rate_limit_buckets`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for name, secret := range map[string]string{
		"root key": root, "wrong key": wrong, "token": resp.GetAccessToken(), "jti": resp.GetJti(),
		"key id": k.GetKeyId(), "identity": idWorkloadA,
	} {
		if strings.Contains(body, secret) {
			t.Errorf("/metrics exposes the %s", name)
		}
	}
}
