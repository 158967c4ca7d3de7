package server

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
)

// A full flow at debug level, error paths included, leaves no root key, token
// or pepper in the logs (SECURITY-CASES K6).
func TestLogsCarryNoSecrets(t *testing.T) {
	e := newEnv(t)
	key, meta := e.createKey(&adminv1.CreateKeyRequest{BoundIdentities: []string{idWorkloadA}})
	tok := e.exchange(key)
	e.introspect(tok.GetAccessToken())
	// Error paths: wrong caller, over-scope, tampered key, bad token.
	e.tokens(idWorkloadB).ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: key})
	e.tokens(idWorkloadA).ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: key, Scopes: []string{"billing.read"}})
	e.tokens(idWorkloadA).ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: key[:len(key)-1] + "0"})
	e.tokens(idNobody).ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: key})
	e.introspect(tok.GetAccessToken() + "x")
	e.admin().RevokeKey(ctx(t), &adminv1.RevokeKeyRequest{KeyId: meta.GetKeyId(), Reason: adminv1.RevocationReason_REVOCATION_REASON_LEAKED})
	e.introspect(tok.GetAccessToken())
	e.store.SetFailing(true)
	e.tokens(idWorkloadA).ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: key})
	e.store.SetFailing(false)

	logs := e.logs.String()
	if !strings.Contains(logs, meta.GetKeyId()) || !strings.Contains(logs, "finished call") {
		t.Fatalf("expected call logs mentioning the key id; got:\n%s", logs)
	}
	secretPart := strings.TrimPrefix(key, meta.GetPrefix())
	parts := strings.Split(tok.GetAccessToken(), ".")
	forbidden := map[string]string{
		"root key":        key,
		"root key secret": secretPart[:32],
		"token":           tok.GetAccessToken(),
		"token signature": parts[2],
		"token payload":   parts[1],
		"pepper hex":      hex.EncodeToString(e.pepperB),
		"pepper base64":   base64.StdEncoding.EncodeToString(e.pepperB),
		"pepper raw":      string(e.pepperB),
	}
	for what, s := range forbidden {
		if strings.Contains(logs, s) {
			t.Errorf("logs contain the %s", what)
		}
	}
}
