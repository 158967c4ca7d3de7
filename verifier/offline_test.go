package verifier

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"testing"
	"time"

	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
)

var t0 = time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)

// testKey is a signing key the tests hold the private half of.
type testKey struct {
	kid  string
	alg  string
	priv crypto.Signer
}

func newTestKey(t testing.TB, alg string) testKey {
	t.Helper()
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case algEdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case algES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case algRS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid: "kid-" + alg, alg: alg, priv: priv}
}

func (k testKey) jwk() jwk {
	enc := base64.RawURLEncoding.EncodeToString
	switch p := k.priv.Public().(type) {
	case ed25519.PublicKey:
		return jwk{Kty: "OKP", Crv: "Ed25519", X: enc(p), Kid: k.kid, Alg: k.alg}
	case *ecdsa.PublicKey:
		b, _ := p.Bytes()
		return jwk{Kty: "EC", Crv: "P-256", X: enc(b[1:33]), Y: enc(b[33:]), Kid: k.kid, Alg: k.alg}
	case *rsa.PublicKey:
		return jwk{Kty: "RSA", N: enc(p.N.Bytes()), E: enc(big.NewInt(int64(p.E)).Bytes()), Kid: k.kid, Alg: k.alg}
	}
	return jwk{}
}

// sign produces a compact JWS over the exact header and payload bytes given,
// signed with k's algorithm. ES256 signatures are raw r||s.
func (k testKey) sign(t testing.TB, header, payload string) string {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	input := enc([]byte(header)) + "." + enc([]byte(payload))
	return input + "." + enc(k.rawSign(t, []byte(input)))
}

func (k testKey) rawSign(t testing.TB, input []byte) []byte {
	t.Helper()
	sum := sha256.Sum256(input)
	switch p := k.priv.(type) {
	case ed25519.PrivateKey:
		return ed25519.Sign(p, input)
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, p, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out
	case *rsa.PrivateKey:
		sig, err := rsa.SignPKCS1v15(rand.Reader, p, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	return nil
}

func (k testKey) header() string {
	return `{"alg":"` + k.alg + `","typ":"at+jwt","kid":"` + k.kid + `"}`
}

// claimsJSON is a valid Latchkey payload at t0, with edits applied: a nil
// value deletes a member.
func claimsJSON(t testing.TB, edits map[string]any) string {
	t.Helper()
	m := map[string]any{
		"iss": testIssuer, "sub": "orders-team", "aud": []string{testAudience},
		"exp": t0.Add(10 * time.Minute).Unix(), "iat": t0.Unix(), "nbf": t0.Unix(),
		"jti": "jti-1", "scope": "orders.read orders.write", "client_id": "key1",
		"cnf": map[string]string{"x5t#S256": base64.RawURLEncoding.EncodeToString(make([]byte, 32))},
	}
	for k, v := range edits {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// offlineVerifier is a local-mode Verifier whose JWKS is keys and whose
// replica has applied an empty snapshot, with no Latchkey behind it.
func offlineVerifier(t testing.TB, now func() time.Time, keys ...testKey) *Verifier {
	t.Helper()
	cfg := Config{Conn: &spyConn{}, Issuer: testIssuer, Audience: testAudience, Now: now}
	if err := cfg.fill(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var jwks []jwk
	for _, k := range keys {
		jwks = append(jwks, k.jwk())
	}
	v := &Verifier{cfg: cfg, ctx: ctx, cancel: cancel}
	v.keys = newKeyCache(ctx, func(context.Context) ([]jwk, error) { return jwks, nil }, now, cfg.Logger)
	if err := v.keys.refresh(ctx, true); err != nil {
		t.Fatal(err)
	}
	v.rep = newReplica(now)
	v.rep.onSigningKey = v.keys.forget
	if err := v.rep.apply(&latchkeyv1.WatchRevocationsResponse{Resync: true, SnapshotComplete: true, Revision: 1}); err != nil {
		t.Fatal(err)
	}
	return v
}
