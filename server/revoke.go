package server

import (
	"context"
	"errors"
	"time"

	"github.com/latchkeyhq/latchkey/issuer"
	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/revocation"
	"github.com/latchkeyhq/latchkey/store"
)

// errNotYourToken refuses to revoke a token the caller does not hold.
var errNotYourToken = errors.New("the token was not issued to this caller")

// tokenRevoker turns revocation requests into durable revocation entries.
type tokenRevoker struct {
	issuer  func() *issuer.Issuer
	keys    store.KeyStore
	revoker *revocation.Revoker
	keyring SigningKeys
	policy  func() *policy.Policy
	now     func() time.Time
}

// revokeOwn revokes a token its holder presents (RFC 7009). A token that is
// not valid needs no revocation and gets the same OK; a valid token held by
// someone else is refused and stays active.
func (r *tokenRevoker) revokeOwn(ctx context.Context, caller Caller, raw string) error {
	claims, err := r.issuer().Verify(raw, issuer.VerifyOptions{})
	if err != nil {
		auditNote(ctx).Reason = "not a valid token"
		return nil
	}
	ev := auditNote(ctx)
	ev.KeyID, ev.JTI = claims.ClientID, claims.JTI
	if !r.holds(ctx, caller, claims) {
		return errNotYourToken
	}
	_, err = r.revoker.Revoke(ctx, store.Revocation{
		Kind: store.RevokeJTI, Value: claims.JTI, At: r.now(),
		ExpiresAt: claims.ExpiresAt.Add(r.policy().Tokens.Leeway),
		Actor:     caller.Identity, Reason: "revoked by its holder",
	})
	return err
}

// holds reports whether caller holds the token: it was issued to the
// caller's certificate, or its root key is bound to the caller's identity.
func (r *tokenRevoker) holds(ctx context.Context, caller Caller, c issuer.Claims) bool {
	if c.CertThumbprint != "" && c.CertThumbprint == caller.CertThumbprint {
		return true
	}
	rec, err := r.keys.GetKey(ctx, c.ClientID)
	if err != nil || len(rec.BoundIdentities) == 0 {
		return false
	}
	return boundTo(rec.BoundIdentities, caller.Identity)
}

// coverage is how long a revocation must be kept: until no token issued
// before `before` can still be valid.
func (r *tokenRevoker) coverage(before time.Time) time.Time {
	p := r.policy()
	return before.Add(p.Tokens.MaxTTL + p.Tokens.Leeway)
}

// revokeIssued revokes every token of a root key issued at or before before.
func (r *tokenRevoker) revokeIssued(ctx context.Context, actor, keyID string, before time.Time, reason string) (store.Revocation, error) {
	return r.revoker.Revoke(ctx, store.Revocation{
		Kind: store.RevokeKeyTokens, Value: keyID, Before: before, At: r.now(),
		ExpiresAt: r.coverage(before), Actor: actor, Reason: reason,
	})
}

// revokeTarget carries out an admin RevokeTokens request.
func (r *tokenRevoker) revokeTarget(ctx context.Context, actor string, kind store.RevocationKind, value string, before time.Time, reason string) (store.Revocation, error) {
	now := r.now()
	if before.IsZero() || before.After(now) {
		before = now
	}
	rev := store.Revocation{Kind: kind, Value: value, At: now, Actor: actor, Reason: reason}
	switch kind {
	case store.RevokeKeyTokens, store.RevokeSubjectTokens:
		rev.Before, rev.ExpiresAt = before, r.coverage(before)
	case store.RevokeJTI:
		rev.ExpiresAt = r.coverage(now)
	case store.RevokeSigningKeyTokens:
		// The keyring stops verifying and publishing the key; the entry
		// tells replicas and verifiers that hold the key already.
		if err := r.keyring.Revoke(ctx, value); err != nil && !errors.Is(err, issuer.ErrKeyState) {
			if errors.Is(err, issuer.ErrUnknownKey) {
				return store.Revocation{}, errNotFoundKID
			}
			return store.Revocation{}, err
		}
		rev.ExpiresAt = r.coverage(now)
	}
	return r.revoker.Revoke(ctx, rev)
}
