package verifier

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	"github.com/latchkeyhq/latchkey/server"
)

// After a signing-key rotation the first token with the new kid triggers one
// JWKS refetch and verifies; later tokens use the cache.
func TestRotationRefetchesJWKSOnce(t *testing.T) {
	l := startLatchkey(t)
	v, spy := l.newSpiedVerifier(nil)
	cert := l.leaves[idWorkloadA].Cert
	secret, _ := l.createKey()
	if n := spy.jwksFetches(); n != 1 {
		t.Fatalf("New fetched the JWKS %d times, want 1", n)
	}
	oldKID := l.keys.Issuer().JWKS()[0].Kid

	if _, err := l.signingAdmin().RotateSigningKey(testCtx(t), &adminv1.RotateSigningKeyRequest{}); err != nil {
		t.Fatal(err)
	}
	// Past the publish lead the new key signs.
	l.clock.Advance(61 * time.Minute)
	if err := l.keys.Tick(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	tok := l.exchange(secret).GetAccessToken()
	for i := range 3 {
		c, err := v.Verify(testCtx(t), tok, cert)
		if err != nil {
			t.Fatalf("Verify %d after rotation: %v", i, err)
		}
		if c.KID == oldKID {
			t.Fatalf("token still signed by the old key %s", oldKID)
		}
	}
	if n := spy.jwksFetches(); n != 2 {
		t.Fatalf("JWKS fetched %d times, want exactly one refetch", n)
	}
}

// forgedKID returns a well-formed token header naming kid, with a garbage
// signature: an unknown kid is refused before any signature work.
func forgedKID(kid string) string {
	hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA","typ":"at+jwt","kid":"` + kid + `"}`))
	return hdr + ".e30.c2ln"
}

// A flood of made-up kids from many goroutines costs at most one JWKS fetch
// per refetch interval.
func TestUnknownKidFloodIsRateLimited(t *testing.T) {
	l := startLatchkey(t)
	v, spy := l.newSpiedVerifier(nil)

	flood := func(round int) {
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 50 {
					_, err := v.Verify(testCtx(t), forgedKID(fmt.Sprintf("r%d-g%d-%d", round, g, i)), nil)
					if !errors.Is(err, errUnknownKey) {
						t.Errorf("unknown kid: %v", err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	steps := []struct {
		advance time.Duration
		want    int
	}{
		{0, 1},                                 // within 10 s of New's fetch: none
		{JWKSRefetchInterval, 2},               // one for the whole flood
		{JWKSRefetchInterval - time.Second, 2}, // interval not over yet
		{time.Second, 3},                       // over: one more
	}
	for i, s := range steps {
		l.clock.Advance(s.advance)
		flood(i)
		if n := spy.jwksFetches(); n != s.want {
			t.Fatalf("step %d: %d JWKS fetches, want %d", i, n, s.want)
		}
	}
}

// With JWKSURL the keys come from Latchkey's HTTPS side instead of GetJWKS.
func TestJWKSFromHTTPS(t *testing.T) {
	l := startLatchkey(t)
	h, err := server.NewHTTPHandler(server.HTTPConfig{Issuer: l.keys.Issuer, IssuerURL: testIssuer, BaseURL: "https://127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	hits := 0
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	v, spy := l.newSpiedVerifier(func(c *Config) {
		c.JWKSURL = ts.URL + server.JWKSPath
		c.HTTPClient = ts.Client()
	})
	secret, _ := l.createKey()
	if _, err := v.Verify(testCtx(t), l.exchange(secret).GetAccessToken(), l.leaves[idWorkloadA].Cert); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if hits != 1 || spy.jwksFetches() != 0 {
		t.Fatalf("HTTPS fetches %d, GetJWKS calls %d; want 1 and 0", hits, spy.jwksFetches())
	}
}

// Key documents that are not usable are skipped or refused; the algorithm
// always comes from the key type.
func TestParseJWK(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	x := base64.RawURLEncoding.EncodeToString(pub)
	// (1, 1) is not on P-256.
	one := base64.RawURLEncoding.EncodeToString(append(make([]byte, 31), 1))
	cases := []struct {
		name    string
		jwk     jwk
		wantAlg string
	}{
		{"ed25519", jwk{Kty: "OKP", Crv: "Ed25519", X: x, Kid: "a"}, algEdDSA},
		{"ed25519 with matching alg and use", jwk{Kty: "OKP", Crv: "Ed25519", X: x, Alg: "EdDSA", Use: "sig"}, algEdDSA},
		{"alg that does not fit the key", jwk{Kty: "OKP", Crv: "Ed25519", X: x, Alg: "RS256"}, ""},
		{"encryption key", jwk{Kty: "OKP", Crv: "Ed25519", X: x, Use: "enc"}, ""},
		{"short x", jwk{Kty: "OKP", Crv: "Ed25519", X: x[:20]}, ""},
		{"padded base64", jwk{Kty: "OKP", Crv: "Ed25519", X: base64.URLEncoding.EncodeToString(pub)}, ""},
		{"point off the curve", jwk{Kty: "EC", Crv: "P-256", X: one, Y: one}, ""},
		{"other curve", jwk{Kty: "EC", Crv: "P-384", X: one, Y: one}, ""},
		{"small RSA modulus", jwk{Kty: "RSA", N: base64.RawURLEncoding.EncodeToString(make([]byte, 128)), E: "AQAB"}, ""},
		{"symmetric key", jwk{Kty: "oct"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k, err := parseJWK(tc.jwk)
			if (err == nil) != (tc.wantAlg != "") || k.alg != tc.wantAlg {
				t.Fatalf("parseJWK: alg %q, err %v; want alg %q", k.alg, err, tc.wantAlg)
			}
		})
	}
	good := jwk{Kty: "OKP", Crv: "Ed25519", X: x, Kid: "a"}
	if _, err := buildKeySet([]jwk{good, good}); err == nil {
		t.Fatal("a JWKS repeating a kid must be refused")
	}
	if _, err := buildKeySet([]jwk{{Kty: "oct", Kid: "b"}}); !errors.Is(err, errNoUsableKey) {
		t.Fatalf("a JWKS without a usable key: %v", err)
	}
}
