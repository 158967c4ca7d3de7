package server

import (
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	"github.com/latchkeyhq/latchkey/lifecycle"
	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/rootkey"
	"github.com/latchkeyhq/latchkey/store"
)

// withPendingUsage folds usage counted in memory but not yet written into
// rec, so the inventory is current.
func withPendingUsage(rec store.KeyRecord, u UsageTracker) store.KeyRecord {
	if u == nil {
		return rec
	}
	last, n := u.Pending(rec.ID)
	if last.After(rec.LastUsedAt) {
		rec.LastUsedAt = last
	}
	rec.UseCount += n
	return rec
}

// keyToProto maps a record to the inventory view, with the due dates the
// policy gives it. The secret hashes never leave this function.
func keyToProto(r store.KeyRecord, rules policy.KeyRules) *adminv1.Key {
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
		CreatedAt:        optTime(r.CreatedAt),
		ExpiresAt:        optTime(r.ExpiresAt),
		RevokedAt:        optTime(r.RevokedAt),
		CreatedBy:        r.CreatedBy,
		LastUsedAt:       optTime(r.LastUsedAt),
		UseCount:         r.UseCount,
		LastAttestedAt:   optTime(r.LastAttestedAt),
		RotatedAt:        optTime(r.RotatedAt),
		DisabledAt:       optTime(r.DisabledAt),
		DisabledReason:   r.DisabledReason,
		MaxTtl:           optDuration(r.MaxTTL),
		RotationPeriod:   optDuration(r.RotationPeriod),
	}
	if len(r.PreviousSecretHash) > 0 {
		k.GraceDeadline = optTime(r.GraceDeadline)
	}
	if r.RateLimit.Burst > 0 {
		k.RateLimit = &adminv1.RateLimit{PerSecond: r.RateLimit.PerSecond, Burst: uint32(r.RateLimit.Burst)}
	}
	if r.State == store.KeyStateActive || r.State == store.KeyStateDisabled {
		k.RotationDueAt = optTime(lifecycle.RotationDueAt(r, rules))
		k.AttestationDueAt = optTime(lifecycle.AttestationDueAt(r, rules))
	}
	if r.State == store.KeyStateActive {
		k.UnusedDisableAt = optTime(lifecycle.UnusedDisableAt(r, rules))
	}
	return k
}

func eventToProto(e store.KeyEvent) *adminv1.KeyEvent {
	return &adminv1.KeyEvent{Time: optTime(e.At), Action: e.Action, Actor: e.Actor, Reason: e.Reason, Detail: e.Detail}
}

func optTime(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func optDuration(d time.Duration) *durationpb.Duration {
	if d <= 0 {
		return nil
	}
	return durationpb.New(d)
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
