package server

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/store"
)

const (
	maxOwnerLen       = 256
	maxDescriptionLen = 1024
	maxLabels         = 64
	maxBindings       = 100
)

// newKeyRecord validates a CreateKey request against the policy and returns
// the record to store (without id and hash).
func newKeyRecord(req *adminv1.CreateKeyRequest, pol *policy.Policy, now time.Time) (*store.KeyRecord, error) {
	if err := checkText("owner", req.GetOwner(), 1, maxOwnerLen); err != nil {
		return nil, err
	}
	rules := pol.KeyRulesFor(req.GetOwner())
	if err := checkText("description", req.GetDescription(), 0, maxDescriptionLen); err != nil {
		return nil, err
	}
	if err := checkLabels(req.GetLabels()); err != nil {
		return nil, err
	}
	scopes, err := keyScopes(req.GetScopes(), pol)
	if err != nil {
		return nil, err
	}
	audiences, err := keyAudiences(req.GetAudiences())
	if err != nil {
		return nil, err
	}
	bindings, err := keyBindings(req.GetBoundIdentities(), rules)
	if err != nil {
		return nil, err
	}
	maxTTL, err := keyMaxTTL(req.GetMaxTtl(), pol)
	if err != nil {
		return nil, err
	}
	expires, err := keyExpiry(req.GetExpiresAt(), req.GetLifetime(), rules, now)
	if err != nil {
		return nil, err
	}
	rotation, err := keyRotationPeriod(req.GetRotationPeriod())
	if err != nil {
		return nil, err
	}
	limit, err := keyRateLimit(req.GetRateLimit())
	if err != nil {
		return nil, err
	}
	return &store.KeyRecord{
		RotationPeriod:  rotation,
		RateLimit:       limit,
		Owner:           req.GetOwner(),
		Description:     req.GetDescription(),
		Labels:          req.GetLabels(),
		Scopes:          scopes,
		Audiences:       audiences,
		BoundIdentities: bindings,
		MaxTTL:          maxTTL,
		State:           store.KeyStateActive,
		CreatedAt:       now,
		ExpiresAt:       expires,
	}, nil
}

func checkText(field, s string, minLen, maxLen int) error {
	if len(s) < minLen {
		return invalidArg(field + " is required")
	}
	if len(s) > maxLen {
		return invalidArg(fmt.Sprintf("%s is longer than %d bytes", field, maxLen))
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return invalidArg(field + " contains control characters or invalid UTF-8")
		}
	}
	return nil
}

func checkLabels(labels map[string]string) error {
	if len(labels) > maxLabels {
		return invalidArg("at most 64 labels")
	}
	for k, v := range labels {
		if err := checkText("label name", k, 1, 63); err != nil {
			return err
		}
		if strings.ContainsRune(k, '=') {
			return invalidArg("label name must not contain '='")
		}
		if err := checkText("label value", v, 0, maxStringLen); err != nil {
			return err
		}
	}
	return nil
}

func keyAudiences(auds []string) ([]string, error) {
	if len(auds) == 0 {
		return nil, invalidArg("at least one audience is required")
	}
	if err := validateShape(nil, auds, 0); err != nil {
		return nil, err
	}
	return sortedUnique(auds), nil
}

func keyScopes(scopes []string, pol *policy.Policy) ([]string, error) {
	if len(scopes) == 0 {
		return nil, invalidArg("at least one scope is required")
	}
	if len(scopes) > maxRequestScopes {
		return nil, invalidArg("too many scopes (at most 100)")
	}
	for _, s := range scopes {
		if err := policy.ValidateScope(s); err != nil {
			return nil, invalidArg(fmt.Sprintf("invalid scope %q", s))
		}
		if !pol.KnownScope(s) {
			return nil, invalidArg(fmt.Sprintf("scope %q is not in the policy's scope catalog", s))
		}
	}
	return sortedUnique(scopes), nil
}

func keyBindings(ids []string, rules policy.KeyRules) ([]string, error) {
	if len(ids) > maxBindings {
		return nil, invalidArg("too many bound identities (at most 100)")
	}
	for _, p := range ids {
		if err := policy.ValidateIdentityPattern(p); err != nil {
			return nil, invalidArg(fmt.Sprintf("invalid bound identity %q", p))
		}
	}
	if len(ids) == 0 && rules.RequireBinding {
		return nil, invalidArg("the policy requires at least one bound identity")
	}
	return sortedUnique(ids), nil
}

func keyMaxTTL(d *durationpb.Duration, pol *policy.Policy) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	if err := d.CheckValid(); err != nil || d.AsDuration() <= 0 {
		return 0, invalidArg("max_ttl must be a positive duration")
	}
	if d.AsDuration() > pol.Tokens.MaxTTL {
		return 0, invalidArg(fmt.Sprintf("max_ttl exceeds the policy maximum of %s", pol.Tokens.MaxTTL))
	}
	return d.AsDuration(), nil
}

func keyExpiry(at *timestamppb.Timestamp, lifetime *durationpb.Duration, rules policy.KeyRules, now time.Time) (time.Time, error) {
	var expires time.Time
	switch {
	case at != nil && lifetime != nil:
		return time.Time{}, invalidArg("set expires_at or lifetime, not both")
	case at != nil:
		if err := at.CheckValid(); err != nil {
			return time.Time{}, invalidArg("expires_at is not a valid timestamp")
		}
		expires = at.AsTime()
		if !expires.After(now) {
			return time.Time{}, invalidArg("expires_at must be in the future")
		}
	case lifetime != nil:
		if err := lifetime.CheckValid(); err != nil || lifetime.AsDuration() <= 0 {
			return time.Time{}, invalidArg("lifetime must be a positive duration")
		}
		expires = now.Add(lifetime.AsDuration())
	}
	if limit := rules.MaxLifetime; limit > 0 {
		latest := now.Add(limit)
		if expires.IsZero() {
			return latest, nil
		}
		if expires.After(latest) {
			return time.Time{}, invalidArg(fmt.Sprintf("key lifetime exceeds the policy maximum of %s (keys.max_lifetime)", limit))
		}
	}
	return expires, nil
}

// maxRotationPeriod bounds a key's own rotation period.
const maxRotationPeriod = 10 * 365 * 24 * time.Hour

func keyRotationPeriod(d *durationpb.Duration) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	if err := d.CheckValid(); err != nil || d.AsDuration() < time.Second || d.AsDuration() > maxRotationPeriod {
		return 0, invalidArg("rotation_period must be between 1s and 10 years")
	}
	return d.AsDuration(), nil
}

func keyRateLimit(r *adminv1.RateLimit) (store.RateLimit, error) {
	if r == nil {
		return store.RateLimit{}, nil
	}
	if !(r.GetPerSecond() > 0 && r.GetPerSecond() <= 1e6) || r.GetBurst() < 1 || r.GetBurst() > 1e6 {
		return store.RateLimit{}, invalidArg("rate_limit needs per_second in (0, 1e6] and burst in [1, 1e6]")
	}
	return store.RateLimit{PerSecond: r.GetPerSecond(), Burst: int(r.GetBurst())}, nil
}

func sortedUnique(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}
