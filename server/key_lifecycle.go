package server

import (
	"context"
	"fmt"
	"time"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/rootkey"
	"github.com/latchkeyhq/latchkey/store"
)

const maxNoteLen = 1024

// mutate applies change to one key in a single store transaction, as the
// calling admin, and returns the updated inventory view. change sees the
// current record and the time, and returns the event to record (or a zero
// event to record nothing, e.g. for an idempotent repeat).
func (s *keyService) mutate(ctx context.Context, id string,
	change func(r *store.KeyRecord, now time.Time) (store.KeyEvent, error)) (*adminv1.Key, error) {
	if !rootkey.ValidID(id) {
		return nil, toStatus(ctx, s.log, invalidArg("key_id must be 12 base62 characters"))
	}
	caller, _ := CallerFromContext(ctx)
	now := s.now()
	rec, err := s.keys.UpdateKey(ctx, id, func(r *store.KeyRecord) error {
		ev, err := change(r, now)
		if err != nil {
			return err
		}
		if ev.Action != "" {
			ev.At, ev.Actor = now, caller.Identity
			r.AddEvent(ev)
		}
		return nil
	})
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return s.view(rec), nil
}

// requireLive refuses changes to keys that are gone for good.
func requireLive(r *store.KeyRecord, what string) error {
	if r.State == store.KeyStateRevoked || r.State == store.KeyStateExpired {
		return precondition(fmt.Sprintf("cannot %s a %s key", what, r.State))
	}
	return nil
}

func (s *keyService) RevokeKey(ctx context.Context, req *adminv1.RevokeKeyRequest) (*adminv1.RevokeKeyResponse, error) {
	reason, err := reasonFromProto(req.GetReason())
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	auditNote(ctx).Reason = reason.String()
	k, err := s.mutate(ctx, req.GetKeyId(), func(r *store.KeyRecord, now time.Time) (store.KeyEvent, error) {
		if r.State == store.KeyStateRevoked {
			return store.KeyEvent{}, nil // the first revocation's reason and time stand
		}
		r.State, r.RevocationReason, r.RevokedAt = store.KeyStateRevoked, reason, now
		r.PreviousSecretHash, r.GraceDeadline = nil, time.Time{}
		return store.KeyEvent{Action: "revoked", Reason: reason.String()}, nil
	})
	if err != nil {
		return nil, err
	}
	// The key's state already makes its tokens inactive here; the entry
	// carries the cascade to watchers and replicas.
	caller, _ := CallerFromContext(ctx)
	if _, err := s.revoker.revokeIssued(ctx, caller.Identity, k.GetKeyId(), k.GetRevokedAt().AsTime(), "key revoked: "+reason.String()); err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	s.log.InfoContext(ctx, "root key revoked", "key_id", k.GetKeyId(), "reason", reason.String())
	return &adminv1.RevokeKeyResponse{Key: k}, nil
}

func (s *keyService) RotateKey(ctx context.Context, req *adminv1.RotateKeyRequest) (*adminv1.RotateKeyResponse, error) {
	var next rootkey.Key
	k, err := s.mutate(ctx, req.GetKeyId(), func(r *store.KeyRecord, now time.Time) (store.KeyEvent, error) {
		if err := requireLive(r, "rotate"); err != nil {
			return store.KeyEvent{}, err
		}
		grace, err := rotationGrace(req, s.policy().KeyRulesFor(r.Owner))
		if err != nil {
			return store.KeyEvent{}, err
		}
		if next, err = rootkey.GenerateFor(r.ID); err != nil {
			return store.KeyEvent{}, err
		}
		// A secret still in an earlier grace period stops now: at most two
		// secrets work at any time.
		r.PreviousSecretHash, r.GraceDeadline = r.SecretHash, now.Add(grace)
		if grace == 0 {
			r.PreviousSecretHash, r.GraceDeadline = nil, time.Time{}
		}
		r.SecretHash, r.RotatedAt = s.pepper.Hash(next), now
		return store.KeyEvent{Action: "rotated", Detail: "old secret works for " + grace.String()}, nil
	})
	if err != nil {
		return nil, err
	}
	if req.GetRevokeIssued() {
		caller, _ := CallerFromContext(ctx)
		if _, err := s.revoker.revokeIssued(ctx, caller.Identity, k.GetKeyId(), k.GetRotatedAt().AsTime(), "rotated with revoke_issued"); err != nil {
			return nil, toStatus(ctx, s.log, err)
		}
	}
	s.log.InfoContext(ctx, "root key rotated", "key_id", k.GetKeyId())
	return &adminv1.RotateKeyResponse{Key: k, RootKey: next.Reveal()}, nil
}

func rotationGrace(req *adminv1.RotateKeyRequest, rules policy.KeyRules) (time.Duration, error) {
	g := req.GetGrace()
	if g == nil {
		return rules.DefaultRotationGrace, nil
	}
	if err := g.CheckValid(); err != nil || g.AsDuration() < 0 {
		return 0, invalidArg("grace must be a non-negative duration")
	}
	if g.AsDuration() > rules.MaxRotationGrace {
		return 0, invalidArg(fmt.Sprintf("grace exceeds the policy maximum of %s (keys.max_rotation_grace)", rules.MaxRotationGrace))
	}
	return g.AsDuration(), nil
}

func (s *keyService) DisableKey(ctx context.Context, req *adminv1.DisableKeyRequest) (*adminv1.DisableKeyResponse, error) {
	reason := req.GetReason()
	if reason == "" {
		reason = "manual"
	}
	if err := checkText("reason", reason, 1, maxNoteLen); err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	auditNote(ctx).Reason = reason
	k, err := s.mutate(ctx, req.GetKeyId(), func(r *store.KeyRecord, now time.Time) (store.KeyEvent, error) {
		if err := requireLive(r, "disable"); err != nil {
			return store.KeyEvent{}, err
		}
		if r.State == store.KeyStateDisabled {
			return store.KeyEvent{}, nil
		}
		r.State, r.DisabledAt, r.DisabledReason = store.KeyStateDisabled, now, reason
		return store.KeyEvent{Action: "disabled", Reason: reason}, nil
	})
	if err != nil {
		return nil, err
	}
	// Quarantine ends every token issued so far, for verifiers holding a
	// replica too; enabling the key again lets it mint new ones only.
	caller, _ := CallerFromContext(ctx)
	if _, err := s.revoker.revokeIssued(ctx, caller.Identity, k.GetKeyId(), k.GetDisabledAt().AsTime(), "key disabled: "+reason); err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &adminv1.DisableKeyResponse{Key: k}, nil
}

func (s *keyService) EnableKey(ctx context.Context, req *adminv1.EnableKeyRequest) (*adminv1.EnableKeyResponse, error) {
	k, err := s.mutate(ctx, req.GetKeyId(), func(r *store.KeyRecord, now time.Time) (store.KeyEvent, error) {
		if err := requireLive(r, "enable"); err != nil {
			return store.KeyEvent{}, err
		}
		if r.State == store.KeyStateActive {
			return store.KeyEvent{}, nil
		}
		r.State, r.EnabledAt, r.DisabledAt, r.DisabledReason = store.KeyStateActive, now, time.Time{}, ""
		return store.KeyEvent{Action: "enabled"}, nil
	})
	if err != nil {
		return nil, err
	}
	return &adminv1.EnableKeyResponse{Key: k}, nil
}

func (s *keyService) AttestKey(ctx context.Context, req *adminv1.AttestKeyRequest) (*adminv1.AttestKeyResponse, error) {
	if err := checkText("note", req.GetNote(), 0, maxNoteLen); err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	k, err := s.mutate(ctx, req.GetKeyId(), func(r *store.KeyRecord, now time.Time) (store.KeyEvent, error) {
		if r.State == store.KeyStateRevoked {
			return store.KeyEvent{}, precondition("cannot attest a revoked key")
		}
		r.LastAttestedAt = now
		return store.KeyEvent{Action: "attested", Detail: req.GetNote()}, nil
	})
	if err != nil {
		return nil, err
	}
	return &adminv1.AttestKeyResponse{Key: k}, nil
}

func (s *keyService) RevokeTokens(ctx context.Context, req *adminv1.RevokeTokensRequest) (*adminv1.RevokeTokensResponse, error) {
	var kind store.RevocationKind
	var value string
	switch t := req.GetTarget().(type) {
	case *adminv1.RevokeTokensRequest_Jti:
		kind, value = store.RevokeJTI, t.Jti
	case *adminv1.RevokeTokensRequest_KeyId:
		kind, value = store.RevokeKeyTokens, t.KeyId
		if !rootkey.ValidID(value) {
			return nil, toStatus(ctx, s.log, invalidArg("key_id must be 12 base62 characters"))
		}
	case *adminv1.RevokeTokensRequest_Subject:
		kind, value = store.RevokeSubjectTokens, t.Subject
	case *adminv1.RevokeTokensRequest_SigningKid:
		kind, value = store.RevokeSigningKeyTokens, t.SigningKid
	default:
		return nil, toStatus(ctx, s.log, invalidArg("one of jti, key_id, subject or signing_kid is required"))
	}
	if err := checkText("target", value, 1, maxStringLen); err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	if err := checkText("reason", req.GetReason(), 0, maxNoteLen); err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	var before time.Time
	if t := req.GetIssuedBefore(); t != nil {
		if err := t.CheckValid(); err != nil {
			return nil, toStatus(ctx, s.log, invalidArg("issued_before is not a valid timestamp"))
		}
		before = t.AsTime()
	}
	ev := auditNote(ctx)
	ev.Reason = req.GetReason()
	ev.Detail = map[string]string{"by": revocationLabel(kind), "target": value}
	if kind == store.RevokeJTI {
		ev.JTI = value
	}
	caller, _ := CallerFromContext(ctx)
	rev, err := s.revoker.revokeTarget(ctx, caller.Identity, kind, value, before, req.GetReason())
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	s.log.InfoContext(ctx, "tokens revoked", "kind", kind.String(), "revision", rev.Rev)
	return &adminv1.RevokeTokensResponse{Revision: rev.Rev}, nil
}

// revocationLabel names a revocation kind in audit events and metrics.
func revocationLabel(k store.RevocationKind) string {
	switch k {
	case store.RevokeJTI:
		return "token"
	case store.RevokeKeyTokens:
		return "key"
	case store.RevokeSubjectTokens:
		return "subject"
	case store.RevokeSigningKeyTokens:
		return "signing_key"
	}
	return "other"
}
