package issuer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// countingReader yields a fixed byte stream, so the fuzz issuer mints the same
// jti values, and therefore the same tokens, in every process.
type countingReader struct{ n uint64 }

func (r *countingReader) Read(p []byte) (int, error) {
	for off := 0; off < len(p); {
		r.n++
		sum := sha256.Sum256(binary.BigEndian.AppendUint64(nil, r.n))
		off += copy(p[off:], sum[:])
	}
	return len(p), nil
}

// fuzzIssuer returns a reproducible issuer and the tokens it minted, which are
// the only inputs Verify may accept.
func fuzzIssuer(t testing.TB) (*Issuer, *SigningKey, []string) {
	key := fixedKey("fuzz")
	iss := newTestIssuer(t, testConfig(), key)
	iss.rand = &countingReader{}
	grants := []func(*Grant){
		func(*Grant) {},
		func(g *Grant) { g.Audiences = []string{"svc", "billing"} },
		func(g *Grant) { g.Scopes = nil },
		func(g *Grant) { g.TTL = testMaxTTL },
		func(g *Grant) { g.Subject = "spiffe://example.org/ns/\u00e9quipe" },
	}
	var minted []string
	for _, edit := range grants {
		g := testGrant()
		edit(&g)
		tok, err := iss.Mint(g)
		if err != nil {
			t.Fatal(err)
		}
		minted = append(minted, tok.Raw)
	}
	return iss, key, minted
}

// fuzzVectors are the J-case inputs, every one of which must be rejected.
func fuzzVectors(t testing.TB, key *SigningKey, good string) map[string]string {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), testRand{})
	if err != nil {
		t.Fatal(err)
	}
	hdr, claims := validHeader(key), validClaims()
	ed := func(h, c map[string]any) string { return signEd(t, h, c, key) }
	segs := strings.Split(good, ".")
	return map[string]string{
		"j1-none":          signRaw(t, mustJSON(t, with(hdr, "alg", "none")), mustJSON(t, claims), nil, nil, []byte("x")),
		"j1-none-empty":    signRaw(t, mustJSON(t, with(hdr, "alg", "nOnE")), mustJSON(t, claims), nil, nil, nil),
		"j2-hs256":         signMaps(t, with(hdr, "alg", "HS256"), claims, jwt.SigningMethodHS256, []byte(edPub(key))),
		"j3-es256":         signMaps(t, with(hdr, "alg", "ES256"), claims, jwt.SigningMethodES256, ec),
		"j4-kid-path":      ed(with(hdr, "kid", "../../dev/null"), claims),
		"j4-kid-number":    ed(with(hdr, "kid", 7), claims),
		"j4-kid-absent":    ed(with(hdr, "kid", nil), claims),
		"j5-jku":           ed(with(hdr, "jku", "http://127.0.0.1:1/jwks"), claims),
		"j5-jwk":           ed(with(hdr, "jwk", key.PublicJWK()), claims),
		"j8-trailing-bits": segs[0] + "." + segs[1] + "." + flipTrailingBits(segs[2]),
		"j8-padding":       segs[0] + "." + segs[1] + "." + pad(segs[2]),
		"j9-oversize":      strings.Repeat("A", DefaultMaxTokenBytes+1),
		"j9-four-segments": good + "." + segs[2],
		"j9-nested":        signRaw(t, mustJSON(t, with(hdr, "cty", "JWT")), []byte(good), jwt.SigningMethodEdDSA, key.priv, nil),
		"j11-crit":         ed(with(hdr, "crit", []string{"b64"}, "b64", false), claims),
		"j12-typ-jwt":      ed(with(hdr, "typ", "JWT"), claims),
		"j12-typ-missing":  ed(with(hdr, "typ", nil), claims),
		"j13-iss":          ed(hdr, with(claims, "iss", "https://evil.test")),
		"j14-aud-empty":    ed(hdr, with(claims, "aud", []string{""})),
		"j14-aud-number":   ed(hdr, with(claims, "aud", []any{1})),
		"j15-exp-string":   ed(hdr, with(claims, "exp", "123")),
		"j15-exp-1e19":     ed(hdr, with(claims, "exp", json.RawMessage("1e19"))),
		"j15-exp-missing":  ed(hdr, with(claims, "exp", nil)),
		"j15-ttl":          ed(hdr, with(claims, "exp", unix(testMaxTTL+time.Second))),
		"j17-nbf-future":   ed(hdr, with(claims, "nbf", unix(DefaultLeeway+time.Second))),
		"j18-jti-missing":  ed(hdr, with(claims, "jti", nil)),
		"j18-null":         signRaw(t, mustJSON(t, hdr), []byte("null"), jwt.SigningMethodEdDSA, key.priv, nil),
		"j18-utf8":         signRaw(t, mustJSON(t, hdr), []byte("{\"sub\":\"\xff\"}"), jwt.SigningMethodEdDSA, key.priv, nil),
		"j18-dup-sub":      signRaw(t, mustJSON(t, hdr), []byte(`{"sub":"a","sub":"b"}`), jwt.SigningMethodEdDSA, key.priv, nil),
		"j21-expired-forged": signEd(t, hdr, with(claims, "iat", unix(-time.Hour), "nbf", unix(-time.Hour),
			"exp", unix(-50*time.Minute)), fixedKey("stranger")),
	}
}

// testRand is an endless stream of a fixed byte for key generation in seeds.
type testRand struct{}

func (testRand) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 0x5a
	}
	return len(p), nil
}

// F1: Verify never panics, and accepts exactly the tokens this issuer minted.
func FuzzVerify(f *testing.F) {
	iss, key, minted := fuzzIssuer(f)
	valid := make(map[string]bool, len(minted))
	for _, raw := range minted {
		valid[raw] = true
		f.Add(raw)
	}
	for _, raw := range fuzzVectors(f, key, minted[0]) {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		claims, err := iss.Verify(raw, VerifyOptions{})
		switch {
		case err == nil && !valid[raw]:
			t.Fatalf("accepted a token the issuer never minted: %q", raw)
		case err == nil && claims.JTI == "":
			t.Fatalf("accepted without a jti")
		case err != nil && valid[raw]:
			t.Fatalf("rejected a minted token: %v", err)
		case err != nil && !errors.Is(err, ErrInvalidToken):
			t.Fatalf("error does not wrap ErrInvalidToken: %v", err)
		}
	})
}

// The J vectors fail for the reason their case names, not by accident.
func TestFuzzSeedsAreRejected(t *testing.T) {
	iss, key, minted := fuzzIssuer(t)
	for _, raw := range minted {
		if _, err := iss.Verify(raw, VerifyOptions{}); err != nil {
			t.Fatalf("minted seed rejected: %v", err)
		}
	}
	for name, raw := range fuzzVectors(t, key, minted[0]) {
		t.Run(name, func(t *testing.T) {
			if _, err := iss.Verify(raw, VerifyOptions{}); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("got %v, want rejection", err)
			}
		})
	}
}
