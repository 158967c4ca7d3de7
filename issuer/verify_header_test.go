package issuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// J1: alg none in any spelling never verifies.
func TestVerifyRejectsAlgNone(t *testing.T) {
	key := fixedKey("active")
	iss := newTestIssuer(t, testConfig(), key)
	for _, alg := range []string{"none", "None", "NONE", "nOnE"} {
		for _, sig := range []struct {
			name  string
			bytes []byte
			want  error
		}{
			{"empty signature", nil, ErrMalformed},
			{"non-empty signature", []byte("signature"), ErrAlgorithm},
		} {
			t.Run(alg+"/"+sig.name, func(t *testing.T) {
				raw := signRaw(t, mustJSON(t, with(validHeader(key), "alg", alg)),
					mustJSON(t, validClaims()), nil, nil, sig.bytes)
				_, err := iss.Verify(raw, VerifyOptions{})
				wantReason(t, err, sig.want)
			})
		}
		t.Run(alg+"/without kid", func(t *testing.T) {
			raw := signRaw(t, mustJSON(t, with(validHeader(key), "alg", alg, "kid", nil)),
				mustJSON(t, validClaims()), nil, nil, []byte("x"))
			_, err := iss.Verify(raw, VerifyOptions{})
			wantReason(t, err, ErrUnknownKey)
		})
	}
}

// J2: an HMAC token keyed with our public key, in every encoding an attacker
// could fetch, is refused before any HMAC is computed.
func TestVerifyRejectsHMACWithPublicKey(t *testing.T) {
	key := fixedKey("active")
	iss := newTestIssuer(t, testConfig(), key)
	spki, err := x509.MarshalPKIXPublicKey(key.pub)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]byte{
		"raw":  []byte(edPub(key)),
		"der":  spki,
		"pem":  pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}),
		"jwk":  mustJSON(t, key.PublicJWK()),
		"jwks": mustJSON(t, map[string]any{"keys": iss.JWKS()}),
	}
	for name, secret := range keys {
		for _, alg := range []jwt.SigningMethod{jwt.SigningMethodHS256, jwt.SigningMethodHS512} {
			t.Run(name+"/"+alg.Alg(), func(t *testing.T) {
				raw := signMaps(t, with(validHeader(key), "alg", alg.Alg()), validClaims(), alg, secret)
				_, err := iss.Verify(raw, VerifyOptions{})
				wantReason(t, err, ErrAlgorithm)
			})
		}
	}
}

// J3: the algorithm is fixed by the key that kid names, not by the header.
func TestVerifyRejectsAlgorithmMismatch(t *testing.T) {
	key := fixedKey("active")
	iss := newTestIssuer(t, testConfig(), key)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, otherEd, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		header map[string]any
		method jwt.SigningMethod
		key    any
		want   error
	}{
		{"ES256 on our kid", with(validHeader(key), "alg", "ES256"), jwt.SigningMethodES256, ec, ErrAlgorithm},
		{"lower-case eddsa", with(validHeader(key), "alg", "eddsa"), jwt.SigningMethodEdDSA, key.priv, ErrAlgorithm},
		{"Ed25519 spelling", with(validHeader(key), "alg", "Ed25519"), jwt.SigningMethodEdDSA, key.priv, ErrAlgorithm},
		{"alg missing", with(validHeader(key), "alg", nil), jwt.SigningMethodEdDSA, key.priv, ErrAlgorithm},
		{"alg number", with(validHeader(key), "alg", 1), jwt.SigningMethodEdDSA, key.priv, ErrAlgorithm},
		{"EdDSA by a stranger's key", validHeader(key), jwt.SigningMethodEdDSA, otherEd, ErrSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := signMaps(t, tc.header, validClaims(), tc.method, tc.key)
			_, err := iss.Verify(raw, VerifyOptions{})
			wantReason(t, err, tc.want)
		})
	}
}

// J4: kid is an exact in-memory lookup and nothing else.
func TestVerifyRejectsBadKID(t *testing.T) {
	key := fixedKey("active")
	cfg := testConfig()
	cfg.MaxTokenBytes = 64 << 10 // room for the 10 KB kid to reach the lookup
	iss := newTestIssuer(t, cfg, key)
	cases := map[string]any{
		"path traversal": "../../dev/null",
		"SQL":            "' OR 1=1--",
		"10 KB":          strings.Repeat("k", 10<<10),
		"number":         42,
		"object":         map[string]any{"kid": key.KID()},
		"array":          []string{key.KID()},
		"null":           json.RawMessage("null"),
		"unknown":        fixedKey("stranger").KID(),
		"case variant":   strings.ToUpper(key.KID()),
		"trailing space": key.KID() + " ",
		"empty":          "",
		"absent":         nil,
	}
	for name, kid := range cases {
		t.Run(name, func(t *testing.T) {
			raw := signEd(t, with(validHeader(key), "kid", kid), validClaims(), key)
			_, err := iss.Verify(raw, VerifyOptions{})
			wantReason(t, err, ErrUnknownKey)
		})
	}
}

// J5: header-supplied keys and key URLs are refused and never fetched.
func TestVerifyRejectsHeaderKeysWithoutFetching(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	key := fixedKey("active")
	iss := newTestIssuer(t, testConfig(), key)
	attacker := fixedKey("attacker")
	certDER := selfSignedCert(t, attacker.priv)
	members := map[string]any{
		"jku": srv.URL + "/jwks.json",
		"x5u": srv.URL + "/cert.pem",
		"jwk": attacker.PublicJWK(),
		"x5c": []string{base64Std(certDER)},
	}
	for name, value := range members {
		for _, signer := range []struct {
			name string
			kid  string
			key  *SigningKey
		}{
			{"attacker key and kid", attacker.KID(), attacker},
			{"attacker key, our kid", key.KID(), attacker},
			{"our key", key.KID(), key},
		} {
			t.Run(name+"/"+signer.name, func(t *testing.T) {
				hdr := with(validHeader(key), "kid", signer.kid, name, value)
				raw := signEd(t, hdr, validClaims(), signer.key)
				_, err := iss.Verify(raw, VerifyOptions{})
				wantReason(t, err, ErrHeader)
			})
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("verification made %d requests, want 0", n)
	}
}

// J11: crit is never honoured, so it is never accepted.
func TestVerifyRejectsCrit(t *testing.T) {
	key := fixedKey("active")
	iss := newTestIssuer(t, testConfig(), key)
	cases := map[string]map[string]any{
		"b64 false":    with(validHeader(key), "crit", []string{"b64"}, "b64", false),
		"unknown":      with(validHeader(key), "crit", []string{"x"}, "x", 1),
		"empty list":   with(validHeader(key), "crit", []string{}),
		"string":       with(validHeader(key), "crit", "exp"),
		"b64 uncrited": with(validHeader(key), "b64", false),
	}
	for name, hdr := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := iss.Verify(signEd(t, hdr, validClaims(), key), VerifyOptions{})
			wantReason(t, err, ErrHeader)
		})
	}
}

// J12: typ is required and must say at+jwt.
func TestVerifyTyp(t *testing.T) {
	key := fixedKey("active")
	iss := newTestIssuer(t, testConfig(), key)
	cases := []struct {
		typ  any
		want error
	}{
		{nil, ErrHeader},
		{"JWT", ErrHeader},
		{"jwt", ErrHeader},
		{"at+jwt", nil},
		{"application/at+jwt", nil},
		{"AT+JWT", nil},
		{"Application/At+Jwt", nil},
		{"application/jwt", ErrHeader},
		{"at+jwt ", ErrHeader},
		{"xapplication/at+jwt", ErrHeader},
		{"\u0430t+jwt", ErrHeader}, // Cyrillic a
		{"", ErrHeader},
		{1, ErrHeader},
		{json.RawMessage("null"), ErrHeader},
		{[]string{"at+jwt"}, ErrHeader},
	}
	for _, tc := range cases {
		name, _ := json.Marshal(tc.typ)
		if tc.typ == nil {
			name = []byte("absent")
		}
		t.Run(string(name), func(t *testing.T) {
			raw := signEd(t, with(validHeader(key), "typ", tc.typ), validClaims(), key)
			_, err := iss.Verify(raw, VerifyOptions{})
			wantReason(t, err, tc.want)
		})
	}
}

// The header may hold alg, typ and kid once each and nothing else.
func TestVerifyHeaderShape(t *testing.T) {
	key := fixedKey("active")
	iss := newTestIssuer(t, testConfig(), key)
	kid := key.KID()
	cases := []struct {
		name   string
		header string
		want   error
	}{
		{"canonical", `{"alg":"EdDSA","typ":"at+jwt","kid":"` + kid + `"}`, nil},
		{"whitespace", ` { "alg" : "EdDSA" , "typ":"at+jwt","kid":"` + kid + `" } `, nil},
		{"unknown member", `{"alg":"EdDSA","typ":"at+jwt","kid":"` + kid + `","foo":1}`, ErrHeader},
		{"cty", `{"alg":"EdDSA","typ":"at+jwt","kid":"` + kid + `","cty":"JWT"}`, ErrHeader},
		{"duplicate kid", `{"alg":"EdDSA","typ":"at+jwt","kid":"x","kid":"` + kid + `"}`, ErrMalformed},
		{"duplicate alg", `{"alg":"none","typ":"at+jwt","kid":"` + kid + `","alg":"EdDSA"}`, ErrMalformed},
		{"escaped duplicate", `{"alg":"EdDSA","typ":"at+jwt","kid":"` + kid + `","k\u0069d":"` + kid + `"}`, ErrMalformed},
		{"case-variant member", `{"alg":"EdDSA","typ":"at+jwt","kid":"` + kid + `","KID":"x"}`, ErrHeader},
		{"invalid UTF-8", "{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"" + kid + "\",\"x\":\"\xff\"}", ErrMalformed},
		{"trailing value", `{"alg":"EdDSA","typ":"at+jwt","kid":"` + kid + `"}{}`, ErrMalformed},
		{"null", `null`, ErrMalformed},
		{"array", `[]`, ErrMalformed},
		{"not JSON", `alg=EdDSA`, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := signRaw(t, []byte(tc.header), mustJSON(t, validClaims()), jwt.SigningMethodEdDSA, key.priv, nil)
			_, err := iss.Verify(raw, VerifyOptions{})
			wantReason(t, err, tc.want)
		})
	}
}

func selfSignedCert(t *testing.T, priv crypto.Signer) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "attacker"},
		NotBefore:    testNow.Add(-time.Hour),
		NotAfter:     testNow.Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
