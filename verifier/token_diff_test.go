package verifier

import (
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// errKind is the finest sentinel err wraps, for comparing two paths whose
// messages may differ only in which of several faults they name first.
func errKind(err error) error {
	if err == nil {
		return nil
	}
	for _, k := range []error{errTooLarge, errMalformed, errHeader, errUnknownKey, errAlgorithm,
		errSignature, errExpired, errNotYetValid, errClaims, errIssuer, errAudience} {
		if errors.Is(err, k) {
			return k
		}
	}
	return err
}

// Each header breaks at most one rule, so the reference's answer does not
// depend on map order and the message must match it exactly.
func TestParseHeaderAgainstReference(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	cases := []struct {
		name, seg string
		want      error
	}{
		{"valid", enc([]byte(`{"alg":"EdDSA","typ":"at+jwt","kid":"kid-1"}`)), nil},
		{"members reordered and spaced", enc([]byte(` { "kid" : "kid-1" , "typ":"application/AT+JWT","alg":"ES256" } `)), nil},
		{"escaped names and values", enc([]byte(`{"\u0061lg":"Ed\u0044SA","\u0074yp":"at\u002bjwt","kid":"kid\/1"}`)), nil},
		{"jku", enc([]byte(`{"alg":"EdDSA","typ":"at+jwt","kid":"k","jku":"https://x"}`)), errHeader},
		{"escaped jku", enc([]byte(`{"alg":"EdDSA","typ":"at+jwt","kid":"k","\u006aku":"https://x"}`)), errHeader},
		{"crit before x5u in the document", enc([]byte(`{"crit":[],"x5u":"u","alg":"EdDSA","typ":"at+jwt","kid":"k"}`)), errHeader},
		{"unknown member before a forbidden one", enc([]byte(`{"cty":"JWT","x5c":[],"alg":"EdDSA","typ":"at+jwt","kid":"k"}`)), errHeader},
		{"unknown member", enc([]byte(`{"cty":"JWT","alg":"EdDSA","typ":"at+jwt","kid":"k"}`)), errHeader},
		{"unknown member, typ also missing", enc([]byte(`{"cty":"JWT","alg":"EdDSA","kid":"k"}`)), errHeader},
		{"typ missing", enc([]byte(`{"alg":"EdDSA","kid":"k"}`)), errHeader},
		{"typ a number", enc([]byte(`{"alg":"EdDSA","typ":1,"kid":"k"}`)), errHeader},
		{"typ JWT", enc([]byte(`{"alg":"EdDSA","typ":"JWT","kid":"k"}`)), errHeader},
		{"typ with an escaped Kelvin sign", enc([]byte(`{"alg":"EdDSA","typ":"at+jw\u212a","kid":"k"}`)), errHeader},
		{"alg empty", enc([]byte(`{"alg":"","typ":"at+jwt","kid":"k"}`)), errHeader},
		{"alg null", enc([]byte(`{"alg":null,"typ":"at+jwt","kid":"k"}`)), errHeader},
		{"alg missing", enc([]byte(`{"typ":"at+jwt","kid":"k"}`)), errHeader},
		{"kid empty", enc([]byte(`{"alg":"EdDSA","typ":"at+jwt","kid":""}`)), errHeader},
		{"kid an array", enc([]byte(`{"alg":"EdDSA","typ":"at+jwt","kid":["k"]}`)), errHeader},
		{"duplicate kid", enc([]byte(`{"alg":"EdDSA","typ":"at+jwt","kid":"a","kid":"b"}`)), errMalformed},
		{"escaped duplicate kid", enc([]byte(`{"alg":"EdDSA","typ":"at+jwt","kid":"a","\u006bid":"b"}`)), errMalformed},
		{"duplicate inside a forbidden member", enc([]byte(`{"alg":"EdDSA","typ":"at+jwt","kid":"a","jwk":{"x":1,"x":2}}`)), errMalformed},
		{"an array", enc([]byte(`["alg"]`)), errMalformed},
		{"invalid UTF-8", enc([]byte("{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"\xff\"}")), errMalformed},
		{"padded base64", enc([]byte(`{"alg":"EdDSA","typ":"at+jwt","kid":"k"}`)) + "=", errMalformed},
		{"standard base64 alphabet", "+/" + enc([]byte(`{}`)), errMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseHeader(tc.seg)
			ref, refErr := parseHeaderReference(tc.seg)
			if errKind(err) != tc.want || errKind(refErr) != tc.want {
				t.Fatalf("parseHeader: %v, reference: %v, want %v", err, refErr, tc.want)
			}
			if err != nil && err.Error() != refErr.Error() {
				t.Fatalf("parseHeader: %q, reference: %q", err, refErr)
			}
			if got != ref {
				t.Fatalf("parseHeader = %+v, reference %+v", got, ref)
			}
		})
	}
}

func TestParsePayloadAgainstReference(t *testing.T) {
	valid := claimsJSON(t, nil)
	edit := func(edits map[string]any) string { return claimsJSON(t, edits) }
	replace := func(old, new string) string {
		if !strings.Contains(valid, old) {
			t.Fatalf("%q is not in %s", old, valid)
		}
		return strings.Replace(valid, old, new, 1)
	}
	thumb := base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	cases := []struct {
		name, in string
		want     error
	}{
		{"valid", valid, nil},
		{"audience as a string", edit(map[string]any{"aud": "orders-api"}), nil},
		{"two audiences", edit(map[string]any{"aud": []string{"a", "b"}}), nil},
		{"empty audience list", edit(map[string]any{"aud": []string{}}), nil},
		{"escapes in names and values", replace(`"iss":"https://latchkey.test"`, `"\u0069ss":"https:\/\/latchkey.test"`), nil},
		{"escaped cnf member", replace(`"x5t#S256"`, `"x5t\u0023S256"`), nil},
		{"escaped audience", replace(`["orders-api"]`, `[ "orders\u002dapi" ]`), nil},
		{"no nbf and no scope", edit(map[string]any{"nbf": nil, "scope": nil}), nil},
		{"exp zero", edit(map[string]any{"exp": 0}), nil},
		{"exp at the latest date", edit(map[string]any{"exp": int64(latestNumericDate)}), nil},
		{"no iss", edit(map[string]any{"iss": nil}), errClaims},
		{"no cnf", edit(map[string]any{"cnf": nil}), errClaims},
		{"no iss and no cnf", edit(map[string]any{"iss": nil, "cnf": nil}), errClaims},
		{"no client_id and an unknown claim", edit(map[string]any{"client_id": nil, "admin": true}), errClaims},
		{"unknown claim", edit(map[string]any{"admin": true}), errClaims},
		{"claim name in capitals", replace(`"jti"`, `"JTI"`), errClaims},
		{"scope a number", edit(map[string]any{"scope": 1}), errClaims},
		{"sub null", replace(`"sub":"orders-team"`, `"sub":null`), errClaims},
		{"exp a string", edit(map[string]any{"exp": "1935818289"}), errClaims},
		{"exp negative", edit(map[string]any{"exp": -1}), errClaims},
		{"iat -0", replace(`"iat":1935817689`, `"iat":-0`), errClaims},
		{"iat with an exponent", replace(`"iat":1935817689`, `"iat":1e5`), errClaims},
		{"iat with a fraction", replace(`"iat":1935817689`, `"iat":1935817689.0`), errClaims},
		{"exp past the latest date", edit(map[string]any{"exp": int64(latestNumericDate) + 1}), errClaims},
		{"exp of thirteen digits", edit(map[string]any{"exp": int64(1e12)}), errClaims},
		{"nbf null", replace(`"nbf":1935817689`, `"nbf":null`), errClaims},
		{"aud a number", edit(map[string]any{"aud": 7}), errClaims},
		{"aud holding a number", edit(map[string]any{"aud": []any{"orders-api", 7}}), errClaims},
		{"aud holding an array", edit(map[string]any{"aud": []any{[]string{"orders-api"}}}), errClaims},
		{"aud an object", edit(map[string]any{"aud": map[string]string{"a": "b"}}), errClaims},
		{"cnf a string", edit(map[string]any{"cnf": thumb}), errClaims},
		{"cnf empty", edit(map[string]any{"cnf": map[string]string{}}), errClaims},
		{"cnf with another member", edit(map[string]any{"cnf": map[string]string{"x5t#S256": thumb, "jkt": "x"}}), errClaims},
		{"cnf with another name", edit(map[string]any{"cnf": map[string]string{"x5t#s256": thumb}}), errClaims},
		{"cnf value a number", edit(map[string]any{"cnf": map[string]int{"x5t#S256": 1}}), errClaims},
		{"duplicate claim", replace(`"jti":"jti-1"`, `"jti":"jti-1","jti":"jti-2"`), errMalformed},
		{"escaped duplicate claim", replace(`"jti":"jti-1"`, `"jti":"jti-1","\u006a\u0074\u0069":"jti-2"`), errMalformed},
		{"duplicate in cnf", replace(`{"x5t#S256"`, `{"x5t#S256":"a","x5t#S256"`), errMalformed},
		{"invalid UTF-8", replace("orders-team", "orders-\xff"), errMalformed},
		{"trailing data", valid + `{}`, errMalformed},
		{"an array", `[]`, errMalformed},
		{"empty", ``, errMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePayload([]byte(tc.in))
			ref, refErr := parsePayloadReference([]byte(tc.in))
			if errKind(err) != tc.want || errKind(refErr) != tc.want {
				t.Fatalf("parsePayload: %v, reference: %v, want %v", err, refErr, tc.want)
			}
			if err != nil && err.Error() != refErr.Error() {
				t.Fatalf("parsePayload: %q, reference: %q", err, refErr)
			}
			if !reflect.DeepEqual(got, ref) {
				t.Fatalf("parsePayload = %+v, reference %+v", got, ref)
			}
		})
	}
}

// FuzzVerifyAgainstReference signs whatever header and payload it is given
// with an EdDSA or an ES256 key the verifier trusts, so that mutations reach
// the payload rules behind the signature, and holds the member walk to the
// reference parsers: the header, the payload and the whole token must get
// the same result and the same kind of error from both.
func FuzzVerifyAgainstReference(f *testing.F) {
	ed, es := fuzzKey(), newTestKey(f, algES256)
	f.Add(false, ed.header(), claimsJSON(f, nil))
	f.Add(true, es.header(), claimsJSON(f, nil))
	f.Add(false, ed.header(), claimsJSON(f, map[string]any{"aud": testAudience, "nbf": nil}))
	v := offlineVerifier(f, func() time.Time { return t0 }, ed, es)
	f.Fuzz(func(t *testing.T, es256 bool, header, payload string) {
		seg := base64.RawURLEncoding.EncodeToString([]byte(header))
		h, err := parseHeader(seg)
		refH, refErr := parseHeaderReference(seg)
		if h != refH || errKind(err) != errKind(refErr) {
			t.Fatalf("parseHeader(%q) = %+v, %v; reference %+v, %v", header, h, err, refH, refErr)
		}
		p, err := parsePayload([]byte(payload))
		refP, refErr := parsePayloadReference([]byte(payload))
		if !reflect.DeepEqual(p, refP) || errKind(err) != errKind(refErr) {
			t.Fatalf("parsePayload(%q) = %+v, %v; reference %+v, %v", payload, p, err, refP, refErr)
		}
		k := ed
		if es256 {
			k = es
		}
		tok := k.sign(t, header, payload)
		c, err := v.verifyLocal(t.Context(), tok)
		refC, refErr := v.verifyLocalReference(t.Context(), tok)
		if !reflect.DeepEqual(c, refC) || errKind(err) != errKind(refErr) {
			t.Fatalf("verifyLocal(%q) = %+v, %v; reference %+v, %v", tok, c, err, refC, refErr)
		}
	})
}
