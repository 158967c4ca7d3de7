package issuer

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func decodeSegment(t *testing.T, seg string) map[string]json.RawMessage {
	t.Helper()
	b, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		t.Fatalf("segment is not canonical base64url: %v", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("segment is not a JSON object: %v", err)
	}
	return m
}

func TestMintVerifyRoundTrip(t *testing.T) {
	key := fixedKey("active")
	iss := newTestIssuer(t, testConfig(), key)
	g := testGrant()
	g.Audiences = []string{"svc", "other"}
	g.TTL = 5*time.Minute + 700*time.Millisecond // sub-second part is dropped
	tok, err := iss.Mint(g)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	got, err := iss.Verify(tok.Raw, VerifyOptions{Audience: "other"})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := Claims{
		Issuer:         testIssuer,
		Subject:        g.Subject,
		ClientID:       g.ClientID,
		JTI:            tok.JTI,
		Scope:          "read write",
		CertThumbprint: testThumbprint,
		Audience:       []string{"svc", "other"},
		IssuedAt:       testNow,
		NotBefore:      testNow,
		ExpiresAt:      testNow.Add(5 * time.Minute),
		KID:            iss.JWKS()[0].Kid,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("claims:\n got %+v\nwant %+v", got, want)
	}
	if !tok.IssuedAt.Equal(testNow) || !tok.ExpiresAt.Equal(testNow.Add(5*time.Minute)) {
		t.Fatalf("token times: iat %v exp %v", tok.IssuedAt, tok.ExpiresAt)
	}
	if n := len(tok.JTI); n != 22 {
		t.Fatalf("jti %q has %d characters, want 22 (128 bits)", tok.JTI, n)
	}
}

func TestMintWireFormat(t *testing.T) {
	key := fixedKey("active")
	iss := newTestIssuer(t, testConfig(), key)
	g := testGrant()
	g.Scopes = nil
	tok, err := iss.Mint(g)
	if err != nil {
		t.Fatal(err)
	}
	segs := strings.Split(tok.Raw, ".")
	if len(segs) != 3 {
		t.Fatalf("%d segments", len(segs))
	}
	t.Run("header is exactly alg, typ, kid", func(t *testing.T) {
		hdr := decodeSegment(t, segs[0])
		want := map[string]json.RawMessage{
			"alg": json.RawMessage(`"EdDSA"`),
			"typ": json.RawMessage(`"at+jwt"`),
			"kid": json.RawMessage(`"` + key.KID() + `"`),
		}
		if !reflect.DeepEqual(hdr, want) {
			t.Fatalf("header %s", mustJSON(t, hdr))
		}
	})
	t.Run("claims", func(t *testing.T) {
		p := decodeSegment(t, segs[1])
		want := map[string]string{
			"iss":       `"` + testIssuer + `"`,
			"sub":       `"team-payments"`,
			"aud":       `["svc"]`, // an array even with one member
			"iat":       fmt.Sprint(testNow.Unix()),
			"nbf":       fmt.Sprint(testNow.Unix()),
			"exp":       fmt.Sprint(testNow.Add(5 * time.Minute).Unix()),
			"jti":       `"` + tok.JTI + `"`,
			"client_id": `"k_0123456789ab"`,
			"cnf":       `{"x5t#S256":"` + testThumbprint + `"}`,
		}
		if len(p) != len(want) {
			t.Fatalf("payload has members %s, want exactly %v (no scope when none granted)", mustJSON(t, p), want)
		}
		for k, v := range want {
			if string(p[k]) != v {
				t.Errorf("%s = %s, want %s", k, p[k], v)
			}
		}
	})
}

func TestMintJTIUnique(t *testing.T) {
	iss := newTestIssuer(t, testConfig(), fixedKey("active"))
	const n = 10000
	seen := make(map[string]struct{}, n)
	for range n {
		tok, err := iss.Mint(testGrant())
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := seen[tok.JTI]; dup {
			t.Fatalf("jti %s repeated after %d mints", tok.JTI, len(seen))
		}
		seen[tok.JTI] = struct{}{}
	}
}

func TestMintRejectsBadGrant(t *testing.T) {
	iss := newTestIssuer(t, testConfig(), fixedKey("active"))
	edit := func(f func(*Grant)) Grant { g := testGrant(); f(&g); return g }
	cases := map[string]Grant{
		"TTL zero":              edit(func(g *Grant) { g.TTL = 0 }),
		"TTL negative":          edit(func(g *Grant) { g.TTL = -time.Minute }),
		"TTL under a second":    edit(func(g *Grant) { g.TTL = 999 * time.Millisecond }),
		"TTL over max":          edit(func(g *Grant) { g.TTL = testMaxTTL + time.Second }),
		"thumbprint empty":      edit(func(g *Grant) { g.CertThumbprint = "" }),
		"thumbprint not b64url": edit(func(g *Grant) { g.CertThumbprint = strings.Repeat("+", 43) }),
		"thumbprint padded":     edit(func(g *Grant) { g.CertThumbprint = testThumbprint + "=" }),
		"thumbprint SHA-1 size": edit(func(g *Grant) { g.CertThumbprint = b64(make([]byte, 20)) }),
		"subject empty":         edit(func(g *Grant) { g.Subject = "" }),
		"subject bad UTF-8":     edit(func(g *Grant) { g.Subject = "a\xff" }),
		"client id empty":       edit(func(g *Grant) { g.ClientID = "" }),
		"no audience":           edit(func(g *Grant) { g.Audiences = nil }),
		"empty audience":        edit(func(g *Grant) { g.Audiences = []string{"svc", ""} }),
		"scope with space":      edit(func(g *Grant) { g.Scopes = []string{"read write"} }),
		"scope empty":           edit(func(g *Grant) { g.Scopes = []string{""} }),
		"scope with quote":      edit(func(g *Grant) { g.Scopes = []string{`a"b`} }),
		"scope non-ASCII":       edit(func(g *Grant) { g.Scopes = []string{"lesen\u00e4"} }),
	}
	for name, g := range cases {
		t.Run(name, func(t *testing.T) {
			tok, err := iss.Mint(g)
			if !errors.Is(err, ErrInvalidGrant) {
				t.Fatalf("got %v, want ErrInvalidGrant", err)
			}
			if tok != (Token{}) {
				t.Fatalf("a token came back with the error: %v", tok)
			}
		})
	}
	t.Run("TTL equal to max is fine", func(t *testing.T) {
		if _, err := iss.Mint(edit(func(g *Grant) { g.TTL = testMaxTTL })); err != nil {
			t.Fatal(err)
		}
	})
}

func TestMintedTokenNotBeforeIssueTime(t *testing.T) {
	now := testNow
	cfg := testConfig()
	cfg.Now = func() time.Time { return now }
	iss := newTestIssuer(t, cfg, fixedKey("active"))
	tok, err := iss.Mint(testGrant())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		at   time.Time
		want error
	}{
		{"at issue", testNow, nil},
		{"one second before exp", tok.ExpiresAt.Add(-time.Second), nil},
		{"exp plus leeway", tok.ExpiresAt.Add(DefaultLeeway), ErrExpired},
		{"before iat beyond leeway", testNow.Add(-DefaultLeeway - time.Second), ErrNotYetValid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now = tc.at
			_, err := iss.Verify(tok.Raw, VerifyOptions{})
			wantReason(t, err, tc.want)
		})
	}
}

func TestTokenRedaction(t *testing.T) {
	iss := newTestIssuer(t, testConfig(), fixedKey("active"))
	tok, err := iss.Mint(testGrant())
	if err != nil {
		t.Fatal(err)
	}
	sig := tok.Raw[strings.LastIndexByte(tok.Raw, '.')+1:]
	outputs := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		outputs[verb] = fmt.Sprintf(verb, tok)
		outputs[verb+" pointer"] = fmt.Sprintf(verb, &tok)
		outputs[verb+" nested"] = fmt.Sprintf(verb, struct{ T Token }{tok})
	}
	outputs["String"] = tok.String()
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("minted", "token", tok)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("minted", "token", tok)
	outputs["slog"] = buf.String()
	for name, out := range outputs {
		t.Run(name, func(t *testing.T) {
			if strings.Contains(out, sig) || strings.Contains(out, tok.Raw[:20]) {
				t.Fatalf("output reveals the token: %s", out)
			}
			if !strings.Contains(out, redacted) {
				t.Fatalf("output lacks the placeholder: %s", out)
			}
		})
	}
	if !strings.Contains(outputs["slog"], tok.JTI) {
		t.Fatalf("log line should still carry the jti: %s", outputs["slog"])
	}
}

// Tokens are built in pooled scratch space and signed without golang-jwt
// for EdDSA: each signature is the one golang-jwt's method makes (EdDSA
// is deterministic) or verifies with it, and no token changes when later
// ones reuse the space.
func TestMintSignaturesAreGolangJWTs(t *testing.T) {
	for _, key := range []*SigningKey{fixedKey("sig"), fixedECKey(t, "sig")} {
		t.Run(key.Alg(), func(t *testing.T) {
			iss := newTestIssuer(t, testConfig(), key)
			method := jwt.GetSigningMethod(key.Alg())
			var toks, raws []string
			for n := range 50 {
				g := testGrant()
				g.Scopes = []string{strings.Repeat("s", n+1)} // tokens of varying length
				tok, err := iss.Mint(g)
				if err != nil {
					t.Fatal(err)
				}
				toks, raws = append(toks, tok.Raw), append(raws, strings.Clone(tok.Raw))
			}
			for n, raw := range toks {
				if raw != raws[n] {
					t.Fatalf("token %d changed after later mints", n)
				}
				dot := strings.LastIndexByte(raw, '.')
				sig, err := base64.RawURLEncoding.Strict().DecodeString(raw[dot+1:])
				if err != nil {
					t.Fatal(err)
				}
				if err := method.Verify(raw[:dot], sig, key.priv.Public()); err != nil {
					t.Fatalf("token %d: golang-jwt rejects the signature: %v", n, err)
				}
				if key.Alg() != "EdDSA" {
					continue
				}
				want, err := method.Sign(raw[:dot], key.priv)
				if err != nil || !bytes.Equal(sig, want) {
					t.Fatalf("token %d: signature differs from golang-jwt's (%v)", n, err)
				}
			}
		})
	}
}

// The scratch space a token is built in goes back to its pool without
// the token, a bearer secret.
func TestMintLeavesNoTokenInItsScratchSpace(t *testing.T) {
	iss := newTestIssuer(t, testConfig(), fixedKey("scratch"))
	for range 5 {
		tok, err := iss.Mint(testGrant())
		if err != nil {
			t.Fatal(err)
		}
		sig := tok.Raw[strings.LastIndexByte(tok.Raw, '.')+1:]
		b := claimsBuffers.Get().(*[]byte)
		used := (*b)[:cap(*b)]
		claimsBuffers.Put(b)
		if bytes.Contains(used, []byte(sig)) || bytes.Contains(used, []byte(tok.JTI)) {
			t.Fatal("the pooled scratch space still holds the token")
		}
	}
}
