package issuer

import (
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// testNow is the fixed clock every test runs at.
var testNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	testIssuer = "https://latchkey.test"
	testMaxTTL = 15 * time.Minute
)

// testThumbprint is a well-formed x5t#S256 value.
var testThumbprint = CertThumbprint([]byte("test certificate"))

func fixedClock() time.Time { return testNow }

// fixedKey derives a signing key from a label, so that tests (and the fuzz
// corpus) can rebuild the same key on every run without storing one.
func fixedKey(label string) *SigningKey {
	seed := sha256.Sum256([]byte("latchkey issuer test key: " + label))
	return mustSigningKey(ed25519.NewKeyFromSeed(seed[:]))
}

func mustSigningKey(priv crypto.Signer) *SigningKey {
	k, err := newSigningKey(priv)
	if err != nil {
		panic(err)
	}
	return k
}

// edPriv and edPub unwrap an Ed25519 test key for tests that need its bytes.
func edPriv(k *SigningKey) ed25519.PrivateKey { return k.priv.(ed25519.PrivateKey) }

func edPub(k *SigningKey) ed25519.PublicKey { return k.pub.(ed25519.PublicKey) }

func testConfig() Config {
	return Config{Issuer: testIssuer, MaxTTL: testMaxTTL, Now: fixedClock}
}

func newTestIssuer(t testing.TB, cfg Config, active *SigningKey, verifyOnly ...*SigningKey) *Issuer {
	t.Helper()
	iss, err := New(cfg, active, verifyOnly...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return iss
}

func testGrant() Grant {
	return Grant{
		Subject:        "team-payments",
		ClientID:       "k_0123456789ab",
		Audiences:      []string{"svc"},
		Scopes:         []string{"read", "write"},
		TTL:            5 * time.Minute,
		CertThumbprint: testThumbprint,
	}
}

// validHeader is the header Mint writes for key.
func validHeader(key *SigningKey) map[string]any {
	return map[string]any{"alg": key.Alg(), "typ": "at+jwt", "kid": key.KID()}
}

// validClaims is a payload Verify accepts at testNow.
func validClaims() map[string]any {
	return map[string]any{
		"iss":       testIssuer,
		"sub":       "team-payments",
		"aud":       []string{"svc"},
		"exp":       testNow.Add(5 * time.Minute).Unix(),
		"iat":       testNow.Unix(),
		"nbf":       testNow.Unix(),
		"jti":       "AAECAwQFBgcICQoLDA0ODw",
		"scope":     "read write",
		"client_id": "k_0123456789ab",
		"cnf":       map[string]any{"x5t#S256": testThumbprint},
	}
}

// with returns a copy of m with the given members set; a nil value deletes.
func with(m map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	for n := 0; n < len(kv); n += 2 {
		if kv[n+1] == nil {
			delete(out, kv[n].(string))
			continue
		}
		out[kv[n].(string)] = kv[n+1]
	}
	return out
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// signRaw builds a compact JWS from exact header and payload bytes. A nil
// method leaves the signature to sig, which is how alg none and hand-made
// signatures are expressed.
func signRaw(t testing.TB, header, payload []byte, method jwt.SigningMethod, key any, sig []byte) string {
	t.Helper()
	signing := b64(header) + "." + b64(payload)
	if method != nil {
		var err error
		sig, err = method.Sign(signing, key)
		if err != nil {
			t.Fatalf("sign: %v", err)
		}
	}
	return signing + "." + b64(sig)
}

// signMaps signs header and claims maps with any method and key.
func signMaps(t testing.TB, header, claims map[string]any, method jwt.SigningMethod, key any) string {
	t.Helper()
	return signRaw(t, mustJSON(t, header), mustJSON(t, claims), method, key, nil)
}

// signEd signs with one of our Ed25519 keys.
func signEd(t testing.TB, header, claims map[string]any, key *SigningKey) string {
	t.Helper()
	return signMaps(t, header, claims, jwt.SigningMethodEdDSA, key.priv)
}

// wantReason asserts err is exactly the given rejection: nil for acceptance,
// otherwise an ErrInvalidToken that wraps reason.
func wantReason(t *testing.T, err, reason error) {
	t.Helper()
	if reason == nil {
		if err != nil {
			t.Fatalf("want accepted, got %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("want %v, got accepted", reason)
	}
	if !errors.Is(err, ErrInvalidToken) || !errors.Is(err, reason) {
		t.Fatalf("want %v, got %v", reason, err)
	}
}
