package server

import (
	"fmt"
	"slices"
	"time"
	"unicode"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/rootkey"
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
	if err := checkText("description", req.GetDescription(), 0, maxDescriptionLen); err != nil {
		return nil, err
	}
	if len(req.GetLabels()) > maxLabels {
		return nil, invalidArg("at most 64 labels")
	}
	for k, v := range req.GetLabels() {
		if err := checkText("label name", k, 1, 63); err != nil {
			return nil, err
		}
		if err := checkText("label value", v, 0, maxStringLen); err != nil {
			return nil, err
		}
	}
	scopes, err := keyScopes(req.GetScopes(), pol)
	if err != nil {
		return nil, err
	}
	if len(req.GetAudiences()) == 0 {
		return nil, invalidArg("at least one audience is required")
	}
	if err := validateShape(nil, req.GetAudiences(), 0); err != nil {
		return nil, err
	}
	bindings, err := keyBindings(req.GetBoundIdentities(), pol)
	if err != nil {
		return nil, err
	}
	maxTTL, err := keyMaxTTL(req.GetMaxTtl(), pol)
	if err != nil {
		return nil, err
	}
	expires, err := keyExpiry(req, pol, now)
	if err != nil {
		return nil, err
	}
	return &store.KeyRecord{
		Owner:           req.GetOwner(),
		Description:     req.GetDescription(),
		Labels:          req.GetLabels(),
		Scopes:          scopes,
		Audiences:       sortedUnique(req.GetAudiences()),
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

func keyBindings(ids []string, pol *policy.Policy) ([]string, error) {
	if len(ids) > maxBindings {
		return nil, invalidArg("too many bound identities (at most 100)")
	}
	for _, p := range ids {
		if err := policy.ValidateIdentityPattern(p); err != nil {
			return nil, invalidArg(fmt.Sprintf("invalid bound identity %q", p))
		}
	}
	if len(ids) == 0 && pol.Keys.RequireBinding {
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

func keyExpiry(req *adminv1.CreateKeyRequest, pol *policy.Policy, now time.Time) (time.Time, error) {
	var expires time.Time
	switch {
	case req.GetExpireTime() != nil && req.GetLifetime() != nil:
		return time.Time{}, invalidArg("set expire_time or lifetime, not both")
	case req.GetExpireTime() != nil:
		if err := req.GetExpireTime().CheckValid(); err != nil {
			return time.Time{}, invalidArg("expire_time is not a valid timestamp")
		}
		expires = req.GetExpireTime().AsTime()
		if !expires.After(now) {
			return time.Time{}, invalidArg("expire_time must be in the future")
		}
	case req.GetLifetime() != nil:
		if err := req.GetLifetime().CheckValid(); err != nil || req.GetLifetime().AsDuration() <= 0 {
			return time.Time{}, invalidArg("lifetime must be a positive duration")
		}
		expires = now.Add(req.GetLifetime().AsDuration())
	}
	if limit := pol.Keys.MaxLifetime; limit > 0 {
		latest := now.Add(limit)
		if expires.IsZero() {
			return latest, nil
		}
		if expires.After(latest) {
			return time.Time{}, invalidArg(fmt.Sprintf("key lifetime exceeds the policy maximum of %s", limit))
		}
	}
	return expires, nil
}

func sortedUnique(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}

func keyToProto(r *store.KeyRecord) *adminv1.Key {
	k := &adminv1.Key{
		KeyId:            r.ID,
		Prefix:           rootkey.Prefix + r.ID + "_",
		Owner:            r.Owner,
		Description:      r.Description,
		Labels:           r.Labels,
		Scopes:           r.Scopes,
		Audiences:        r.Audiences,
		BoundIdentities:  r.BoundIdentities,
		State:            stateToProto(r.State),
		RevocationReason: reasonToProto(r.RevocationReason),
		CreateTime:       optTime(r.CreatedAt),
		ExpireTime:       optTime(r.ExpiresAt),
		RevokeTime:       optTime(r.RevokedAt),
		CreatedBy:        r.CreatedBy,
	}
	if r.MaxTTL > 0 {
		k.MaxTtl = durationpb.New(r.MaxTTL)
	}
	return k
}

func optTime(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

var stateMap = map[store.KeyState]adminv1.KeyState{
	store.KeyStateActive:   adminv1.KeyState_KEY_STATE_ACTIVE,
	store.KeyStateDisabled: adminv1.KeyState_KEY_STATE_DISABLED,
	store.KeyStateRevoked:  adminv1.KeyState_KEY_STATE_REVOKED,
	store.KeyStateExpired:  adminv1.KeyState_KEY_STATE_EXPIRED,
}

var reasonMap = map[store.RevocationReason]adminv1.RevocationReason{
	store.ReasonCompromised:    adminv1.RevocationReason_REVOCATION_REASON_COMPROMISED,
	store.ReasonLeaked:         adminv1.RevocationReason_REVOCATION_REASON_LEAKED,
	store.ReasonDecommissioned: adminv1.RevocationReason_REVOCATION_REASON_DECOMMISSIONED,
	store.ReasonSuperseded:     adminv1.RevocationReason_REVOCATION_REASON_SUPERSEDED,
	store.ReasonOther:          adminv1.RevocationReason_REVOCATION_REASON_OTHER,
}

func stateToProto(s store.KeyState) adminv1.KeyState { return stateMap[s] }

func reasonToProto(r store.RevocationReason) adminv1.RevocationReason { return reasonMap[r] }

func stateFromProto(s adminv1.KeyState) (store.KeyState, error) {
	if s == adminv1.KeyState_KEY_STATE_UNSPECIFIED {
		return store.KeyStateUnspecified, nil
	}
	for k, v := range stateMap {
		if v == s {
			return k, nil
		}
	}
	return 0, invalidArg("unknown key state")
}

func reasonFromProto(r adminv1.RevocationReason) (store.RevocationReason, error) {
	for k, v := range reasonMap {
		if v == r {
			return k, nil
		}
	}
	return 0, invalidArg("reason is required: compromised, leaked, decommissioned, superseded or other")
}
