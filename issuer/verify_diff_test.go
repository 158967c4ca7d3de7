package issuer

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var updateDiffCorpus = flag.Bool("update-diff-corpus", false,
	"rewrite testdata/fuzz/FuzzVerifyDifferential from diffSeeds")

// errorKinds are the rejections a caller can tell apart, most specific first:
// errTooLarge wraps ErrMalformed and every reason wraps ErrInvalidToken.
var errorKinds = []error{
	errTooLarge, ErrMalformed, ErrHeader, ErrUnknownKey, ErrAlgorithm,
	ErrSignature, ErrExpired, ErrNotYetValid, ErrClaims, ErrInvalidToken,
}

// errorKind names the first of errorKinds that err wraps.
func errorKind(err error) string {
	if err == nil {
		return "accepted"
	}
	for _, k := range errorKinds {
		if errors.Is(err, k) {
			return k.Error()
		}
	}
	return "foreign error"
}

// diffKeys are the keys of the differential test: the verifying issuer knows
// ed, ec and rs; stranger signs forgeries.
type diffKeys struct {
	ed, ec, rs, stranger *SigningKey
}

// diffSetup returns an issuer that verifies EdDSA, ES256 and RS256 tokens and
// the keys behind it, all rebuilt identically on every run.
func diffSetup(t testing.TB) (*Issuer, diffKeys) {
	k := diffKeys{
		ed:       fixedKey("differential"),
		ec:       fixedECKey(t, "differential"),
		rs:       fixedRSAKey(t),
		stranger: fixedKey("stranger"),
	}
	iss := newTestIssuer(t, testConfig(), k.ed, k.ec, k.rs)
	iss.rand = &countingReader{}
	return iss, k
}

// Values of a fuzz input's resign byte, modulo resignModes: the signature
// segment is replaced by one made with the given key, so that mutated headers
// and payloads still reach the claim rules.
const (
	resignNone = iota
	resignEd
	resignEC
	resignStranger
	resignModes
)

// resign re-signs everything before raw's last dot according to mode.
func resign(t testing.TB, k diffKeys, raw string, mode byte) string {
	dot := strings.LastIndexByte(raw, '.')
	if dot < 0 {
		return raw
	}
	var (
		method jwt.SigningMethod
		priv   any
	)
	switch mode % resignModes {
	case resignEd:
		method, priv = jwt.SigningMethodEdDSA, k.ed.priv
	case resignEC:
		method, priv = jwt.SigningMethodES256, k.ec.priv
	case resignStranger:
		method, priv = jwt.SigningMethodEdDSA, k.stranger.priv
	default:
		return raw
	}
	sig, err := method.Sign(raw[:dot], priv)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return raw[:dot+1] + b64(sig)
}

type diffSeed struct {
	name   string
	raw    string
	aud    string
	resign byte
	// want is the errorKind both implementations must give.
	want error
}

// diffSeeds are valid tokens of every algorithm and one token for each way a
// token can be rejected, several of them breaking more than one rule so that
// which rule wins is compared too.
func diffSeeds(t testing.TB, iss *Issuer, k diffKeys) []diffSeed {
	mint := func(key *SigningKey, edit func(*Grant)) string {
		m := newTestIssuer(t, testConfig(), key)
		m.rand = &countingReader{}
		g := testGrant()
		edit(&g)
		tok, err := m.Mint(g)
		if err != nil {
			t.Fatal(err)
		}
		return tok.Raw
	}
	keep := func(*Grant) {}
	ed, ec, rs := mint(k.ed, keep), mint(k.ec, keep), mint(k.rs, keep)
	twoAud := mint(k.ed, func(g *Grant) { g.Audiences = []string{"billing", "svc"}; g.Scopes = nil })

	hdr, claims := validHeader(k.ed), validClaims()
	sign := func(h, c map[string]any) string { return signEd(t, h, c, k.ed) }
	// rawHdr signs an exact header text, for what a map cannot express:
	// member order, duplicates, escapes.
	rawHdr := func(h string) string {
		return signRaw(t, []byte(h), mustJSON(t, claims), jwt.SigningMethodEdDSA, k.ed.priv, nil)
	}
	rawPayload := func(p string) string {
		return signRaw(t, mustJSON(t, hdr), []byte(p), jwt.SigningMethodEdDSA, k.ed.priv, nil)
	}
	kid := k.ed.KID()
	expired := with(claims, "iat", unix(-time.Hour), "nbf", unix(-time.Hour), "exp", unix(-50*time.Minute))
	segs := strings.Split(ed, ".")

	return []diffSeed{
		{name: "eddsa", raw: ed},
		{name: "eddsa for svc", raw: ed, aud: "svc"},
		{name: "eddsa with two audiences for billing", raw: twoAud, aud: "billing"},
		{name: "es256", raw: ec, aud: "svc"},
		{name: "rs256", raw: rs, aud: "svc"},
		{name: "eddsa re-signed", raw: ed, resign: resignEd},
		{name: "es256 re-signed", raw: ec, resign: resignEC},
		{name: "wrong audience", raw: ed, aud: "nobody", want: ErrClaims},
		{name: "es256 wrong audience", raw: ec, aud: "nobody", want: ErrClaims},
		{name: "forged by a stranger", raw: ed, resign: resignStranger, want: ErrSignature},
		{name: "es256 header signed with eddsa", raw: ec, resign: resignEd, want: ErrSignature},
		{name: "signature with trailing bits", raw: segs[0] + "." + segs[1] + "." + flipTrailingBits(segs[2]), want: ErrMalformed},
		{name: "signature of another token", raw: segs[0] + "." + segs[1] + "." + strings.Split(twoAud, ".")[2], want: ErrSignature},
		{name: "expired", raw: sign(hdr, expired), want: ErrExpired},
		{name: "expired and forged", raw: signEd(t, hdr, expired, k.stranger), want: ErrSignature},
		{name: "expired and wrong audience", raw: sign(hdr, expired), aud: "nobody", want: ErrExpired},
		{name: "not yet valid", raw: sign(hdr, with(claims, "nbf", unix(DefaultLeeway+time.Second))), want: ErrNotYetValid},
		{name: "nbf within leeway", raw: sign(hdr, with(claims, "nbf", unix(DefaultLeeway)))},
		{name: "issued in the future", raw: sign(hdr, with(claims, "iat", unix(time.Minute), "nbf", nil,
			"exp", unix(5*time.Minute))), want: ErrNotYetValid},
		{name: "wrong issuer", raw: sign(hdr, with(claims, "iss", "https://evil.test")), want: ErrClaims},
		{name: "exp missing", raw: sign(hdr, with(claims, "exp", nil)), want: ErrClaims},
		{name: "jti missing", raw: sign(hdr, with(claims, "jti", nil)), want: ErrClaims},
		{name: "unknown claim", raw: sign(hdr, with(claims, "admin", true)), want: ErrClaims},
		{name: "lifetime over max", raw: sign(hdr, with(claims, "exp", unix(testMaxTTL+time.Second))), want: ErrClaims},
		{name: "aud empty array", raw: sign(hdr, with(claims, "aud", []string{})), aud: "svc", want: ErrClaims},
		{name: "aud single string", raw: sign(hdr, with(claims, "aud", "svc")), aud: "svc"},
		{name: "exp string", raw: sign(hdr, with(claims, "exp", "1")), want: ErrMalformed},
		{name: "payload duplicate", raw: rawPayload(`{"sub":"a","sub":"b"}`), want: ErrMalformed},
		{name: "payload array", raw: rawPayload(`[]`), want: ErrMalformed},
		{name: "typ JWT", raw: sign(with(hdr, "typ", "JWT"), claims), want: ErrHeader},
		{name: "typ missing", raw: sign(with(hdr, "typ", nil), claims), want: ErrHeader},
		{name: "typ number", raw: sign(with(hdr, "typ", 1), claims), want: ErrHeader},
		{name: "typ with media type prefix", raw: sign(with(hdr, "typ", "Application/AT+JWT"), claims)},
		{name: "jku", raw: sign(with(hdr, "jku", "http://127.0.0.1:1/jwks"), claims), want: ErrHeader},
		{name: "x5u", raw: sign(with(hdr, "x5u", "http://127.0.0.1:1/x5u"), claims), want: ErrHeader},
		{name: "jwk", raw: sign(with(hdr, "jwk", k.ed.PublicJWK()), claims), want: ErrHeader},
		{name: "x5c", raw: sign(with(hdr, "x5c", []string{"MII"}), claims), want: ErrHeader},
		{name: "crit", raw: sign(with(hdr, "crit", []string{"b64"}), claims), want: ErrHeader},
		{name: "cty", raw: sign(with(hdr, "cty", "JWT"), claims), want: ErrHeader},
		{name: "cty and jku", raw: sign(with(hdr, "cty", "JWT", "jku", "x"), claims), want: ErrHeader},
		{name: "typ wrong and jku", raw: sign(with(hdr, "typ", "JWT", "jku", "x"), claims), want: ErrHeader},
		{name: "x5c before jku", raw: rawHdr(`{"x5c":[],"alg":"EdDSA","typ":"at+jwt","kid":"` + kid + `","jku":"x"}`), want: ErrHeader},
		{name: "unexpected member and unknown kid", raw: sign(with(hdr, "cty", "JWT", "kid", "nope"), claims), want: ErrHeader},
		{name: "kid unknown", raw: sign(with(hdr, "kid", "nope"), claims), want: ErrUnknownKey},
		{name: "kid number", raw: sign(with(hdr, "kid", 7), claims), want: ErrUnknownKey},
		{name: "kid missing", raw: sign(with(hdr, "kid", nil), claims), want: ErrUnknownKey},
		{name: "kid unknown and alg none", raw: sign(with(hdr, "kid", "nope", "alg", "none"), claims), want: ErrUnknownKey},
		{name: "alg of another key", raw: sign(with(hdr, "alg", AlgES256), claims), want: ErrAlgorithm},
		{name: "alg none", raw: sign(with(hdr, "alg", "none"), claims), want: ErrAlgorithm},
		{name: "alg missing", raw: sign(with(hdr, "alg", nil), claims), want: ErrAlgorithm},
		{name: "header duplicate typ", raw: rawHdr(`{"alg":"EdDSA","typ":"JWT","typ":"at+jwt","kid":"` + kid + `"}`), want: ErrMalformed},
		{name: "header duplicate after jku", raw: rawHdr(`{"jku":"x","alg":"EdDSA","typ":"at+jwt","kid":"` + kid + `","kid":"x"}`), want: ErrMalformed},
		{name: "header escaped names", raw: rawHdr(`{"\u0061lg":"EdDSA","t\u0079p":"at\u002bjwt","kid":"` + kid + `"}`)},
		{name: "header escaped jku", raw: rawHdr(`{"alg":"EdDSA","typ":"at+jwt","kid":"` + kid + `","\u006aku":"x"}`), want: ErrHeader},
		{name: "header with spaces", raw: rawHdr(` { "alg" : "EdDSA" , "typ" : "at+jwt" , "kid" : "` + kid + `" } `)},
		{name: "header array", raw: rawHdr(`[]`), want: ErrMalformed},
		{name: "header bad UTF-8", raw: rawHdr("{\"alg\":\"EdDSA\",\"typ\":\"at+jwt\",\"kid\":\"\xff\"}"), want: ErrMalformed},
		{name: "four segments", raw: ed + "." + segs[2], want: ErrMalformed},
		{name: "empty payload segment", raw: segs[0] + ".." + segs[2], want: ErrMalformed},
		{name: "padded signature", raw: segs[0] + "." + segs[1] + "." + pad(segs[2]), want: ErrMalformed},
		{name: "standard base64 alphabet in payload", raw: segs[0] + ".+" + segs[1][1:] + "." + segs[2], want: ErrMalformed},
		{name: "oversize", raw: strings.Repeat("A", DefaultMaxTokenBytes+1), want: errTooLarge},
	}
}

// compareVerify runs Verify and the reference on one input and fails on any
// difference in outcome, claims or error kind. It returns the kind.
func compareVerify(t *testing.T, iss *Issuer, raw, aud string) string {
	t.Helper()
	opts := VerifyOptions{Audience: aud}
	got, gotErr := iss.Verify(raw, opts)
	want, wantErr := iss.verifyReference(raw, opts)
	if g, w := errorKind(gotErr), errorKind(wantErr); g != w {
		t.Fatalf("Verify: %v\nreference: %v", gotErr, wantErr)
	}
	// Only malformed payloads and signature segments are worded differently
	// from the parser; every other text must match too, which also pins
	// which header rule is reported first.
	if gotErr != nil && !errors.Is(gotErr, ErrMalformed) && gotErr.Error() != wantErr.Error() {
		t.Fatalf("error text differs:\n Verify    %v\n reference %v", gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("claims differ:\n Verify    %+v\n reference %+v", got, want)
	}
	if gotErr == nil {
		return errorKind(nil)
	}
	if !errors.Is(gotErr, ErrInvalidToken) {
		t.Fatalf("error does not wrap ErrInvalidToken: %v", gotErr)
	}
	// Segments this long cannot occur in the fixed error texts.
	msg := gotErr.Error()
	for _, seg := range strings.Split(raw, ".") {
		if len(seg) >= 16 && strings.Contains(msg, seg) {
			t.Fatalf("error quotes the token: %v", gotErr)
		}
	}
	return errorKind(gotErr)
}

func TestVerifyMatchesReference(t *testing.T) {
	iss, keys := diffSetup(t)
	for _, s := range diffSeeds(t, iss, keys) {
		t.Run(s.name, func(t *testing.T) {
			raw := resign(t, keys, s.raw, s.resign)
			if got, want := compareVerify(t, iss, raw, s.aud), errorKind(s.want); got != want {
				t.Fatalf("got %s, want %s", got, want)
			}
		})
	}
}

// The committed corpus holds every seed, so that plain go test replays them
// through the fuzz target as well.
func TestVerifyDifferentialCorpus(t *testing.T) {
	iss, keys := diffSetup(t)
	dir := filepath.Join("testdata", "fuzz", "FuzzVerifyDifferential")
	for _, s := range diffSeeds(t, iss, keys) {
		name := strings.ReplaceAll(s.name, " ", "-")
		path := filepath.Join(dir, name)
		if *updateDiffCorpus {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			body := fmt.Sprintf("go test fuzz v1\nstring(%q)\nstring(%q)\nbyte(%q)\n", s.raw, s.aud, s.resign)
			if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("seed %q is not in the corpus (run go test ./issuer -run TestVerifyDifferentialCorpus -args -update-diff-corpus): %v", s.name, err)
		}
	}
}

// FuzzVerifyDifferential holds Verify to the parser-based reference: on any
// token, audience and re-signing the two accept the same tokens, return the
// same claims and reject for the same reason.
func FuzzVerifyDifferential(f *testing.F) {
	iss, keys := diffSetup(f)
	for _, s := range diffSeeds(f, iss, keys) {
		f.Add(s.raw, s.aud, s.resign)
	}
	f.Fuzz(func(t *testing.T, raw, aud string, mode byte) {
		compareVerify(t, iss, resign(t, keys, raw, mode), aud)
	})
}
