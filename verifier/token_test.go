package verifier

import (
	"crypto/elliptic"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

// The header and claim rules Latchkey applies, on tokens signed by keys the
// test holds: each case names the one thing wrong and the reason expected.
func TestStrictRules(t *testing.T) {
	ed, es, rs := newTestKey(t, algEdDSA), newTestKey(t, algES256), newTestKey(t, algRS256)
	clk := &clock{t: t0}
	v := offlineVerifier(t, clk.Now, ed, es, rs)
	enc := base64.RawURLEncoding.EncodeToString
	valid := claimsJSON(t, nil)
	hdr := func(members string) string { return `{"alg":"EdDSA","typ":"at+jwt","kid":"kid-EdDSA"` + members + `}` }

	// A DER-encoded ES256 signature over a valid token.
	esInput := enc([]byte(es.header())) + "." + enc([]byte(valid))
	raw := es.rawSign(t, []byte(esInput))
	der, _ := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])})
	// (r, n-s) verifies too: ES256 is malleable, which is why revocation
	// keys on jti rather than on the token string.
	n := elliptic.P256().Params().N
	highS := append(append([]byte{}, raw[:32]...), new(big.Int).Sub(n, new(big.Int).SetBytes(raw[32:])).FillBytes(make([]byte, 32))...)

	cases := []struct {
		name  string
		token string
		want  error
	}{
		{"EdDSA", ed.sign(t, ed.header(), valid), nil},
		{"ES256", es.sign(t, es.header(), valid), nil},
		{"RS256", rs.sign(t, rs.header(), valid), nil},
		{"ES256 with s replaced by n-s", esInput + "." + enc(highS), nil},
		{"ES256 DER signature", esInput + "." + enc(der), errSignature},
		{"typ application/at+jwt in capitals", ed.sign(t, `{"alg":"EdDSA","typ":"application/AT+JWT","kid":"kid-EdDSA"}`, valid), nil},
		{"audience as a single string", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"aud": testAudience})), nil},
		{"no nbf", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"nbf": nil})), nil},

		{"alg of another key type", ed.sign(t, `{"alg":"ES256","typ":"at+jwt","kid":"kid-EdDSA"}`, valid), errAlgorithm},
		{"alg none", enc([]byte(`{"alg":"none","typ":"at+jwt","kid":"kid-EdDSA"}`)) + "." + enc([]byte(valid)) + ".c2ln", errAlgorithm},
		{"RS256 key named with HS256", rs.sign(t, `{"alg":"HS256","typ":"at+jwt","kid":"kid-RS256"}`, valid), errAlgorithm},
		{"jku", ed.sign(t, hdr(`,"jku":"https://evil.test/jwks"`), valid), errHeader},
		{"x5u", ed.sign(t, hdr(`,"x5u":"https://evil.test/c"`), valid), errHeader},
		{"jwk", ed.sign(t, hdr(`,"jwk":{"kty":"OKP"}`), valid), errHeader},
		{"x5c", ed.sign(t, hdr(`,"x5c":["AAAA"]`), valid), errHeader},
		{"crit", ed.sign(t, hdr(`,"crit":["exp"]`), valid), errHeader},
		{"unknown header member", ed.sign(t, hdr(`,"cty":"JWT"`), valid), errHeader},
		{"typ JWT", ed.sign(t, `{"alg":"EdDSA","typ":"JWT","kid":"kid-EdDSA"}`, valid), errHeader},
		{"typ with a Kelvin sign", ed.sign(t, "{\"alg\":\"EdDSA\",\"typ\":\"at+jw\u212a\",\"kid\":\"kid-EdDSA\"}", valid), errHeader},
		{"no typ", ed.sign(t, `{"alg":"EdDSA","kid":"kid-EdDSA"}`, valid), errHeader},
		{"no kid", ed.sign(t, `{"alg":"EdDSA","typ":"at+jwt"}`, valid), errHeader},
		{"kid a number", ed.sign(t, `{"alg":"EdDSA","typ":"at+jwt","kid":7}`, valid), errHeader},
		{"unknown kid", ed.sign(t, `{"alg":"EdDSA","typ":"at+jwt","kid":"other"}`, valid), errUnknownKey},
		{"duplicate header member", ed.sign(t, `{"alg":"EdDSA","typ":"at+jwt","kid":"kid-EdDSA","kid":"kid-ES256"}`, valid), errMalformed},
		{"header not an object", ed.sign(t, `["alg"]`, valid), errMalformed},
		{"padded header", enc([]byte(ed.header())) + "=." + strings.SplitN(ed.sign(t, ed.header(), valid), ".", 2)[1], errMalformed},
		{"four segments", ed.sign(t, ed.header(), valid) + ".x", errMalformed},
		// encoding/base64 skips line breaks, even in strict mode.
		{"line feed in the signature", func() string { s := ed.sign(t, ed.header(), valid); return s[:len(s)-8] + "\n" + s[len(s)-8:] }(), errMalformed},
		{"CR LF after the signature", ed.sign(t, ed.header(), valid) + "\r\n", errMalformed},
		{"empty signature", strings.TrimRight(ed.sign(t, ed.header(), valid), "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), errMalformed},
		{"signed by another key", es.sign(t, ed.header(), valid), errSignature},
		{"too large", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"sub": strings.Repeat("s", MaxTokenBytes)})), errTooLarge},

		{"duplicate claim", ed.sign(t, ed.header(), strings.Replace(valid, `"jti":"jti-1"`, `"jti":"jti-1","jti":"jti-2"`, 1)), errMalformed},
		{"invalid UTF-8", ed.sign(t, ed.header(), strings.Replace(valid, "orders-team", "orders-\xff", 1)), errMalformed},
		{"payload null", ed.sign(t, ed.header(), `null`), errMalformed},
		{"payload array", ed.sign(t, ed.header(), `[]`), errMalformed},
		{"payload number", ed.sign(t, ed.header(), `1`), errMalformed},
		{"trailing data", ed.sign(t, ed.header(), valid+`{}`), errMalformed},
		{"no jti", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"jti": nil})), errClaims},
		{"no sub", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"sub": nil})), errClaims},
		{"no client_id", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"client_id": nil})), errClaims},
		{"no iat", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"iat": nil})), errClaims},
		{"no exp", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"exp": nil})), errClaims},
		{"no iss", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"iss": nil})), errClaims},
		{"no aud", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"aud": nil})), errClaims},
		{"no cnf", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"cnf": nil})), errClaims},
		{"empty jti", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"jti": ""})), errClaims},
		{"empty audience list", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"aud": []string{}})), errClaims},
		{"unknown claim", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"admin": true})), errClaims},
		{"exp as a string", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"exp": "2000000000"})), errClaims},
		{"exp with a fraction", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"exp": 1.5e9 + 0.5})), errClaims},
		{"exp past year 9999", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"exp": int64(1e13)})), errClaims},
		{"sub null", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"sub": []int{}})), errClaims},
		{"cnf with another member", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"cnf": map[string]string{"x5t#S256": enc(make([]byte, 32)), "jkt": "x"}})), errClaims},
		{"cnf not a SHA-256", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"cnf": map[string]string{"x5t#S256": "abc"}})), errClaims},
		{"scope with two spaces", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"scope": "a  b"})), errClaims},
		{"lifetime over a day", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"exp": t0.Add(25 * time.Hour).Unix()})), errClaims},
		{"exp before iat", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"exp": t0.Add(-time.Second).Unix(), "iat": t0.Unix()})), errClaims},
		{"wrong issuer", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"iss": "https://evil.test"})), errIssuer},
		{"other audience", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"aud": []string{"billing-api"}})), errAudience},
		{"issued beyond leeway in the future", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"iat": t0.Add(31 * time.Second).Unix(), "nbf": nil})), errNotYetValid},
		{"issued within leeway in the future", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"iat": t0.Add(30 * time.Second).Unix(), "nbf": nil})), nil},
		{"nbf beyond leeway", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"nbf": t0.Add(31 * time.Second).Unix()})), errNotYetValid},
		{"expired beyond leeway", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"exp": t0.Add(-30 * time.Second).Unix(), "iat": t0.Add(-time.Minute).Unix()})), errExpired},
		{"expired within leeway", ed.sign(t, ed.header(), claimsJSON(t, map[string]any{"exp": t0.Add(-29 * time.Second).Unix(), "iat": t0.Add(-time.Minute).Unix()})), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(t.Context(), tc.token, nil)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
		})
	}
}

// A forged signature is reported as such even when the claims are also
// wrong: nothing in the payload is looked at before the signature.
func TestSignatureCheckedBeforeClaims(t *testing.T) {
	ed, other := newTestKey(t, algEdDSA), newTestKey(t, algEdDSA)
	clk := &clock{t: t0.Add(time.Hour)}
	v := offlineVerifier(t, clk.Now, ed)
	tok := other.sign(t, ed.header(), claimsJSON(t, map[string]any{"iss": "x"}))
	if _, err := v.Verify(t.Context(), tok, nil); !errors.Is(err, errSignature) {
		t.Fatalf("forged and expired: %v, want errSignature", err)
	}
}
