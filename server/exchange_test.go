package server

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
	"github.com/latchkeyhq/latchkey/issuer"
	"github.com/latchkeyhq/latchkey/rootkey"
	"github.com/latchkeyhq/latchkey/store"
)

func TestExchangeGrantsRequestedScopesBoundToCertificate(t *testing.T) {
	e := newEnv(t)
	key, _ := e.createKey(&adminv1.CreateKeyRequest{BoundIdentities: []string{idWorkloadA}})
	resp, err := e.tokens(idWorkloadA).ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{
		RootKey: key, Scopes: []string{"orders.read"}, Ttl: durationpb.New(5 * time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetScopes(); len(got) != 1 || got[0] != "orders.read" {
		t.Fatalf("scopes = %v, want [orders.read]", got)
	}
	if resp.GetTokenType() != "Bearer" || resp.GetJti() == "" || len(resp.GetKeyId()) != 12 {
		t.Fatalf("bad response metadata: %v", resp)
	}
	claims, err := e.iss().Verify(resp.GetAccessToken(), issuer.VerifyOptions{Audience: "orders-api"})
	if err != nil {
		t.Fatal(err)
	}
	if want := CertThumbprint(e.leaves[idWorkloadA].Cert.Raw); claims.CertThumbprint != want {
		t.Fatalf("cnf x5t#S256 = %q, want the caller's certificate %q", claims.CertThumbprint, want)
	}
	if claims.Subject != "orders-team" || claims.ClientID != resp.GetKeyId() || claims.Scope != "orders.read" {
		t.Fatalf("claims = %+v", claims)
	}
	if d := claims.ExpiresAt.Sub(claims.IssuedAt); d != 5*time.Minute {
		t.Fatalf("lifetime = %s, want 5m", d)
	}
	if !resp.GetExpiresAt().AsTime().Equal(claims.ExpiresAt) || resp.GetJti() != claims.JTI {
		t.Fatal("response expiry/jti disagree with the token")
	}
}

func TestExchangeDefaultsAndCaps(t *testing.T) {
	e := newEnv(t)
	key, _ := e.createKey(&adminv1.CreateKeyRequest{MaxTtl: durationpb.New(5 * time.Minute)})
	cases := []struct {
		name    string
		ttl     *durationpb.Duration
		wantTTL time.Duration
	}{
		{"unset ttl is capped by the key max", nil, 5 * time.Minute},
		{"asked above key max", durationpb.New(2 * time.Hour), 5 * time.Minute},
		{"asked below key max", durationpb.New(90 * time.Second), 90 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := e.tokens(idWorkloadA).ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: key, Ttl: tc.ttl})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(resp.GetScopes(), " ") != "orders.read orders.write" {
				t.Fatalf("empty request must grant the key's scopes, got %v", resp.GetScopes())
			}
			if strings.Join(resp.GetAudiences(), " ") != "orders-api" {
				t.Fatalf("audiences = %v", resp.GetAudiences())
			}
			if got := resp.GetExpiresAt().AsTime().Sub(e.clock.Now()); got != tc.wantTTL {
				t.Fatalf("ttl = %s, want %s", got, tc.wantTTL)
			}
		})
	}
}

// Every root-key failure before the secret is proven gets one answer
// (SECURITY-CASES K2, K9); malformed keys never reach the store.
func TestExchangeRejectsBadRootKeys(t *testing.T) {
	e := newEnv(t)
	good, meta := e.createKey(&adminv1.CreateKeyRequest{})
	revoked, rmeta := e.createKey(&adminv1.CreateKeyRequest{})
	if _, err := e.admin().RevokeKey(ctx(t), &adminv1.RevokeKeyRequest{KeyId: rmeta.GetKeyId(),
		Reason: adminv1.RevocationReason_REVOCATION_REASON_COMPROMISED}); err != nil {
		t.Fatal(err)
	}
	expiring, _ := e.createKey(&adminv1.CreateKeyRequest{Lifetime: durationpb.New(time.Hour)})
	// A key whose id exists but whose secret is another: store a record under
	// a fresh key's id with the hash of a different secret.
	impostor, _ := rootkey.Generate()
	other, _ := rootkey.Generate()
	if err := e.store.CreateKey(ctx(t), store.KeyRecord{ID: impostor.ID(), Owner: "x", SecretHash: e.pepper.Hash(other),
		Scopes: []string{"orders.read"}, Audiences: []string{"a"}, State: store.KeyStateActive, CreatedAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	unknown, _ := rootkey.Generate()
	tampered := good[:len(good)-1] + flipChar(good[len(good)-1])
	_ = meta

	malformed := []string{"", "lk_", "not-a-key", tampered, strings.Replace(good, "lk_", "LK_", 1), good + "x", strings.Repeat("a", 10000)}
	for _, k := range malformed {
		t.Run("malformed", func(t *testing.T) {
			before := e.lookups.count()
			_, err := e.tokens(idWorkloadA).ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: k})
			assertInvalidRootKey(t, err)
			if after := e.lookups.count(); after != before {
				t.Fatalf("malformed key caused %d store lookups", after-before)
			}
		})
	}
	wellFormed := map[string]string{
		"unknown id":   unknown.Reveal(),
		"wrong secret": impostor.Reveal(),
		"revoked":      revoked,
	}
	for name, k := range wellFormed {
		t.Run(name, func(t *testing.T) {
			_, err := e.tokens(idWorkloadA).ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: k})
			assertInvalidRootKey(t, err)
		})
	}
	t.Run("expired", func(t *testing.T) {
		e.clock.Advance(time.Hour)
		_, err := e.tokens(idWorkloadA).ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: expiring})
		assertInvalidRootKey(t, err)
	})
}

func flipChar(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

func assertInvalidRootKey(t *testing.T, err error) {
	t.Helper()
	if status.Code(err) != codes.Unauthenticated || status.Convert(err).Message() != "invalid root key" {
		t.Fatalf("got %v, want Unauthenticated \"invalid root key\"", err)
	}
}

func TestExchangeRequestErrors(t *testing.T) {
	e := newEnv(t)
	key, _ := e.createKey(&adminv1.CreateKeyRequest{BoundIdentities: []string{idWorkloadA}})
	// 100 scopes of 200 bytes pass the per-field limits but not the size cap.
	longScopes := make([]string, 100)
	for i := range longScopes {
		longScopes[i] = strings.Repeat("s", 199) + string(rune('a'+i%26))
	}
	many := make([]string, 5000)
	for i := range many {
		many[i] = "orders.read"
	}
	cases := []struct {
		name    string
		caller  string
		req     *latchkeyv1.ExchangeTokenRequest
		code    codes.Code
		message string
	}{
		{"bound to another identity", idWorkloadB, &latchkeyv1.ExchangeTokenRequest{RootKey: key}, codes.PermissionDenied, "root key is not bound to this caller"},
		{"over-scoped names the scope", idWorkloadA, &latchkeyv1.ExchangeTokenRequest{RootKey: key, Scopes: []string{"orders.read", "billing.read"}}, codes.PermissionDenied, "billing.read"},
		{"unknown scope", idWorkloadA, &latchkeyv1.ExchangeTokenRequest{RootKey: key, Scopes: []string{"nope"}}, codes.PermissionDenied, "nope"},
		{"audience not allowed", idWorkloadA, &latchkeyv1.ExchangeTokenRequest{RootKey: key, Audiences: []string{"billing-api"}}, codes.PermissionDenied, "billing-api"},
		{"thousands of scopes", idWorkloadA, &latchkeyv1.ExchangeTokenRequest{RootKey: key, Scopes: many}, codes.InvalidArgument, "too many scopes"},
		{"negative ttl", idWorkloadA, &latchkeyv1.ExchangeTokenRequest{RootKey: key, Ttl: durationpb.New(-time.Second)}, codes.InvalidArgument, "ttl"},
		{"invalid ttl", idWorkloadA, &latchkeyv1.ExchangeTokenRequest{RootKey: key, Ttl: &durationpb.Duration{Seconds: 1, Nanos: -1}}, codes.InvalidArgument, "ttl"},
		{"empty audience string", idWorkloadA, &latchkeyv1.ExchangeTokenRequest{RootKey: key, Audiences: []string{""}}, codes.InvalidArgument, "audiences"},
		{"empty scope string", idWorkloadA, &latchkeyv1.ExchangeTokenRequest{RootKey: key, Scopes: []string{""}}, codes.InvalidArgument, "scopes"},
		{"request too large", idWorkloadA, &latchkeyv1.ExchangeTokenRequest{RootKey: key, Scopes: longScopes}, codes.InvalidArgument, "request too large"},
		// Past the transport cap gRPC itself refuses the message (SECURITY-CASES L2).
		{"oversized request", idWorkloadA, &latchkeyv1.ExchangeTokenRequest{RootKey: strings.Repeat("k", DefaultMaxRecvMsgSize+1)}, codes.ResourceExhausted, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.tokens(tc.caller).ExchangeToken(ctx(t), tc.req)
			if status.Code(err) != tc.code || !strings.Contains(status.Convert(err).Message(), tc.message) {
				t.Fatalf("got %v, want %v containing %q", err, tc.code, tc.message)
			}
		})
	}
}

func TestExchangeFailsClosedWhenStoreFails(t *testing.T) {
	e := newEnv(t)
	key, _ := e.createKey(&adminv1.CreateKeyRequest{})
	e.store.SetFailing(true)
	defer e.store.SetFailing(false)
	_, err := e.tokens(idWorkloadA).ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: key})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("got %v, want Unavailable", err)
	}
}
