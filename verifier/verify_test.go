package verifier

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func thumbprintOf(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// A token minted by a real Latchkey verifies with exactly the claims it was
// minted with.
func TestVerifyValidToken(t *testing.T) {
	l := startLatchkey(t)
	v := l.newVerifier(nil)
	secret, keyID := l.createKey()
	resp := l.exchange(secret, "orders.read")
	certA := l.leaves[idWorkloadA].Cert

	for _, peer := range []*x509.Certificate{certA, nil} {
		got, err := v.Verify(testCtx(t), resp.GetAccessToken(), peer)
		if err != nil {
			t.Fatalf("Verify(peer=%v): %v", peer != nil, err)
		}
		iat := resp.GetExpiresAt().AsTime().Add(-10 * time.Minute)
		want := Claims{
			Subject: "orders-team", ClientID: keyID, JTI: resp.GetJti(), KID: l.keys.Issuer().JWKS()[0].Kid,
			Issuer: testIssuer, Scopes: []string{"orders.read"}, Audience: resp.GetAudiences(),
			IssuedAt: iat, ExpiresAt: resp.GetExpiresAt().AsTime(), CertThumbprint: thumbprintOf(certA),
		}
		if got.Subject != want.Subject || got.ClientID != want.ClientID || got.JTI != want.JTI || got.KID != want.KID ||
			got.Issuer != want.Issuer || !slices.Equal(got.Scopes, want.Scopes) || !slices.Equal(got.Audience, want.Audience) ||
			!got.IssuedAt.Equal(want.IssuedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) || got.CertThumbprint != want.CertThumbprint {
			t.Fatalf("claims\n got %+v\nwant %+v", got, want)
		}
	}
}

// Each way a real token can be wrong for this resource server is refused
// with the reason named, and the error never quotes the token.
func TestVerifyRejects(t *testing.T) {
	l := startLatchkey(t)
	v := l.newVerifier(nil)
	other := l.newVerifier(func(c *Config) { c.Audience = "inventory-api" })
	wrongIss := l.newVerifier(func(c *Config) { c.Issuer = "https://elsewhere.test" })
	secret, _ := l.createKey()
	tok := l.exchange(secret).GetAccessToken()
	certA, certB := l.leaves[idWorkloadA].Cert, l.leaves[idWorkloadB].Cert

	hdr, rest, _ := strings.Cut(tok, ".")
	payload, sig, _ := strings.Cut(rest, ".")
	flipped := []byte(sig)
	flipped[3] = map[bool]byte{true: 'B', false: 'A'}[flipped[3] == 'A']

	cases := []struct {
		name    string
		v       *Verifier
		token   string
		peer    *x509.Certificate
		advance time.Duration
		want    error
	}{
		{"wrong audience", other, tok, certA, 0, errAudience},
		{"wrong issuer", wrongIss, tok, certA, 0, errIssuer},
		{"certificate of another workload", v, tok, certB, 0, errBinding},
		{"tampered signature", v, hdr + "." + payload + "." + string(flipped), certA, 0, errSignature},
		{"signature of another token's payload", v, hdr + "." + payload[:len(payload)-2] + "." + sig, certA, 0, ErrInvalid},
		{"two segments", v, hdr + "." + payload, certA, 0, errMalformed},
		{"empty", v, "", certA, 0, errMalformed},
		{"over the size cap", v, tok + strings.Repeat("A", MaxTokenBytes), certA, 0, errTooLarge},
		// Runs last: the clock moves past the default 10 minute lifetime
		// plus the 30 s leeway.
		{"within leeway after exp", v, tok, certA, 10*time.Minute + 29*time.Second, nil},
		{"expired", v, tok, certA, 2 * time.Second, errExpired},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l.clock.Advance(tc.advance)
			_, err := tc.v.Verify(testCtx(t), tc.token, tc.peer)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
			if err != nil && (!errors.Is(err, ErrInvalid) || strings.Contains(err.Error(), sig[:16])) {
				t.Fatalf("error %q must wrap ErrInvalid and not quote the token", err)
			}
		})
	}
}
