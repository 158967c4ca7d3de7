package server

import (
	"context"
	"errors"
	"log/slog"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	"github.com/latchkeyhq/latchkey/issuer"
)

// SigningKeys is the signing keyring as the server uses it.
type SigningKeys interface {
	// Issuer is the current issuer; it changes when keys rotate.
	Issuer() *issuer.Issuer
	Entries() []issuer.KeyringEntry
	Rotate(ctx context.Context) error
	Revoke(ctx context.Context, kid string) error
}

// signingService implements latchkey.admin.v1.SigningKeyService.
type signingService struct {
	adminv1.UnimplementedSigningKeyServiceServer

	log  *slog.Logger
	keys SigningKeys
}

func (s *signingService) ListSigningKeys(ctx context.Context, _ *adminv1.ListSigningKeysRequest) (*adminv1.ListSigningKeysResponse, error) {
	return &adminv1.ListSigningKeysResponse{Keys: signingKeysToProto(s.keys.Entries())}, nil
}

func (s *signingService) RotateSigningKey(ctx context.Context, _ *adminv1.RotateSigningKeyRequest) (*adminv1.RotateSigningKeyResponse, error) {
	if err := s.keys.Rotate(ctx); err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	s.log.InfoContext(ctx, "signing key rotation started")
	return &adminv1.RotateSigningKeyResponse{Keys: signingKeysToProto(s.keys.Entries())}, nil
}

func (s *signingService) RevokeSigningKey(ctx context.Context, req *adminv1.RevokeSigningKeyRequest) (*adminv1.RevokeSigningKeyResponse, error) {
	if req.GetKid() == "" || len(req.GetKid()) > 128 {
		return nil, toStatus(ctx, s.log, invalidArg("kid is required"))
	}
	err := s.keys.Revoke(ctx, req.GetKid())
	switch {
	case errors.Is(err, issuer.ErrUnknownKey):
		return nil, toStatus(ctx, s.log, errNotFoundKID)
	case errors.Is(err, issuer.ErrKeyState):
		return nil, toStatus(ctx, s.log, precondition("the signing key is already removed or revoked"))
	case err != nil:
		return nil, toStatus(ctx, s.log, err)
	}
	s.log.WarnContext(ctx, "signing key revoked", "kid", req.GetKid())
	return &adminv1.RevokeSigningKeyResponse{Keys: signingKeysToProto(s.keys.Entries())}, nil
}

var errNotFoundKID = notFound("no such signing key")

var signingStates = map[issuer.KeyState]adminv1.SigningKeyState{
	issuer.KeyNext:    adminv1.SigningKeyState_SIGNING_KEY_STATE_NEXT,
	issuer.KeyActive:  adminv1.SigningKeyState_SIGNING_KEY_STATE_ACTIVE,
	issuer.KeyRetired: adminv1.SigningKeyState_SIGNING_KEY_STATE_RETIRED,
	issuer.KeyRemoved: adminv1.SigningKeyState_SIGNING_KEY_STATE_REMOVED,
	issuer.KeyRevoked: adminv1.SigningKeyState_SIGNING_KEY_STATE_REVOKED,
}

func signingKeysToProto(es []issuer.KeyringEntry) []*adminv1.SigningKey {
	out := make([]*adminv1.SigningKey, 0, len(es))
	for _, e := range es {
		out = append(out, &adminv1.SigningKey{
			Kid: e.Key.KID(), Alg: e.Key.Alg(), State: signingStates[e.State],
			CreatedAt: optTime(e.CreatedAt), ActivateAt: optTime(e.ActivateAt), ActivatedAt: optTime(e.ActivatedAt),
			RetiredAt: optTime(e.RetiredAt), RemoveAt: optTime(e.RemoveAt), RevokedAt: optTime(e.RevokedAt),
		})
	}
	return out
}
