package server

import (
	"context"
	"errors"
	"time"

	"github.com/latchkeyhq/latchkey/audit"
	"github.com/latchkeyhq/latchkey/issuer"
	"github.com/latchkeyhq/latchkey/lifecycle"
	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/rootkey"
	"github.com/latchkeyhq/latchkey/store"
)

// Request shape limits, checked before any key lookup.
const (
	maxRequestScopes    = 100
	maxRequestAudiences = 100
	maxStringLen        = 256
	// maxExchangeBytes bounds a whole ExchangeToken request, well below the
	// transport cap: a root key, a hundred scopes and audiences fit easily.
	maxExchangeBytes = 16 << 10
)

// exchangeRequest is an ExchangeToken call in domain terms.
type exchangeRequest struct {
	rootKey   string
	scopes    []string
	audiences []string
	ttl       time.Duration
	caller    Caller
	// size is the encoded request size in bytes.
	size int
}

type exchangeResult struct {
	token issuer.Token
	keyID string
	grant policy.Grant
}

// exchanger turns a root key into a token: parse, look up, prove the secret,
// check state, expiry and binding, decide the grant, mint.
type exchanger struct {
	keys   store.KeyStore
	pepper rootkey.Pepper
	issuer func() *issuer.Issuer
	policy func() *policy.Policy
	usage  UsageTracker
	limits *limiters
	now    func() time.Time
	// dummyHash is verified against when a key id is unknown, so that an
	// unknown id costs the same HMAC as a wrong secret.
	dummyHash []byte
}

// exchange notes on ev what the audit trail needs: the key id once the
// key parses, the key's flags once it is found, and why it refused.
func (e *exchanger) exchange(ctx context.Context, req exchangeRequest, ev *audit.Event) (exchangeResult, error) {
	ev.Scopes = req.scopes
	if err := e.limits.exchangeAdmitted(req.caller.Identity); err != nil {
		ev.Reason = audit.ReasonRateLimited
		return exchangeResult{}, err
	}
	res, reason, err := e.run(ctx, req, ev)
	if err != nil {
		ev.Reason = reason
		switch reason {
		case audit.ReasonMalformedKey, audit.ReasonUnknownKey, audit.ReasonBadSecret:
			e.limits.authFailed(req.caller.Identity)
		}
		return exchangeResult{}, err
	}
	ev.JTI, ev.Scopes = res.token.JTI, res.grant.Scopes
	return res, nil
}

func (e *exchanger) run(ctx context.Context, req exchangeRequest, ev *audit.Event) (exchangeResult, string, error) {
	if err := validateShape(req.scopes, req.audiences, req.ttl); err != nil {
		return exchangeResult{}, audit.ReasonInvalidRequest, err
	}
	if req.size > maxExchangeBytes {
		return exchangeResult{}, audit.ReasonInvalidRequest, invalidArg("request too large (at most 16 KiB)")
	}
	key, err := rootkey.Parse(req.rootKey)
	if err != nil {
		return exchangeResult{}, audit.ReasonMalformedKey, errInvalidRootKey
	}
	ev.KeyID = key.ID()
	// The hot part of the record is all an exchange reads.
	rec, err := store.GetHotKey(ctx, e.keys, key.ID())
	if errors.Is(err, store.ErrNotFound) {
		e.pepper.Verify(key, e.dummyHash)
		return exchangeResult{}, audit.ReasonUnknownKey, errInvalidRootKey
	}
	if err != nil {
		return exchangeResult{}, audit.ReasonInternal, err
	}
	now := e.now()
	if !secretMatches(e.pepper, key, rec, now) {
		return exchangeResult{}, audit.ReasonBadSecret, errInvalidRootKey
	}
	pol := e.policy()
	ev.KeyFlags = keyFlags(rec, pol, now)
	if reason := unusableReason(rec.State, rec.ExpiresAt, now); reason != "" {
		return exchangeResult{}, reason, errInvalidRootKey
	}
	if !boundTo(rec.BoundIdentities, req.caller.Identity) {
		return exchangeResult{}, audit.ReasonNotBound, errNotBound
	}
	if err := e.limits.keyAllowed(rec); err != nil {
		return exchangeResult{}, audit.ReasonRateLimited, err
	}
	grant, err := pol.Decide(policy.GrantRequest{
		Scopes:       req.scopes,
		Audiences:    req.audiences,
		TTL:          req.ttl,
		KeyScopes:    rec.Scopes,
		KeyAudiences: rec.Audiences,
		KeyMaxTTL:    rec.MaxTTL,
	})
	if err != nil {
		return exchangeResult{}, audit.ReasonScopeDenied, err
	}
	// A token never outlives the key it derives from.
	if !rec.ExpiresAt.IsZero() {
		grant.TTL = min(grant.TTL, rec.ExpiresAt.Sub(now).Truncate(time.Second))
		if grant.TTL <= 0 {
			return exchangeResult{}, audit.ReasonKeyExpired, errInvalidRootKey
		}
	}
	tok, err := e.issuer().Mint(issuer.Grant{
		Subject:        rec.Owner,
		ClientID:       rec.ID,
		Audiences:      grant.Audiences,
		Scopes:         grant.Scopes,
		TTL:            grant.TTL,
		CertThumbprint: req.caller.CertThumbprint,
	})
	if err != nil {
		return exchangeResult{}, audit.ReasonInternal, err
	}
	if e.usage != nil {
		e.usage.Record(rec.ID, now)
	}
	return exchangeResult{token: tok, keyID: rec.ID, grant: grant}, "", nil
}

// unusableReason says why tokens may not be minted from a key, or "".
func unusableReason(state store.KeyState, expires, now time.Time) string {
	switch {
	case state == store.KeyStateRevoked:
		return audit.ReasonKeyRevoked
	case state == store.KeyStateDisabled:
		return audit.ReasonKeyDisabled
	case state != store.KeyStateActive:
		return audit.ReasonKeyRevoked
	case !expires.IsZero() && !now.Before(expires):
		return audit.ReasonKeyExpired
	}
	return ""
}

// secretMatches accepts the current secret, or during a rotation the
// previous one strictly before its grace deadline.
func secretMatches(p rootkey.Pepper, key rootkey.Key, rec store.KeyRecord, now time.Time) bool {
	if p.Verify(key, rec.SecretHash) {
		return true
	}
	return len(rec.PreviousSecretHash) > 0 && now.Before(rec.GraceDeadline) && p.Verify(key, rec.PreviousSecretHash)
}

func boundTo(patterns []string, identity string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if policy.MatchIdentity(p, identity) {
			return true
		}
	}
	return false
}

func validateShape(scopes, audiences []string, ttl time.Duration) error {
	if len(scopes) > maxRequestScopes {
		return invalidArg("too many scopes (at most 100)")
	}
	if len(audiences) > maxRequestAudiences {
		return invalidArg("too many audiences (at most 100)")
	}
	for _, s := range scopes {
		if s == "" || len(s) > maxStringLen {
			return invalidArg("scopes must be non-empty strings of at most 256 bytes")
		}
	}
	for _, a := range audiences {
		if a == "" || len(a) > maxStringLen {
			return invalidArg("audiences must be non-empty strings of at most 256 bytes")
		}
	}
	if ttl < 0 {
		return invalidArg("ttl must not be negative")
	}
	return nil
}

// keyFlags are the warnings a key carries when it is presented: revoked
// as leaked, attestation overdue, rotation due. The anomaly detector
// alerts on use of a flagged key.
func keyFlags(rec store.KeyRecord, p *policy.Policy, now time.Time) []string {
	var flags []string
	if rec.State == store.KeyStateRevoked && rec.RevocationReason == store.ReasonLeaked {
		flags = append(flags, audit.FlagLeaked)
	}
	rules := p.KeyRulesFor(rec.Owner)
	if due := lifecycle.AttestationDueAt(rec, rules); !due.IsZero() && !now.Before(due) {
		flags = append(flags, audit.FlagAttestationOverdue)
	}
	if due := lifecycle.RotationDueAt(rec, rules); !due.IsZero() && !now.Before(due) {
		flags = append(flags, audit.FlagRotationDue)
	}
	return flags
}
