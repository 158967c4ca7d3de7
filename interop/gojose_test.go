package interop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"go.uber.org/goleak"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/latchkeyhq/latchkey/issuer"
)

// Reasons the go-jose resource server below refuses a token before go-jose
// itself gets to.
var (
	errKidNotPublished = errors.New("kid is not in the published JWKS")
	errTokenType       = errors.New("typ is not at+jwt")
	errKeyMismatch     = errors.New("published key is not a signing key for this alg")
	errNoExpiry        = errors.New("token has no exp")
)

// accessClaims are the RFC 9068 and RFC 8705 members go-jose's jwt.Claims
// does not cover.
type accessClaims struct {
	Scope    string `json:"scope"`
	ClientID string `json:"client_id"`
	Cnf      struct {
		X5TS256 string `json:"x5t#S256"`
	} `json:"cnf"`
}

// fetchKeySet does what a resource server does at start-up and on an unknown
// kid: read the discovery document, then the JWKS it points to, parsed by
// go-jose's own JWK code.
func fetchKeySet(t *testing.T, s *side) jose.JSONWebKeySet {
	t.Helper()
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	getJSON(t, s.client, s.baseURL+"/.well-known/openid-configuration", "application/json", &disc)
	if disc.Issuer != testIssuerURL || disc.JWKSURI != s.baseURL+"/.well-known/jwks.json" {
		t.Fatalf("discovery = %+v", disc)
	}
	var set jose.JSONWebKeySet
	getJSON(t, s.client, disc.JWKSURI, "application/jwk-set+json", &set)
	return set
}

func getJSON(t *testing.T, client *http.Client, url, wantType string, dst any) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != wantType {
		t.Fatalf("GET %s: %d %q", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if err := json.Unmarshal(body, dst); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// verifyGoJose is a resource server written against go-jose: the algorithm
// is pinned, the key comes from the JWKS by kid only, and iss, aud, exp and
// typ are checked. Leeway is zero so that expiry is tested to the second.
func verifyGoJose(raw, alg string, set jose.JSONWebKeySet, now time.Time) (jwt.Claims, accessClaims, error) {
	var std jwt.Claims
	var extra accessClaims
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
	if err != nil {
		return std, extra, err
	}
	h := tok.Headers[0]
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "at+jwt" {
		return std, extra, errTokenType
	}
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		return std, extra, errKidNotPublished
	}
	if keys[0].Algorithm != alg || keys[0].Use != "sig" {
		return std, extra, errKeyMismatch
	}
	if err := tok.Claims(keys[0], &std, &extra); err != nil {
		return std, extra, err
	}
	if std.Expiry == nil {
		return std, extra, errNoExpiry
	}
	expected := jwt.Expected{Issuer: testIssuerURL, AnyAudience: jwt.Audience{testAudience}, Time: now}
	return std, extra, std.ValidateWithLeeway(expected, 0)
}

func TestGoJoseVerifiesEveryAlgorithm(t *testing.T) {
	start := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	wantKeyType := map[string]string{
		issuer.AlgEdDSA: fmt.Sprintf("%T", ed25519.PublicKey(nil)),
		issuer.AlgES256: fmt.Sprintf("%T", &ecdsa.PublicKey{}),
		issuer.AlgRS256: fmt.Sprintf("%T", &rsa.PublicKey{}),
	}
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			s := startSide(t, alg, start)
			tok := s.mint(10 * time.Minute)
			set := fetchKeySet(t, s)

			if len(set.Keys) != 1 {
				t.Fatalf("JWKS has %d keys, want 1", len(set.Keys))
			}
			k := set.Keys[0]
			if !k.Valid() || !k.IsPublic() || k.KeyID != s.kidIn(issuer.KeyActive) || k.Algorithm != alg || k.Use != "sig" {
				t.Fatalf("published key: valid=%v public=%v kid=%q alg=%q use=%q", k.Valid(), k.IsPublic(), k.KeyID, k.Algorithm, k.Use)
			}
			if got := fmt.Sprintf("%T", k.Key); got != wantKeyType[alg] {
				t.Fatalf("go-jose parsed a %s, want %s", got, wantKeyType[alg])
			}
			// The kid is the RFC 7638 thumbprint; go-jose computes its own.
			thumb, err := k.Thumbprint(crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			if got := base64.RawURLEncoding.EncodeToString(thumb); got != k.KeyID {
				t.Fatalf("go-jose thumbprint %s, kid %s", got, k.KeyID)
			}

			std, extra, err := verifyGoJose(tok.Raw, alg, set, start.Add(time.Minute))
			if err != nil {
				t.Fatalf("go-jose rejected a fresh token: %v", err)
			}
			switch {
			case std.Issuer != testIssuerURL, std.Subject != testSubject, !slices.Equal(std.Audience, jwt.Audience{testAudience}),
				std.ID != tok.JTI, !std.Expiry.Time().Equal(tok.ExpiresAt), !std.IssuedAt.Time().Equal(tok.IssuedAt),
				!std.NotBefore.Time().Equal(tok.IssuedAt):
				t.Fatalf("registered claims = %+v, token %v", std, tok)
			case extra.Scope != testScope, extra.ClientID != testClientID, extra.Cnf.X5TS256 != testThumbprint:
				t.Fatalf("access claims = %+v", extra)
			}
		})
	}
}

// TestGoJoseAcrossRotation follows one rotation with an hourly period, a
// ten-minute publish lead and a retain of maxTTL+leeway. At every step a
// freshly fetched JWKS must verify each token that has not expired and refuse
// each one that has, for that reason and not for a missing key.
func TestGoJoseAcrossRotation(t *testing.T) {
	start := time.Date(2031, 3, 4, 5, 0, 0, 0, time.UTC)
	const ttl = 15 * time.Minute
	type step struct {
		name string
		at   time.Duration // since start
		// mint names a token to mint at this step, "" for none.
		mint string
		// published are the keys the JWKS must hold, by role: "old" is the
		// first key, "new" its successor.
		published []string
	}
	steps := []step{
		{"first key active", 0, "early", []string{"old"}},
		{"before rotation", 45 * time.Minute, "before", []string{"old"}},
		{"early token expired", 46 * time.Minute, "", []string{"old"}},
		{"next key published", 50 * time.Minute, "during", []string{"old", "new"}},
		{"just before switch", 59 * time.Minute, "", []string{"old", "new"}},
		{"new key active", 60*time.Minute + time.Second, "after", []string{"old", "new"}},
		{"old key retired, its last token live", 64 * time.Minute, "", []string{"old", "new"}},
		{"every old-key token expired", 66 * time.Minute, "", []string{"old", "new"}},
		{"old key removed", 77 * time.Minute, "", []string{"new"}},
	}
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			s := startSide(t, alg, start)
			kids := map[string]string{"old": s.kidIn(issuer.KeyActive)}
			minted := map[string]issuer.Token{}
			var order []string
			for _, st := range steps {
				now := start.Add(st.at)
				s.at(now)
				if kid := s.kidIn(issuer.KeyNext); kid != "" {
					kids["new"] = kid
				}
				if st.mint != "" {
					minted[st.mint] = s.mint(ttl)
					order = append(order, st.mint)
				}
				set := fetchKeySet(t, s)
				var got, want []string
				for _, k := range set.Keys {
					got = append(got, k.KeyID)
				}
				for _, role := range st.published {
					want = append(want, kids[role])
				}
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) || slices.Contains(want, "") {
					t.Fatalf("%s: JWKS kids %v, want %v (%v)", st.name, got, want, st.published)
				}
				for _, name := range order {
					tok := minted[name]
					_, _, err := verifyGoJose(tok.Raw, alg, set, now)
					live := now.Before(tok.ExpiresAt)
					switch {
					case live && err != nil:
						t.Errorf("%s: token %q (exp %s) refused: %v", st.name, name, tok.ExpiresAt.Sub(start), err)
					case !live && !errors.Is(err, jwt.ErrExpired) && !errors.Is(err, errKidNotPublished):
						t.Errorf("%s: expired token %q: err = %v, want expired", st.name, name, err)
					case !live && errors.Is(err, errKidNotPublished) && now.Before(tok.ExpiresAt.Add(testLeeway)):
						// Verifiers allow leeway past exp, so the key must outlive it.
						t.Errorf("%s: token %q lost its key only %s after expiry", st.name, name, now.Sub(tok.ExpiresAt))
					}
				}
			}
			if kids["new"] == "" || kids["new"] == kids["old"] {
				t.Fatalf("no rotation happened: %v", kids)
			}
			if len(minted) != 4 {
				t.Fatalf("minted %d tokens, want 4", len(minted))
			}
		})
	}
}

func TestGoJoseRejectsForgedTokens(t *testing.T) {
	start := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	want := map[string]func(error) bool{
		"tampered payload": func(err error) bool { return errors.Is(err, jose.ErrCryptoFailure) },
		"revoked kid":      func(err error) bool { return errors.Is(err, errKidNotPublished) },
		"unknown kid":      func(err error) bool { return errors.Is(err, errKidNotPublished) },
		"alg none": func(err error) bool {
			var unexpected *jose.ErrUnexpectedSignatureAlgorithm
			return errors.As(err, &unexpected) && unexpected.Got == "none"
		},
		"expired": func(err error) bool { return errors.Is(err, jwt.ErrExpired) },
	}
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			s := startSide(t, alg, start)
			forged := s.forgeries()
			control := s.mint(5 * time.Minute)
			set := fetchKeySet(t, s)
			if _, _, err := verifyGoJose(control.Raw, alg, set, start); err != nil {
				t.Fatalf("control token refused: %v", err)
			}
			if len(forged) != len(want) {
				t.Fatalf("%d forgeries, want %d", len(forged), len(want))
			}
			for _, f := range forged {
				t.Run(f.name, func(t *testing.T) {
					_, _, err := verifyGoJose(f.raw, alg, set, start)
					check, ok := want[f.name]
					if !ok {
						t.Fatalf("no expectation for %q", f.name)
					}
					if !check(err) {
						t.Fatalf("err = %v", err)
					}
				})
			}
		})
	}
}

// Every test starts an HTTPS server and clients with keep-alive connections;
// a goroutine left behind means one of them was not shut down.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
