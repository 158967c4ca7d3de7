package server

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
	"github.com/latchkeyhq/latchkey/issuer"
)

func (e *env) exchange(key string, scopes ...string) *latchkeyv1.ExchangeTokenResponse {
	e.t.Helper()
	resp, err := e.tokens(idWorkloadA).ExchangeToken(ctx(e.t), &latchkeyv1.ExchangeTokenRequest{RootKey: key, Scopes: scopes})
	if err != nil {
		e.t.Fatalf("ExchangeToken: %v", err)
	}
	return resp
}

func (e *env) introspect(tok string) *latchkeyv1.IntrospectTokenResponse {
	e.t.Helper()
	resp, err := e.tokens(idIntrospect).IntrospectToken(ctx(e.t), &latchkeyv1.IntrospectTokenRequest{Token: tok})
	if err != nil {
		e.t.Fatalf("IntrospectToken: %v", err)
	}
	return resp
}

func TestIntrospectActiveToken(t *testing.T) {
	e := newEnv(t)
	key, meta := e.createKey(&adminv1.CreateKeyRequest{})
	tok := e.exchange(key, "orders.read")
	got := e.introspect(tok.GetAccessToken())
	want := &latchkeyv1.IntrospectTokenResponse{
		Active: true, Sub: "orders-team", ClientId: meta.GetKeyId(), Scope: "orders.read",
		Aud: []string{"orders-api"}, Iss: "https://latchkey.test",
		Exp: tok.GetExpiresAt().GetSeconds(), Iat: e.clock.Now().Unix(), Nbf: e.clock.Now().Unix(),
		Jti: tok.GetJti(), TokenType: "Bearer", CnfX5TS256: CertThumbprint(e.leaves[idWorkloadA].Cert.Raw),
	}
	if !proto.Equal(got, want) {
		t.Fatalf("introspection:\n got %v\nwant %v", got, want)
	}
}

// Anything not valid is OK with active=false and no other field, byte for
// byte the same answer (SECURITY-CASES I3, J1, J2, J9, K9).
func TestIntrospectInactive(t *testing.T) {
	e := newEnv(t)
	key, meta := e.createKey(&adminv1.CreateKeyRequest{})
	good := e.exchange(key).GetAccessToken()
	parts := strings.Split(good, ".")

	foreignKey, _ := issuer.GenerateSigningKey()
	foreign, _ := issuer.New(issuer.Config{Issuer: "https://latchkey.test", MaxTTL: time.Hour, Now: e.clock.Now}, foreignKey)
	forged, err := foreign.Mint(issuer.Grant{Subject: "orders-team", ClientID: meta.GetKeyId(), Audiences: []string{"orders-api"},
		Scopes: []string{"orders.write"}, TTL: time.Minute, CertThumbprint: CertThumbprint([]byte("x"))})
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	widened := strings.Replace(string(payload), `"scope":"orders.read orders.write"`, `"scope":"admin"`, 1)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(widened)) + "." + parts[2]
	if widened == string(payload) {
		t.Fatal("tampering did not change the payload")
	}
	noneHdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt","kid":"` + e.iss().JWKS()[0].Kid + `"}`))
	algNone := noneHdr + "." + parts[1] + "."
	pub, _ := base64.RawURLEncoding.DecodeString(e.iss().JWKS()[0].X)
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "https://latchkey.test", "sub": "x", "exp": e.clock.Now().Add(time.Minute).Unix()})
	hs.Header["typ"] = "at+jwt"
	hs.Header["kid"] = e.iss().JWKS()[0].Kid
	hsTok, err := hs.SignedString(pub)
	if err != nil {
		t.Fatal(err)
	}

	cases := map[string]string{
		"empty":                 "",
		"garbage":               "not.a.token",
		"forged by another key": forged.Raw,
		"tampered payload":      tampered,
		"alg none":              algNone,
		"HS256 with public key": hsTok,
		"oversized":             good + strings.Repeat("A", 9<<10),
		"two segments":          parts[0] + "." + parts[1],
	}
	inactiveBytes, _ := proto.Marshal(&latchkeyv1.IntrospectTokenResponse{Active: false})
	check := func(t *testing.T, tok string) {
		t.Helper()
		resp := e.introspect(tok)
		b, err := proto.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetActive() || string(b) != string(inactiveBytes) {
			t.Fatalf("got %v, want exactly {active:false}", resp)
		}
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) { check(t, tok) })
	}
	t.Run("revoked root key cascades", func(t *testing.T) {
		if e.introspect(good).GetActive() != true {
			t.Fatal("token should be active before its key is revoked")
		}
		if _, err := e.admin().RevokeKey(ctx(t), &adminv1.RevokeKeyRequest{KeyId: meta.GetKeyId(),
			Reason: adminv1.RevocationReason_REVOCATION_REASON_LEAKED}); err != nil {
			t.Fatal(err)
		}
		check(t, good)
	})
	t.Run("revoked jti", func(t *testing.T) {
		k2, _ := e.createKey(&adminv1.CreateKeyRequest{})
		tok := e.exchange(k2)
		if _, err := e.admin().RevokeTokens(ctx(t), &adminv1.RevokeTokensRequest{Target: &adminv1.RevokeTokensRequest_Jti{Jti: tok.GetJti()}}); err != nil {
			t.Fatal(err)
		}
		check(t, tok.GetAccessToken())
	})
	t.Run("expired", func(t *testing.T) {
		k3, _ := e.createKey(&adminv1.CreateKeyRequest{})
		tok := e.exchange(k3)
		e.clock.Advance(11*time.Minute + 31*time.Second) // default ttl 10m + leeway 30s
		check(t, tok.GetAccessToken())
	})
}

// A store failure never yields active=true (SECURITY-CASES I8).
func TestIntrospectFailsClosed(t *testing.T) {
	e := newEnv(t)
	key, _ := e.createKey(&adminv1.CreateKeyRequest{})
	tok := e.exchange(key).GetAccessToken()
	e.store.SetFailing(true)
	defer e.store.SetFailing(false)
	resp, err := e.tokens(idIntrospect).IntrospectToken(ctx(t), &latchkeyv1.IntrospectTokenRequest{Token: tok})
	if status.Code(err) != codes.Unavailable || resp.GetActive() {
		t.Fatalf("got %v, %v; want Unavailable", resp, err)
	}
}

func TestGetJWKSHasOnlyPublicMembers(t *testing.T) {
	e := newEnv(t)
	resp, err := e.tokens(idWorkloadA).GetJWKS(ctx(t), &latchkeyv1.GetJWKSRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetKeys()) != 1 {
		t.Fatalf("keys = %v", resp.GetKeys())
	}
	k := resp.GetKeys()[0]
	if k.GetKty() != "OKP" || k.GetCrv() != "Ed25519" || k.GetAlg() != "EdDSA" || k.GetUse() != "sig" || k.GetKid() == "" || k.GetX() == "" {
		t.Fatalf("bad JWK %v", k)
	}
}
