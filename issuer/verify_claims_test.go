package issuer

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

type claimsCase struct {
	name   string
	claims map[string]any
	want   error
}

func runClaimsCases(t *testing.T, iss *Issuer, key *SigningKey, opts VerifyOptions, cases []claimsCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := iss.Verify(signEd(t, validHeader(key), tc.claims, key), opts)
			wantReason(t, err, tc.want)
		})
	}
}

func unix(d time.Duration) int64 { return testNow.Add(d).Unix() }

// J13
func TestVerifyIssuer(t *testing.T) {
	key := fixedKey("active")
	iss := newTestIssuer(t, testConfig(), key)
	runClaimsCases(t, iss, key, VerifyOptions{}, []claimsCase{
		{"ours", validClaims(), nil},
		{"wrong", with(validClaims(), "iss", "https://evil.test"), ErrClaims},
		{"case variant", with(validClaims(), "iss", "HTTPS://LATCHKEY.TEST"), ErrClaims},
		{"empty", with(validClaims(), "iss", ""), ErrClaims},
		{"missing", with(validClaims(), "iss", nil), ErrClaims},
		{"number", with(validClaims(), "iss", 1), ErrMalformed},
		{"array", with(validClaims(), "iss", []string{testIssuer}), ErrMalformed},
	})
}

// J14
func TestVerifyAudience(t *testing.T) {
	key := fixedKey("active")
	iss := newTestIssuer(t, testConfig(), key)
	runClaimsCases(t, iss, key, VerifyOptions{Audience: "svc"}, []claimsCase{
		{`"svc"`, with(validClaims(), "aud", "svc"), nil},
		{`["svc"]`, with(validClaims(), "aud", []string{"svc"}), nil},
		{`["x","svc"]`, with(validClaims(), "aud", []string{"x", "svc"}), nil},
		{`["x"]`, with(validClaims(), "aud", []string{"x"}), ErrClaims},
		{`["SVC"]`, with(validClaims(), "aud", []string{"SVC"}), ErrClaims},
		{`[]`, with(validClaims(), "aud", []string{}), ErrClaims},
		{`""`, with(validClaims(), "aud", ""), ErrClaims},
		{`[""]`, with(validClaims(), "aud", []string{""}), ErrClaims},
		{`["svc",""]`, with(validClaims(), "aud", []string{"svc", ""}), ErrClaims},
		{`[1]`, with(validClaims(), "aud", []any{1}), ErrMalformed},
		{`["svc",null]`, with(validClaims(), "aud", []any{"svc", nil}), ErrMalformed},
		{`null`, with(validClaims(), "aud", json.RawMessage("null")), ErrMalformed},
		{`1`, with(validClaims(), "aud", 1), ErrMalformed},
		{"missing", with(validClaims(), "aud", nil), ErrClaims},
	})
	t.Run("no audience requested still needs aud", func(t *testing.T) {
		runClaimsCases(t, iss, key, VerifyOptions{}, []claimsCase{
			{`["x"]`, with(validClaims(), "aud", []string{"x"}), nil},
			{"missing", with(validClaims(), "aud", nil), ErrClaims},
			{`[]`, with(validClaims(), "aud", []string{}), ErrClaims},
			{`[""]`, with(validClaims(), "aud", []string{""}), ErrClaims},
		})
	})
}

// J15
func TestVerifyExpiry(t *testing.T) {
	key := fixedKey("active")
	iss := newTestIssuer(t, testConfig(), key)
	past := with(validClaims(), "iat", unix(-10*time.Minute), "nbf", unix(-10*time.Minute))
	runClaimsCases(t, iss, key, VerifyOptions{}, []claimsCase{
		{"missing", with(validClaims(), "exp", nil), ErrClaims},
		// With the clock at now-leeway, exp must be strictly after it.
		{"exp at now minus leeway", with(past, "exp", unix(-DefaultLeeway)), ErrExpired},
		{"exp one second inside leeway", with(past, "exp", unix(-DefaultLeeway+time.Second)), nil},
		{"string", with(validClaims(), "exp", "123"), ErrMalformed},
		{"numeric string of a valid time", with(validClaims(), "exp", "1893553745"), ErrMalformed},
		{"1e19", with(validClaims(), "exp", json.RawMessage("1e19")), ErrMalformed},
		{"10000000000000000000", with(validClaims(), "exp", json.RawMessage("10000000000000000000")), ErrMalformed},
		{"year 10000", with(validClaims(), "exp", int64(253402300800)), ErrMalformed},
		{"fractional", with(validClaims(), "exp", json.RawMessage("1893553745.5")), ErrMalformed},
		{"negative", with(validClaims(), "exp", -1), ErrMalformed},
		{"null", with(validClaims(), "exp", json.RawMessage("null")), ErrMalformed},
		{"lifetime is max TTL", with(validClaims(), "exp", unix(testMaxTTL)), nil},
		{"lifetime over max TTL", with(validClaims(), "exp", unix(testMaxTTL+time.Second)), ErrClaims},
		{"exp equals iat", with(validClaims(), "iat", unix(-time.Second), "nbf", unix(-time.Second),
			"exp", unix(-time.Second)), ErrClaims},
		{"exp before iat", with(validClaims(), "exp", unix(-time.Second+DefaultLeeway), "iat", unix(DefaultLeeway),
			"nbf", unix(0)), ErrClaims},
	})
}

// J17: leeway applies equally to exp, nbf and iat, and no further.
func TestVerifyClockSkew(t *testing.T) {
	key := fixedKey("active")
	for _, leeway := range []time.Duration{DefaultLeeway, MaxLeeway} {
		cfg := testConfig()
		cfg.Leeway = leeway
		iss := newTestIssuer(t, cfg, key)
		in, out := leeway-time.Second, leeway+time.Second
		// issued sets iat and nbf together, with exp five minutes later.
		issued := func(at time.Duration) map[string]any {
			return with(validClaims(), "iat", unix(at), "nbf", unix(at), "exp", unix(at+5*time.Minute))
		}
		t.Run(leeway.String(), func(t *testing.T) {
			runClaimsCases(t, iss, key, VerifyOptions{}, []claimsCase{
				{"exp now-(leeway-1s)", with(issued(-10*time.Minute), "exp", unix(-in)), nil},
				{"exp now-(leeway+1s)", with(issued(-10*time.Minute), "exp", unix(-out)), ErrExpired},
				{"nbf now+(leeway-1s)", with(validClaims(), "nbf", unix(in)), nil},
				{"nbf now+leeway", with(validClaims(), "nbf", unix(leeway)), nil},
				{"nbf now+(leeway+1s)", with(validClaims(), "nbf", unix(out)), ErrNotYetValid},
				{"nbf now-(leeway+1s)", with(validClaims(), "nbf", unix(-out)), nil},
				{"iat now+(leeway-1s)", issued(in), nil},
				{"iat now+(leeway+1s)", issued(out), ErrNotYetValid},
				{"iat alone now+(leeway+1s)", with(issued(out), "nbf", nil), ErrNotYetValid},
				{"iat now-(leeway+1s)", issued(-out), nil},
			})
		})
	}
}

// J18: the issuer always writes every required claim, so a missing one means
// the token is not ours.
func TestVerifyRequiredClaims(t *testing.T) {
	key := fixedKey("active")
	iss := newTestIssuer(t, testConfig(), key)
	runClaimsCases(t, iss, key, VerifyOptions{}, []claimsCase{
		{"jti missing", with(validClaims(), "jti", nil), ErrClaims},
		{"jti empty", with(validClaims(), "jti", ""), ErrClaims},
		{"sub missing", with(validClaims(), "sub", nil), ErrClaims},
		{"sub empty", with(validClaims(), "sub", ""), ErrClaims},
		{"sub null", with(validClaims(), "sub", json.RawMessage("null")), ErrMalformed},
		{"client_id missing", with(validClaims(), "client_id", nil), ErrClaims},
		{"client_id empty", with(validClaims(), "client_id", ""), ErrClaims},
		{"iat missing", with(validClaims(), "iat", nil), ErrClaims},
		{"nbf missing", with(validClaims(), "nbf", nil), nil},
		{"cnf missing", with(validClaims(), "cnf", nil), ErrClaims},
		{"cnf thumbprint too short", with(validClaims(), "cnf", map[string]any{"x5t#S256": "abc"}), ErrClaims},
		{"cnf extra member", with(validClaims(), "cnf", map[string]any{"x5t#S256": testThumbprint, "jwk": 1}), ErrMalformed},
		{"cnf string", with(validClaims(), "cnf", testThumbprint), ErrMalformed},
		{"scope missing", with(validClaims(), "scope", nil), nil},
		{"scope array", with(validClaims(), "scope", []string{"read"}), ErrMalformed},
		{"scope number", with(validClaims(), "scope", 1), ErrMalformed},
		{"unknown claim", with(validClaims(), "act", map[string]any{"sub": "x"}), ErrClaims},
		{"case-variant claim", with(validClaims(), "SUB", "root"), ErrClaims},
	})
}

// J18: the payload must be one JSON object in valid UTF-8, each name once.
func TestVerifyPayloadShape(t *testing.T) {
	key := fixedKey("active")
	iss := newTestIssuer(t, testConfig(), key)
	body := string(mustJSON(t, with(validClaims(), "sub", nil)))
	body = body[:len(body)-1] // open object, sub still to come
	cases := []struct {
		name    string
		payload string
		want    error
	}{
		{"control", body + `,"sub":"team-payments"}`, nil},
		{"null", `null`, ErrMalformed},
		{"array", `[]`, ErrMalformed},
		{"number", `1`, ErrMalformed},
		{"string", `"x"`, ErrMalformed},
		{"empty", ``, ErrMalformed},
		{"invalid UTF-8 in value", body + ",\"sub\":\"team\xff\"}", ErrMalformed},
		{"invalid UTF-8 in name", body + ",\"sub\":\"team-payments\",\"\xfe\":1}", ErrMalformed},
		{"duplicate sub", body + `,"sub":"team-payments","sub":"root"}`, ErrMalformed},
		{"duplicate inside cnf", body + `,"sub":"team-payments","cnf":{"x5t#S256":"` + testThumbprint +
			`","x5t#S256":"` + testThumbprint + `"}}`, ErrMalformed},
		{"trailing object", body + `,"sub":"team-payments"}{}`, ErrMalformed},
		{"truncated", body, ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := signRaw(t, mustJSON(t, validHeader(key)), []byte(tc.payload), jwt.SigningMethodEdDSA, key.priv, nil)
			_, err := iss.Verify(raw, VerifyOptions{})
			wantReason(t, err, tc.want)
		})
	}
}

// J21: a token that is expired and badly signed fails as a forgery; the
// expiry is never even looked at.
func TestVerifyBadSignatureWinsOverExpiry(t *testing.T) {
	key := fixedKey("active")
	iss := newTestIssuer(t, testConfig(), key)
	expired := with(validClaims(), "iat", unix(-time.Hour), "nbf", unix(-time.Hour), "exp", unix(-50*time.Minute))
	flipped := signEd(t, validHeader(key), expired, key)
	flipped = flipped[:len(flipped)-10] + string(b64Alphabet[(indexB64(flipped[len(flipped)-10])+1)%64]) + flipped[len(flipped)-9:]
	cases := []struct {
		name string
		raw  string
	}{
		{"stranger's key", signEd(t, validHeader(key), expired, fixedKey("stranger"))},
		{"flipped signature byte", flipped},
		{"also wrong issuer", signEd(t, validHeader(key), with(expired, "iss", "x"), fixedKey("stranger"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := iss.Verify(tc.raw, VerifyOptions{Audience: "nobody"})
			wantReason(t, err, ErrSignature)
			if errors.Is(err, ErrExpired) || errors.Is(err, jwt.ErrTokenExpired) || errors.Is(err, ErrClaims) {
				t.Fatalf("a forged token must not be reported as expired or mis-claimed: %v", err)
			}
		})
	}
	t.Run("control: correctly signed and expired", func(t *testing.T) {
		_, err := iss.Verify(signEd(t, validHeader(key), expired, key), VerifyOptions{})
		wantReason(t, err, ErrExpired)
	})
}

func indexB64(c byte) int {
	for i := 0; i < len(b64Alphabet); i++ {
		if b64Alphabet[i] == c {
			return i
		}
	}
	return -1
}
