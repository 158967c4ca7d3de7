package server

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
)

func (e *env) signingAdmin() adminv1.SigningKeyServiceClient {
	return adminv1.NewSigningKeyServiceClient(e.conn(idAdmin))
}

func (e *env) jwksKIDs() []string {
	e.t.Helper()
	resp, err := e.tokens(idWorkloadA).GetJWKS(ctx(e.t), &latchkeyv1.GetJWKSRequest{})
	if err != nil {
		e.t.Fatal(err)
	}
	var kids []string
	for _, k := range resp.GetKeys() {
		kids = append(kids, k.GetKid())
	}
	return kids
}

func keysIn(keys []*adminv1.SigningKey, state adminv1.SigningKeyState) []string {
	var out []string
	for _, k := range keys {
		if k.GetState() == state {
			out = append(out, k.GetKid())
		}
	}
	return out
}

// Rotation publishes the next key before it signs; emergency revocation makes
// every token of the key inactive at once and takes it out of the JWKS.
func TestSigningKeyRotationAndRevocation(t *testing.T) {
	e := newEnv(t)
	key, _ := e.createKey(&adminv1.CreateKeyRequest{})

	list, err := e.signingAdmin().ListSigningKeys(ctx(t), &adminv1.ListSigningKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	active := keysIn(list.GetKeys(), adminv1.SigningKeyState_SIGNING_KEY_STATE_ACTIVE)
	if len(active) != 1 || list.GetKeys()[0].GetAlg() != "EdDSA" {
		t.Fatalf("a fresh keyring has one active EdDSA key: %v", list.GetKeys())
	}
	rot, err := e.signingAdmin().RotateSigningKey(ctx(t), &adminv1.RotateSigningKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	next := keysIn(rot.GetKeys(), adminv1.SigningKeyState_SIGNING_KEY_STATE_NEXT)
	if len(next) != 1 || !slices.Contains(e.jwksKIDs(), next[0]) {
		t.Fatalf("rotation must publish a next key at once: %v, jwks %v", rot.GetKeys(), e.jwksKIDs())
	}
	// Still signed by the old key until the publish lead (default 1h) has passed.
	e.clock.Advance(55 * time.Minute)
	if err := e.keys.Tick(ctx(t)); err != nil {
		t.Fatal(err)
	}
	before := e.exchange(key).GetAccessToken()
	if kid := tokenKID(t, before); kid != active[0] {
		t.Fatalf("signed by %s before the lead passed, want %s", kid, active[0])
	}
	e.clock.Advance(5 * time.Minute)
	if err := e.keys.Tick(ctx(t)); err != nil {
		t.Fatal(err)
	}
	after := e.exchange(key).GetAccessToken()
	if kid := tokenKID(t, after); kid != next[0] {
		t.Fatalf("signed by %s after the lead, want the new key %s", kid, next[0])
	}
	if !e.introspect(before).GetActive() {
		t.Fatal("a token of the retired key must stay active until it expires")
	}

	if _, err := e.signingAdmin().RevokeSigningKey(ctx(t), &adminv1.RevokeSigningKeyRequest{Kid: active[0]}); err != nil {
		t.Fatal(err)
	}
	if e.introspect(before).GetActive() || slices.Contains(e.jwksKIDs(), active[0]) {
		t.Fatal("a revoked signing key's tokens must be inactive and the key gone from the JWKS")
	}
	if !e.introspect(after).GetActive() {
		t.Fatal("revoking the retired key must not touch the active key's tokens")
	}
	// Revoking the active key: a new active key signs at once.
	if _, err := e.signingAdmin().RevokeSigningKey(ctx(t), &adminv1.RevokeSigningKeyRequest{Kid: next[0]}); err != nil {
		t.Fatal(err)
	}
	if e.introspect(after).GetActive() {
		t.Fatal("token of the revoked active key is still active")
	}
	fresh := e.exchange(key).GetAccessToken()
	if kid := tokenKID(t, fresh); kid == next[0] || kid == active[0] || !e.introspect(fresh).GetActive() {
		t.Fatalf("after revoking the active key, new tokens must come from a new key (got %s)", kid)
	}
	bad := map[string]codes.Code{"": codes.InvalidArgument, "no-such-kid": codes.NotFound, next[0]: codes.FailedPrecondition}
	for kid, code := range bad {
		if _, err := e.signingAdmin().RevokeSigningKey(ctx(t), &adminv1.RevokeSigningKeyRequest{Kid: kid}); status.Code(err) != code {
			t.Errorf("revoke %q: %v, want %v", kid, err, code)
		}
	}
}

// tokenKID reads the kid from a token's header.
func tokenKID(t *testing.T, token string) string {
	t.Helper()
	hdr, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(hdr)
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Kid string }
	if err := json.Unmarshal(raw, &h); err != nil || h.Kid == "" {
		t.Fatalf("token header %s: %v", raw, err)
	}
	return h.Kid
}
