package issuer

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// fixedECKey derives a P-256 key from a label so that its kid is stable.
func fixedECKey(t testing.TB, label string) *SigningKey {
	t.Helper()
	d := sha256.Sum256([]byte("latchkey issuer test EC key: " + label))
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	if err != nil {
		t.Fatal(err)
	}
	return mustSigningKey(priv)
}

// fixedRSAKey loads the committed RSA test key; RSA keys cannot be derived
// from a seed portably.
func fixedRSAKey(t testing.TB) *SigningKey {
	t.Helper()
	b, err := os.ReadFile("testdata/golden/rs256-test-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("no PEM block in the RSA test key")
	}
	k, err := ParseSigningKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestGenerateSigningKeyAlg(t *testing.T) {
	for _, alg := range []string{AlgEdDSA, AlgES256, AlgRS256} {
		t.Run(alg, func(t *testing.T) {
			k, err := GenerateSigningKeyAlg(alg)
			if err != nil {
				t.Fatal(err)
			}
			if k.Alg() != alg || k.PublicJWK().Alg != alg || k.PublicJWK().Kid != k.KID() {
				t.Fatalf("alg %s, jwk %+v", k.Alg(), k.PublicJWK())
			}
			der, err := k.MarshalPKCS8()
			if err != nil {
				t.Fatal(err)
			}
			back, err := ParseSigningKey(der)
			if err != nil {
				t.Fatal(err)
			}
			if back.KID() != k.KID() || back.Alg() != alg || back.PublicJWK() != k.PublicJWK() {
				t.Fatalf("round trip changed the key: %+v vs %+v", back.PublicJWK(), k.PublicJWK())
			}
		})
	}
	for _, alg := range []string{"", "none", "HS256", "ES384", "PS256", "eddsa", "es256"} {
		t.Run("reject "+alg, func(t *testing.T) {
			k, err := GenerateSigningKeyAlg(alg)
			if !errors.Is(err, ErrInvalidSigningKey) || k != nil {
				t.Fatalf("got %v, %v; want ErrInvalidSigningKey", k, err)
			}
		})
	}
	t.Run("default is EdDSA", func(t *testing.T) {
		k, err := GenerateSigningKey()
		if err != nil || k.Alg() != AlgEdDSA {
			t.Fatalf("got %v, %v", k.Alg(), err)
		}
	})
}

func TestParseSigningKeyRejectsWeakOrForeignKeys(t *testing.T) {
	gen := func(f func() (any, error)) []byte {
		k, err := f()
		if err != nil {
			t.Fatal(err)
		}
		return must(x509.MarshalPKCS8PrivateKey(k))
	}
	cases := map[string][]byte{
		"ECDSA P-384": gen(func() (any, error) { return ecdsa.GenerateKey(elliptic.P384(), rand.Reader) }),
		"ECDSA P-521": gen(func() (any, error) { return ecdsa.GenerateKey(elliptic.P521(), rand.Reader) }),
		"RSA 2040":    gen(func() (any, error) { return rsa.GenerateKey(rand.Reader, 2040) }),
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

// RFC 7638 section 3.1: the RSA example key and its thumbprint.
func TestRSAKIDMatchesRFC7638Example(t *testing.T) {
	const (
		n    = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
		want = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
	)
	nb, err := b64url.Strict().DecodeString(n)
	if err != nil {
		t.Fatal(err)
	}
	jwk := rsaJWK(&rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: 65537})
	if jwk.N != n || jwk.E != "AQAB" || jwk.Kty != "RSA" {
		t.Fatalf("jwk %+v", jwk)
	}
	if got := thumbprint(jwk); got != want {
		t.Fatalf("thumbprint %s, want %s", got, want)
	}
}

// The EC thumbprint is recomputed here from the SEC 1 point, by hand, in the
// member order RFC 7638 section 3.2 fixes.
func TestECKIDAndJWK(t *testing.T) {
	for _, label := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		t.Run(label, func(t *testing.T) {
			k := fixedECKey(t, label)
			pt, err := k.priv.(*ecdsa.PrivateKey).PublicKey.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			x, y := b64url.EncodeToString(pt[1:33]), b64url.EncodeToString(pt[33:65])
			sum := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + x + `","y":"` + y + `"}`))
			want := JWK{Kty: "EC", Kid: b64url.EncodeToString(sum[:]), Alg: AlgES256, Use: "sig", Crv: "P-256", X: x, Y: y}
			if got := k.PublicJWK(); got != want || k.KID() != want.Kid {
				t.Fatalf("jwk %+v, want %+v", got, want)
			}
		})
	}
	t.Run("short coordinate is left-padded", func(t *testing.T) {
		// Find a key whose x has a leading zero byte: 1 in 256 keys.
		for n := 0; n < 4096; n++ {
			k := fixedECKey(t, "pad"+string(rune('A'+n%26))+strings.Repeat("x", n/26))
			pub := &k.priv.(*ecdsa.PrivateKey).PublicKey
			pt, _ := pub.Bytes()
			if pt[1] != 0 {
				continue
			}
			xb, err := b64url.Strict().DecodeString(k.PublicJWK().X)
			if err != nil || len(xb) != 32 || xb[0] != 0 {
				t.Fatalf("x %q is not 32 bytes with its leading zero", k.PublicJWK().X)
			}
			return
		}
		t.Fatal("no key with a short x coordinate found")
	})
}

// J22: no private member reaches the JWKS, whatever the key type.
func TestJWKSHasNoPrivateMembers(t *testing.T) {
	iss := newTestIssuer(t, testConfig(), fixedKey("active"), fixedECKey(t, "ec"), fixedRSAKey(t))
	doc := mustJSON(t, map[string]any{"keys": iss.JWKS()})
	var parsed struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(doc, &parsed); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"OKP": {"alg", "crv", "kid", "kty", "use", "x"},
		"EC":  {"alg", "crv", "kid", "kty", "use", "x", "y"},
		"RSA": {"alg", "e", "kid", "kty", "n", "use"},
	}
	if len(parsed.Keys) != 3 {
		t.Fatalf("%d keys", len(parsed.Keys))
	}
	for _, k := range parsed.Keys {
		kty, _ := k["kty"].(string)
		t.Run(kty, func(t *testing.T) {
			var got []string
			for m := range k {
				got = append(got, m)
			}
			if strings.Join(sorted(got), ",") != strings.Join(want[kty], ",") {
				t.Fatalf("members %v, want %v", sorted(got), want[kty])
			}
			if k["use"] != "sig" {
				t.Fatalf("use %v", k["use"])
			}
		})
	}
	for _, m := range []string{`"d"`, `"p"`, `"q"`, `"dp"`, `"dq"`, `"qi"`} {
		if bytes.Contains(doc, []byte(m)) {
			t.Errorf("JWKS contains %s", m)
		}
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestMintSignsWithActiveKeyAlgorithm(t *testing.T) {
	keys := map[string]*SigningKey{AlgEdDSA: fixedKey("active"), AlgES256: fixedECKey(t, "active"), AlgRS256: fixedRSAKey(t)}
	for alg, k := range keys {
		t.Run(alg, func(t *testing.T) {
			var others []*SigningKey
			for a, o := range keys {
				if a != alg {
					others = append(others, o)
				}
			}
			iss := newTestIssuer(t, testConfig(), k, others...)
			tok, err := iss.Mint(testGrant())
			if err != nil {
				t.Fatal(err)
			}
			hdr := decodeSegment(t, tok.Raw[:strings.IndexByte(tok.Raw, '.')])
			if string(hdr["alg"]) != `"`+alg+`"` || string(hdr["kid"]) != `"`+k.KID()+`"` {
				t.Fatalf("header alg %s kid %s", hdr["alg"], hdr["kid"])
			}
			if _, err := iss.Verify(tok.Raw, VerifyOptions{Audience: "svc"}); err != nil {
				t.Fatal(err)
			}
			if alg == AlgES256 {
				sig, _ := b64url.DecodeString(tok.Raw[strings.LastIndexByte(tok.Raw, '.')+1:])
				if len(sig) != 64 {
					t.Fatalf("ES256 signature is %d bytes, want raw r||s of 64", len(sig))
				}
			}
		})
	}
}

// J3 across every pair: a kid's key fixes the one algorithm it verifies with,
// even when the header algorithm's signature is genuine.
func TestVerifyAlgorithmBoundToKid(t *testing.T) {
	ed, ec, rs := fixedKey("active"), fixedECKey(t, "ec"), fixedRSAKey(t)
	iss := newTestIssuer(t, testConfig(), ed, ec, rs)
	ec384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signers := map[string]struct {
		method jwt.SigningMethod
		key    any
	}{
		AlgEdDSA: {jwt.SigningMethodEdDSA, ed.priv},
		AlgES256: {jwt.SigningMethodES256, ec.priv},
		AlgRS256: {jwt.SigningMethodRS256, rs.priv},
		"ES384":  {jwt.SigningMethodES384, ec384},
		"PS256":  {jwt.SigningMethodPS256, rs.priv},
		"HS256":  {jwt.SigningMethodHS256, []byte("shared secret")},
	}
	for _, kidKey := range []*SigningKey{ed, ec, rs} {
		for alg, s := range signers {
			want := ErrAlgorithm
			if alg == kidKey.Alg() {
				want = nil
			}
			t.Run(kidKey.Alg()+" kid/"+alg+" header", func(t *testing.T) {
				hdr := map[string]any{"alg": alg, "typ": "at+jwt", "kid": kidKey.KID()}
				raw := signMaps(t, hdr, validClaims(), s.method, s.key)
				_, err := iss.Verify(raw, VerifyOptions{})
				wantReason(t, err, want)
			})
		}
	}
}

// esToken mints an ES256 token and returns it with its r and s.
func esToken(t *testing.T) (*Issuer, string, *big.Int, *big.Int) {
	t.Helper()
	iss := newTestIssuer(t, testConfig(), fixedECKey(t, "active"))
	tok, err := iss.Mint(testGrant())
	if err != nil {
		t.Fatal(err)
	}
	dot := strings.LastIndexByte(tok.Raw, '.')
	sig, err := b64url.DecodeString(tok.Raw[dot+1:])
	if err != nil || len(sig) != 64 {
		t.Fatalf("signature: %v, %d bytes", err, len(sig))
	}
	return iss, tok.Raw[:dot], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
}

func rawSig(r, s *big.Int) []byte {
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out
}

// J6 and J7: hand-built ES256 signatures.
func TestVerifyES256SignatureEncoding(t *testing.T) {
	iss, signing, r, s := esToken(t)
	n := elliptic.P256().Params().N
	der, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
	if err != nil {
		t.Fatal(err)
	}
	zero := new(big.Int)
	cases := []struct {
		name string
		sig  []byte
		want error
	}{
		{"genuine", rawSig(r, s), nil},
		// J7: ECDSA is malleable; (r, n-s) is also a valid signature of
		// the same claims, which is why revocation keys on jti.
		{"malleated s to n-s", rawSig(r, new(big.Int).Sub(n, s)), nil},
		{"64 zero bytes", make([]byte, 64), ErrSignature},
		{"r zero", rawSig(zero, s), ErrSignature},
		{"s zero", rawSig(r, zero), ErrSignature},
		{"r equals n", rawSig(n, s), ErrSignature},
		{"s equals n", rawSig(r, n), ErrSignature},
		{"r plus n", append(append([]byte{}, new(big.Int).Add(r, n).Bytes()...), s.Bytes()...), ErrSignature},
		{"DER encoding", der, ErrSignature},
		{"63 bytes", rawSig(r, s)[:63], ErrSignature},
		{"65 bytes", append(rawSig(r, s), 0), ErrSignature},
		{"r and s swapped", rawSig(s, r), ErrSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := iss.Verify(signing+"."+b64url.EncodeToString(tc.sig), VerifyOptions{})
			wantReason(t, err, tc.want)
			if tc.want == nil && c.JTI == "" {
				t.Fatal("accepted without a jti")
			}
		})
	}
	t.Run("malleated token has the same jti", func(t *testing.T) {
		a, err := iss.Verify(signing+"."+b64url.EncodeToString(rawSig(r, s)), VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := iss.Verify(signing+"."+b64url.EncodeToString(rawSig(r, new(big.Int).Sub(n, s))), VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if a.JTI != b.JTI {
			t.Fatalf("jti %s vs %s", a.JTI, b.JTI)
		}
	})
}

// An RS256 signature from another RSA key, and a truncated one, fail.
func TestVerifyRS256Signature(t *testing.T) {
	rs := fixedRSAKey(t)
	iss := newTestIssuer(t, testConfig(), rs)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	good := signMaps(t, validHeader(rs), validClaims(), jwt.SigningMethodRS256, rs.priv)
	forged := signMaps(t, validHeader(rs), validClaims(), jwt.SigningMethodRS256, other)
	dot := strings.LastIndexByte(good, '.')
	sig, err := b64url.DecodeString(good[dot+1:])
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, raw string
		want      error
	}{
		{"genuine", good, nil},
		{"other key", forged, ErrSignature},
		{"signature one byte short", good[:dot+1] + b64url.EncodeToString(sig[:len(sig)-1]), ErrSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := iss.Verify(tc.raw, VerifyOptions{})
			wantReason(t, err, tc.want)
		})
	}
}
