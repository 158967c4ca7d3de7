package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"time"

	"github.com/latchkeyhq/latchkey/issuer"
	"github.com/latchkeyhq/latchkey/revocation"
	"github.com/latchkeyhq/latchkey/store"
)

// errInactive is every reason a token is not active; it is never shown.
var errInactive = errors.New("token is not active")

// introspector decides whether a token is active: strict verification, then
// the revocation list and the state of the root key it derives from. A store
// failure is an error, never "active": introspection fails closed.
type introspector struct {
	issuer  func() *issuer.Issuer
	keys    store.KeyStore
	revoked *revocation.View
	now     func() time.Time
	// verified, when set, spares a repeated token its signature check.
	verified *verifiedCache
}

func (in *introspector) introspect(ctx context.Context, raw string) (issuer.Claims, error) {
	now := in.now()
	claims, err := in.verify(raw, now)
	if err != nil {
		return issuer.Claims{}, errInactive
	}
	// The revocation list is answered from memory; it is updated before a
	// revocation is acknowledged.
	if in.revoked.Revoked(revocationClaims(claims)) {
		return issuer.Claims{}, errInactive
	}
	// Revoking, disabling or expiring a root key cascades to every token
	// minted from it: the key's state is checked on every introspection.
	state, expires, err := store.GetKeyStatus(ctx, in.keys, claims.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return issuer.Claims{}, errInactive
	}
	if err != nil {
		return issuer.Claims{}, err
	}
	if unusableReason(state, expires, now) != "" {
		return issuer.Claims{}, errInactive
	}
	return claims, nil
}

func revocationClaims(c issuer.Claims) revocation.Claims {
	return revocation.Claims{JTI: c.JTI, ClientID: c.ClientID, Subject: c.Subject, KID: c.KID, IssuedAt: c.IssuedAt}
}

// verify checks the token's signature and claims, or finds that it did
// under the current keyring and has not expired since.
func (in *introspector) verify(raw string, now time.Time) (issuer.Claims, error) {
	iss := in.issuer()
	if in.verified == nil {
		return iss.Verify(raw, issuer.VerifyOptions{})
	}
	sum := sha256.Sum256([]byte(raw))
	if claims, ok := in.verified.get(iss, sum, now); ok {
		return claims, nil
	}
	claims, err := iss.Verify(raw, issuer.VerifyOptions{})
	if err == nil {
		in.verified.put(iss, sum, claims)
	}
	return claims, err
}
