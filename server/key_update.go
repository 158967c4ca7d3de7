package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/store"
)

// keyUpdater sets one updatable field from the request onto the record.
type keyUpdater func(r *store.KeyRecord, k *adminv1.Key, pol *policy.Policy, now time.Time) error

var keyUpdaters = map[string]keyUpdater{
	"owner": func(r *store.KeyRecord, k *adminv1.Key, _ *policy.Policy, _ time.Time) error {
		r.Owner = k.GetOwner()
		return checkText("owner", r.Owner, 1, maxOwnerLen)
	},
	"description": func(r *store.KeyRecord, k *adminv1.Key, _ *policy.Policy, _ time.Time) error {
		r.Description = k.GetDescription()
		return checkText("description", r.Description, 0, maxDescriptionLen)
	},
	"labels": func(r *store.KeyRecord, k *adminv1.Key, _ *policy.Policy, _ time.Time) error {
		r.Labels = k.GetLabels()
		return checkLabels(r.Labels)
	},
	"scopes": func(r *store.KeyRecord, k *adminv1.Key, pol *policy.Policy, _ time.Time) (err error) {
		r.Scopes, err = keyScopes(k.GetScopes(), pol)
		return err
	},
	"audiences": func(r *store.KeyRecord, k *adminv1.Key, _ *policy.Policy, _ time.Time) (err error) {
		r.Audiences, err = keyAudiences(k.GetAudiences())
		return err
	},
	"bound_identities": func(r *store.KeyRecord, k *adminv1.Key, pol *policy.Policy, _ time.Time) (err error) {
		r.BoundIdentities, err = keyBindings(k.GetBoundIdentities(), pol.KeyRulesFor(r.Owner))
		return err
	},
	"max_ttl": func(r *store.KeyRecord, k *adminv1.Key, pol *policy.Policy, _ time.Time) (err error) {
		r.MaxTTL, err = keyMaxTTL(k.GetMaxTtl(), pol)
		return err
	},
	"expires_at": func(r *store.KeyRecord, k *adminv1.Key, pol *policy.Policy, now time.Time) (err error) {
		r.ExpiresAt, err = keyExpiry(k.GetExpiresAt(), nil, pol.KeyRulesFor(r.Owner), now)
		return err
	},
	"rotation_period": func(r *store.KeyRecord, k *adminv1.Key, _ *policy.Policy, _ time.Time) (err error) {
		r.RotationPeriod, err = keyRotationPeriod(k.GetRotationPeriod())
		return err
	},
	"rate_limit": func(r *store.KeyRecord, k *adminv1.Key, _ *policy.Policy, _ time.Time) (err error) {
		r.RateLimit, err = keyRateLimit(k.GetRateLimit())
		return err
	},
}

func (s *keyService) UpdateKey(ctx context.Context, req *adminv1.UpdateKeyRequest) (*adminv1.UpdateKeyResponse, error) {
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		return nil, toStatus(ctx, s.log, invalidArg("update_mask is required"))
	}
	for _, p := range paths {
		if keyUpdaters[p] == nil {
			return nil, toStatus(ctx, s.log, invalidArg(fmt.Sprintf("field %q cannot be updated", p)))
		}
	}
	var widened string
	k, err := s.mutate(ctx, req.GetKey().GetKeyId(), func(r *store.KeyRecord, now time.Time) (store.KeyEvent, error) {
		if err := requireLive(r, "update"); err != nil {
			return store.KeyEvent{}, err
		}
		before := r.Clone()
		pol := s.policy()
		for _, p := range paths {
			if err := keyUpdaters[p](r, req.GetKey(), pol, now); err != nil {
				return store.KeyEvent{}, err
			}
		}
		// Shrinking what a key may do needs no second look; widening is
		// recorded as its own event so reviews find it.
		if widened = widening(before, *r); widened != "" {
			r.AddEvent(store.KeyEvent{At: now, Action: "scopes_widened", Detail: widened})
		}
		return store.KeyEvent{Action: "updated", Detail: "fields: " + strings.Join(paths, ", ")}, nil
	})
	if err != nil {
		return nil, err
	}
	if widened != "" {
		s.log.WarnContext(ctx, "root key privileges widened", "key_id", k.GetKeyId(), "added", widened)
	}
	return &adminv1.UpdateKeyResponse{Key: k}, nil
}

// widening lists what after allows that before did not: scopes, audiences
// and bound identities. An unbound key already allows every identity.
func widening(before, after store.KeyRecord) string {
	var parts []string
	add := func(name string, old, cur []string) {
		var added []string
		for _, v := range cur {
			if !slices.Contains(old, v) {
				added = append(added, v)
			}
		}
		if len(added) > 0 {
			parts = append(parts, name+" +"+strings.Join(added, " +"))
		}
	}
	add("scopes", before.Scopes, after.Scopes)
	add("audiences", before.Audiences, after.Audiences)
	if len(before.BoundIdentities) > 0 {
		if len(after.BoundIdentities) == 0 {
			parts = append(parts, "bound_identities: now unbound")
		} else {
			add("bound_identities", before.BoundIdentities, after.BoundIdentities)
		}
	}
	return strings.Join(parts, "; ")
}
