package policy

import (
	"fmt"
	"slices"
	"time"
)

// MaxRequestItems bounds the scopes, and separately the audiences, that one
// grant request may name.
const MaxRequestItems = 100

// GrantRequest is what a caller asked for and what its root key allows.
type GrantRequest struct {
	Scopes, Audiences       []string      // asked for; empty means everything the key allows
	TTL                     time.Duration // asked for; 0 means the policy default
	KeyScopes, KeyAudiences []string      // allowed by the key
	KeyMaxTTL               time.Duration // the key's cap; 0 means none
}

// Grant is what a token may carry. Scopes and Audiences are sorted, unique
// and never empty.
type Grant struct {
	Scopes, Audiences []string
	TTL               time.Duration
}

// Decide computes the grant for req. Every requested scope must be in the
// catalog and allowed by the key, and every requested audience allowed by the
// key; otherwise the result is an error naming the first offender, never a
// smaller grant. The TTL is min(asked or DefaultTTL, KeyMaxTTL if set, MaxTTL).
//
// Errors: ErrInvalidRequest (wrapped with detail), *ScopeNotAllowedError,
// *AudienceNotAllowedError, ErrKeyHasNoScopes, ErrKeyHasNoAudiences and
// ErrMisconfigured.
func (p *Policy) Decide(req GrantRequest) (Grant, error) {
	if p == nil {
		return Grant{}, fmt.Errorf("%w: no policy", ErrMisconfigured)
	}
	if req.TTL < 0 {
		return Grant{}, fmt.Errorf("%w: ttl must not be negative", ErrInvalidRequest)
	}
	if err := checkRequested("scopes", req.Scopes, ValidateScope); err != nil {
		return Grant{}, err
	}
	if err := checkRequested("audiences", req.Audiences, ValidateAudience); err != nil {
		return Grant{}, err
	}
	ttl, err := p.grantTTL(req.TTL, req.KeyMaxTTL)
	if err != nil {
		return Grant{}, err
	}

	// What the key allows is re-checked against today's policy: a scope
	// dropped from the catalog stops being granted, even to old keys.
	allowedScopes := keep(req.KeyScopes, p.KnownScope)
	if len(allowedScopes) == 0 {
		return Grant{}, ErrKeyHasNoScopes
	}
	allowedAudiences := keep(req.KeyAudiences, func(a string) bool { return ValidateAudience(a) == nil })
	if len(allowedAudiences) == 0 {
		return Grant{}, ErrKeyHasNoAudiences
	}

	scopes, bad := pick(req.Scopes, allowedScopes)
	if bad != "" {
		return Grant{}, &ScopeNotAllowedError{Scope: bad}
	}
	audiences, bad := pick(req.Audiences, allowedAudiences)
	if bad != "" {
		return Grant{}, &AudienceNotAllowedError{Audience: bad}
	}
	return Grant{Scopes: scopes, Audiences: audiences, TTL: ttl}, nil
}

func checkRequested(field string, values []string, validate func(string) error) error {
	if len(values) > MaxRequestItems {
		return fmt.Errorf("%w: more than %d %s", ErrInvalidRequest, MaxRequestItems, field)
	}
	for _, v := range values {
		if err := validate(v); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidRequest, err)
		}
	}
	return nil
}

func (p *Policy) grantTTL(asked, keyMax time.Duration) (time.Duration, error) {
	if keyMax < 0 {
		return 0, fmt.Errorf("%w: key max ttl is negative", ErrMisconfigured)
	}
	ttl := asked
	if ttl == 0 {
		ttl = p.Tokens.DefaultTTL
	}
	if keyMax > 0 {
		ttl = min(ttl, keyMax)
	}
	ttl = min(ttl, p.Tokens.MaxTTL)
	if ttl <= 0 {
		return 0, fmt.Errorf("%w: token ttl is not positive", ErrMisconfigured)
	}
	return ttl, nil
}

// keep returns the sorted, unique values for which ok holds.
func keep(values []string, ok func(string) bool) []string {
	out := make([]string, 0, len(values))
	for _, v := range values {
		if ok(v) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// pick returns the sorted, unique requested values, or all of allowed when
// nothing was requested. If a requested value is not in allowed (sorted), it
// returns that value as bad, checking in request order.
func pick(requested, allowed []string) (out []string, bad string) {
	if len(requested) == 0 {
		return slices.Clone(allowed), ""
	}
	for _, v := range requested {
		if _, found := slices.BinarySearch(allowed, v); !found {
			return nil, v
		}
	}
	out = slices.Clone(requested)
	slices.Sort(out)
	return slices.Compact(out), ""
}
