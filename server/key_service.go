package server

import (
	"context"
	"errors"
	"log/slog"
	"time"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/rootkey"
	"github.com/latchkeyhq/latchkey/store"
)

// keyService implements latchkey.admin.v1.KeyService.
type keyService struct {
	adminv1.UnimplementedKeyServiceServer

	log    *slog.Logger
	keys   store.KeyStore
	pepper rootkey.Pepper
	policy func() *policy.Policy
	now    func() time.Time
}

func (s *keyService) CreateKey(ctx context.Context, req *adminv1.CreateKeyRequest) (*adminv1.CreateKeyResponse, error) {
	caller, _ := CallerFromContext(ctx)
	rec, err := newKeyRecord(req, s.policy(), s.now())
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	rec.CreatedBy = caller.Identity
	key, err := s.insert(ctx, rec)
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	s.log.InfoContext(ctx, "root key created", "key_id", key.ID(), "owner", rec.Owner)
	return &adminv1.CreateKeyResponse{Key: keyToProto(rec), RootKey: key.Reveal()}, nil
}

// insert generates a key for rec and stores it; a colliding id (62^12
// possibilities, so practically never) is retried with a fresh key.
func (s *keyService) insert(ctx context.Context, rec *store.KeyRecord) (rootkey.Key, error) {
	for range 3 {
		key, err := rootkey.Generate()
		if err != nil {
			return rootkey.Key{}, err
		}
		rec.ID = key.ID()
		rec.SecretHash = s.pepper.Hash(key)
		err = s.keys.CreateKey(ctx, *rec)
		if errors.Is(err, store.ErrAlreadyExists) {
			continue
		}
		return key, err
	}
	return rootkey.Key{}, errors.New("could not allocate a unique key id")
}

func (s *keyService) GetKey(ctx context.Context, req *adminv1.GetKeyRequest) (*adminv1.GetKeyResponse, error) {
	if !rootkey.ValidID(req.GetKeyId()) {
		return nil, toStatus(ctx, s.log, invalidArg("key_id must be 12 base62 characters"))
	}
	rec, err := s.keys.GetKey(ctx, req.GetKeyId())
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &adminv1.GetKeyResponse{Key: keyToProto(&rec)}, nil
}

func (s *keyService) ListKeys(ctx context.Context, req *adminv1.ListKeysRequest) (*adminv1.ListKeysResponse, error) {
	if req.GetPageSize() < 0 {
		return nil, toStatus(ctx, s.log, invalidArg("page_size must not be negative"))
	}
	state, err := stateFromProto(req.GetState())
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	page, err := s.keys.ListKeys(ctx, store.KeyQuery{
		Owner:     req.GetOwner(),
		State:     state,
		PageSize:  int(req.GetPageSize()),
		PageToken: req.GetPageToken(),
	})
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	out := &adminv1.ListKeysResponse{NextPageToken: page.NextPageToken}
	for i := range page.Keys {
		out.Keys = append(out.Keys, keyToProto(&page.Keys[i]))
	}
	return out, nil
}

func (s *keyService) RevokeKey(ctx context.Context, req *adminv1.RevokeKeyRequest) (*adminv1.RevokeKeyResponse, error) {
	if !rootkey.ValidID(req.GetKeyId()) {
		return nil, toStatus(ctx, s.log, invalidArg("key_id must be 12 base62 characters"))
	}
	reason, err := reasonFromProto(req.GetReason())
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	now := s.now()
	rec, err := s.keys.UpdateKey(ctx, req.GetKeyId(), func(r *store.KeyRecord) error {
		if r.State == store.KeyStateRevoked {
			return nil // idempotent: the first revocation's reason and time stand
		}
		r.State = store.KeyStateRevoked
		r.RevocationReason = reason
		r.RevokedAt = now
		return nil
	})
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	s.log.InfoContext(ctx, "root key revoked", "key_id", rec.ID, "reason", rec.RevocationReason.String())
	return &adminv1.RevokeKeyResponse{Key: keyToProto(&rec)}, nil
}
