package issuer

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// RFC 8037 appendix A.1 (private key) and A.3 (its thumbprint).
const (
	rfc8037D   = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
	rfc8037X   = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
	rfc8037KID = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
)

func rfc8037Key(t *testing.T) *SigningKey {
	t.Helper()
	seed, err := base64.RawURLEncoding.DecodeString(rfc8037D)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseSigningKey(der)
	if err != nil {
		t.Fatalf("ParseSigningKey: %v", err)
	}
	return k
}

func TestKIDIsRFC7638Thumbprint(t *testing.T) {
	k := rfc8037Key(t)
	if k.KID() != rfc8037KID {
		t.Fatalf("kid %s, want %s", k.KID(), rfc8037KID)
	}
	jwk := k.PublicJWK()
	want := JWK{Kty: "OKP", Kid: rfc8037KID, Alg: AlgEdDSA, Use: "sig", Crv: "Ed25519", X: rfc8037X}
	if jwk != want {
		t.Fatalf("jwk %+v, want %+v", jwk, want)
	}
	if k.Alg() != AlgEdDSA {
		t.Fatalf("alg %s", k.Alg())
	}
}

func TestSigningKeyPKCS8RoundTrip(t *testing.T) {
	k, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	der, err := k.MarshalPKCS8()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseSigningKey(der)
	if err != nil {
		t.Fatal(err)
	}
	if back.KID() != k.KID() || !edPriv(back).Equal(edPriv(k)) {
		t.Fatal("parsed key differs from the marshalled one")
	}
	other, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	if other.KID() == k.KID() {
		t.Fatal("two generated keys share a kid")
	}
}

func TestParseSigningKeyRejects(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsaDER, err := x509.MarshalPKCS8PrivateKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	ed, _ := GenerateSigningKey()
	edDER, _ := ed.MarshalPKCS8()
	cases := map[string][]byte{
		"nil":         nil,
		"garbage":     []byte("not a key"),
		"ECDSA P-384": ecDER,
		"RSA 1024":    rsaDER,
		"truncated":   edDER[:len(edDER)-1],
		"SEC1":        must(x509.MarshalECPrivateKey(ec)),
	}
	for name, der := range cases {
		t.Run(name, func(t *testing.T) {
			k, err := ParseSigningKey(der)
			if !errors.Is(err, ErrInvalidSigningKey) || k != nil {
				t.Fatalf("got %v, %v; want ErrInvalidSigningKey", k, err)
			}
		})
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestSigningKeyRedaction(t *testing.T) {
	k := fixedKey("secret")
	der, err := k.MarshalPKCS8()
	if err != nil {
		t.Fatal(err)
	}
	seed := edPriv(k).Seed()
	secrets := []string{
		hex.EncodeToString(seed), hex.EncodeToString(edPriv(k)),
		base64.RawURLEncoding.EncodeToString(seed), base64.StdEncoding.EncodeToString(der),
		strings.Trim(fmt.Sprint([]byte(seed)), "[]"), fmt.Sprintf("%#v", []byte(seed)),
	}
	outputs := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		outputs[verb] = fmt.Sprintf(verb, k)
		outputs[verb+" value"] = fmt.Sprintf(verb, *k)
		outputs[verb+" nested"] = fmt.Sprintf(verb, struct{ K *SigningKey }{k})
	}
	outputs["Sprint"] = fmt.Sprint(k)
	outputs["String"] = k.String()
	outputs["issuer"] = fmt.Sprintf("%+v %#v", newTestIssuer(t, testConfig(), k), newTestIssuer(t, testConfig(), k))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("loaded", "key", k, "value", *k)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("loaded", "key", k)
	outputs["slog"] = buf.String()
	for name, out := range outputs {
		t.Run(name, func(t *testing.T) {
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Fatalf("output reveals the private key: %s", out)
				}
			}
		})
	}
	for _, name := range []string{"%v", "%#v", "%x value", "%d", "String"} {
		if outputs[name] != redacted {
			t.Errorf("%s printed %q, want %q", name, outputs[name], redacted)
		}
	}
	if got := strings.Count(outputs["slog"], redacted); got != 3 {
		t.Errorf("slog output has %d placeholders, want 3: %s", got, outputs["slog"])
	}
}

func TestJWKS(t *testing.T) {
	active, old := fixedKey("active"), fixedKey("old")
	iss := newTestIssuer(t, testConfig(), active, old)
	keys := iss.JWKS()
	if len(keys) != 2 || keys[0].Kid != active.KID() || keys[1].Kid != old.KID() {
		t.Fatalf("JWKS %+v, want active then old", keys)
	}
	doc := mustJSON(t, map[string]any{"keys": keys})
	var parsed struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(doc, &parsed); err != nil {
		t.Fatal(err)
	}
	public := map[string]bool{"kty": true, "kid": true, "alg": true, "use": true, "crv": true, "x": true}
	for n, k := range parsed.Keys {
		for member := range k {
			if !public[member] {
				t.Errorf("key %d has member %q", n, member)
			}
		}
		if k["use"] != "sig" || k["alg"] != AlgEdDSA || k["kty"] != "OKP" || k["crv"] != "Ed25519" {
			t.Errorf("key %d: %v", n, k)
		}
		x, err := base64.RawURLEncoding.Strict().DecodeString(k["x"].(string))
		if err != nil || len(x) != ed25519.PublicKeySize {
			t.Errorf("key %d: x is not a raw Ed25519 public key", n)
		}
		if kid := thumbprint(okpJWK(x)); kid != k["kid"] {
			t.Errorf("key %d: kid %v, thumbprint %s", n, k["kid"], kid)
		}
	}
	for _, forbidden := range []string{`"d"`, `"p"`, `"q"`, `"dp"`, `"dq"`, `"qi"`} {
		if bytes.Contains(doc, []byte(forbidden)) {
			t.Errorf("JWKS document contains %s: %s", forbidden, doc)
		}
	}
	keys[0].Kid = "changed"
	if iss.JWKS()[0].Kid != active.KID() {
		t.Fatal("JWKS returned shared state")
	}
}

func TestCertThumbprint(t *testing.T) {
	// SHA-256("abc") from FIPS 180-2, re-encoded as base64url without padding.
	if got, want := CertThumbprint([]byte("abc")), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	der := selfSignedCert(t, fixedKey("client").priv)
	c := Claims{CertThumbprint: CertThumbprint(der)}
	other := selfSignedCert(t, fixedKey("other").priv)
	cases := []struct {
		name   string
		claims Claims
		cert   []byte
		want   bool
	}{
		{"same certificate", c, der, true},
		{"other certificate", c, other, false},
		{"no thumbprint", Claims{}, der, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.claims.BoundTo(tc.cert); got != tc.want {
				t.Fatalf("BoundTo = %v, want %v", got, tc.want)
			}
		})
	}
}
