package verifier

import (
	"errors"
	"slices"
	"testing"
	"time"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
)

// In ModeIntrospect every token goes to IntrospectToken: revocations apply at
// once, the audience and binding are still checked here, and an unreachable
// Latchkey is ErrStale even with FailOpen.
func TestIntrospectMode(t *testing.T) {
	l := startLatchkey(t)
	v, spy := l.newSpiedVerifier(func(c *Config) { c.Mode = ModeIntrospect; c.FailOpen = true })
	other := l.newVerifier(func(c *Config) { c.Mode = ModeIntrospect; c.Audience = "inventory-api" })
	secret, keyID := l.createKey()
	tok := l.exchange(secret, "orders.read")
	revoked := l.exchange(secret)
	certA, certB := l.leaves[idWorkloadA].Cert, l.leaves[idWorkloadB].Cert
	l.revokeTokens(&adminv1.RevokeTokensRequest{Target: &adminv1.RevokeTokensRequest_Jti{Jti: revoked.GetJti()}})

	c, err := v.Verify(testCtx(t), tok.GetAccessToken(), certA)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if c.ClientID != keyID || c.JTI != tok.GetJti() || !slices.Equal(c.Scopes, []string{"orders.read"}) ||
		c.KID != l.keys.Issuer().JWKS()[0].Kid || c.CertThumbprint != thumbprintOf(certA) ||
		!c.ExpiresAt.Equal(tok.GetExpiresAt().AsTime()) {
		t.Fatalf("claims %+v", c)
	}
	if spy.jwksFetches() != 0 || len(spy.watches()) != 0 {
		t.Fatal("introspection mode must neither fetch the JWKS nor watch revocations")
	}

	cases := []struct {
		name  string
		v     *Verifier
		token string
		want  error
	}{
		{"revoked", v, revoked.GetAccessToken(), errInactive},
		{"garbage", v, "a.b.c", ErrInvalid},
		{"wrong audience", other, tok.GetAccessToken(), errAudience},
		{"another certificate", v, tok.GetAccessToken(), errBinding},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			peer := certA
			if tc.name == "another certificate" {
				peer = certB
			}
			if _, err := tc.v.Verify(testCtx(t), tc.token, peer); !errors.Is(err, tc.want) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("latchkey unreachable", func(t *testing.T) {
		l.stop()
		l.clock.Advance(time.Hour)
		if _, err := v.Verify(testCtx(t), tok.GetAccessToken(), certA); !errors.Is(err, ErrStale) {
			t.Fatalf("Verify: %v, want ErrStale", err)
		}
	})
}
