package server

import (
	"crypto/sha256"
	"testing"
	"time"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	"github.com/latchkeyhq/latchkey/issuer"
)

// A token whose verification is cached still goes inactive the moment it
// is revoked, its key is disabled, its signing key is revoked, or it
// expires.
func TestVerifiedCacheNeverOutlivesARevocation(t *testing.T) {
	cases := map[string]func(e *env, tok, keyID, kid string){
		"token revoked by jti": func(e *env, tok, _, _ string) {
			jti := e.introspect(tok).GetJti()
			if _, err := e.admin().RevokeTokens(ctx(e.t), &adminv1.RevokeTokensRequest{
				Target: &adminv1.RevokeTokensRequest_Jti{Jti: jti}}); err != nil {
				e.t.Fatal(err)
			}
		},
		"root key disabled": func(e *env, _, keyID, _ string) {
			if _, err := e.admin().DisableKey(ctx(e.t), &adminv1.DisableKeyRequest{KeyId: keyID}); err != nil {
				e.t.Fatal(err)
			}
		},
		"signing key revoked": func(e *env, _, _, kid string) {
			if _, err := e.signingAdmin().RevokeSigningKey(ctx(e.t), &adminv1.RevokeSigningKeyRequest{Kid: kid}); err != nil {
				e.t.Fatal(err)
			}
		},
		"token expired": func(e *env, _, _, _ string) {
			e.clock.Advance(10*time.Minute + issuer.DefaultLeeway)
		},
	}
	for name, end := range cases {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			key, meta := e.createKey(&adminv1.CreateKeyRequest{})
			tok := e.exchange(key).GetAccessToken()
			other := e.exchange(key).GetAccessToken()
			for range 3 {
				if !e.introspect(tok).GetActive() {
					t.Fatal("a fresh token must be active")
				}
			}
			end(e, tok, meta.GetKeyId(), tokenKID(t, tok))
			if e.introspect(tok).GetActive() {
				t.Fatal("a cached token is still active after it ended")
			}
			// The other token was never cached. Revoking one jti spares
			// it; every other ending ends it too.
			if want := name == "token revoked by jti"; e.introspect(other).GetActive() != want {
				t.Fatalf("the uncached token's active = %v, want %v", !want, want)
			}
		})
	}
}

// One byte changed in a cached token is a different token: it is fully
// verified and refused.
func TestVerifiedCacheKeysOnTheWholeToken(t *testing.T) {
	e := newEnv(t)
	key, _ := e.createKey(&adminv1.CreateKeyRequest{})
	tok := e.exchange(key).GetAccessToken()
	if !e.introspect(tok).GetActive() {
		t.Fatal("fresh token inactive")
	}
	last := tok[len(tok)-1]
	forged := tok[:len(tok)-1] + string(map[bool]byte{true: 'A', false: 'B'}[last != 'A'])
	if e.introspect(forged).GetActive() {
		t.Fatal("a token differing from a cached one in its signature is active")
	}
}

func TestVerifiedCacheUnit(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	issA, issB := &issuer.Issuer{}, &issuer.Issuer{}
	claims := issuer.Claims{JTI: "j", ExpiresAt: now.Add(time.Minute)}
	sum := sha256.Sum256([]byte("token"))

	c := newVerifiedCache(4)
	if _, ok := c.get(issA, sum, now); ok {
		t.Fatal("hit in an empty cache")
	}
	c.put(issA, sum, claims)
	if got, ok := c.get(issA, sum, now); !ok || got.JTI != "j" {
		t.Fatalf("get = %v, %v; want the stored claims", got, ok)
	}
	if _, ok := c.get(issB, sum, now); ok {
		t.Fatal("an entry made under another keyring was used")
	}
	if _, ok := c.get(issA, sum, claims.ExpiresAt); ok {
		t.Fatal("an entry was used at its expiry")
	}

	// Bounded: at most two generations of 4.
	for i := range 20 {
		c.put(issA, sha256.Sum256([]byte{byte(i)}), claims)
		if n := c.len(); n > 8 {
			t.Fatalf("%d entries held, bound is 8", n)
		}
	}
	// A hit in the older generation moves the entry forward, so it
	// survives the next turnover.
	c = newVerifiedCache(2)
	c.put(issA, sum, claims)
	c.put(issA, sha256.Sum256([]byte("b")), claims)
	c.put(issA, sha256.Sum256([]byte("c")), claims) // sum now in the previous generation
	if _, ok := c.get(issA, sum, now); !ok {
		t.Fatal("entry in the previous generation missed")
	}
	c.put(issA, sha256.Sum256([]byte("d")), claims)
	c.put(issA, sha256.Sum256([]byte("e")), claims)
	if _, ok := c.get(issA, sum, now); !ok {
		t.Fatal("a recently used entry was dropped")
	}
}
