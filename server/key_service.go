package server

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	"github.com/latchkeyhq/latchkey/lifecycle"
	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/rootkey"
	"github.com/latchkeyhq/latchkey/store"
)

// UsageTracker counts exchanges in memory; the inventory adds what it has not
// written yet.
type UsageTracker interface {
	Record(keyID string, at time.Time)
	Pending(keyID string) (last time.Time, count uint64)
}

// keyService implements latchkey.admin.v1.KeyService.
type keyService struct {
	adminv1.UnimplementedKeyServiceServer

	log    *slog.Logger
	keys   store.KeyStore
	pepper rootkey.Pepper
	policy func() *policy.Policy
	usage  UsageTracker
	now    func() time.Time
	// revoker records cascades so watchers and replicas see them.
	revoker *tokenRevoker
}

// view maps a record for a response, with pending usage and policy due dates.
func (s *keyService) view(rec store.KeyRecord) *adminv1.Key {
	return keyToProto(withPendingUsage(rec, s.usage), s.policy().KeyRulesFor(rec.Owner))
}

func (s *keyService) CreateKey(ctx context.Context, req *adminv1.CreateKeyRequest) (*adminv1.CreateKeyResponse, error) {
	caller, _ := CallerFromContext(ctx)
	now := s.now()
	rec, err := newKeyRecord(req, s.policy(), now)
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	rec.CreatedBy = caller.Identity
	rec.AddEvent(store.KeyEvent{At: now, Action: "created", Actor: caller.Identity})
	key, err := s.insert(ctx, rec)
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	s.log.InfoContext(ctx, "root key created", "key_id", key.ID(), "owner", rec.Owner)
	return &adminv1.CreateKeyResponse{Key: s.view(*rec), RootKey: key.Reveal()}, nil
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
	rec, err := s.get(ctx, req.GetKeyId())
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &adminv1.GetKeyResponse{Key: s.view(rec)}, nil
}

func (s *keyService) get(ctx context.Context, id string) (store.KeyRecord, error) {
	if !rootkey.ValidID(id) {
		return store.KeyRecord{}, invalidArg("key_id must be 12 base62 characters")
	}
	return s.keys.GetKey(ctx, id)
}

func (s *keyService) ListKeys(ctx context.Context, req *adminv1.ListKeysRequest) (*adminv1.ListKeysResponse, error) {
	q, err := s.listQuery(req)
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	page, err := s.keys.ListKeys(ctx, q)
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	out := &adminv1.ListKeysResponse{NextPageToken: page.NextPageToken}
	for _, rec := range page.Keys {
		out.Keys = append(out.Keys, s.view(rec))
	}
	return out, nil
}

// listQuery turns the request into a store query. Filters that depend on
// the policy or on usage not yet written run as a predicate inside the scan,
// so pages stay full and page tokens stay exact.
func (s *keyService) listQuery(req *adminv1.ListKeysRequest) (store.KeyQuery, error) {
	if req.GetPageSize() < 0 {
		return store.KeyQuery{}, invalidArg("page_size must not be negative")
	}
	state, err := stateFromProto(req.GetState())
	if err != nil {
		return store.KeyQuery{}, err
	}
	q := store.KeyQuery{Owner: req.GetOwner(), State: state, Label: req.GetLabel(),
		PageSize: int(req.GetPageSize()), PageToken: req.GetPageToken()}
	if t := req.GetExpiringBefore(); t != nil {
		q.ExpiringBefore = t.AsTime()
	}
	var unusedSince time.Time
	if t := req.GetUnusedSince(); t != nil {
		unusedSince = t.AsTime()
	}
	rotationDue, attestationDue := req.GetRotationDue(), req.GetAttestationDue()
	if unusedSince.IsZero() && !rotationDue && !attestationDue {
		return q, nil
	}
	now, pol := s.now(), s.policy()
	q.Match = func(rec store.KeyRecord) bool {
		rec = withPendingUsage(rec, s.usage)
		rules := pol.KeyRulesFor(rec.Owner)
		live := rec.State == store.KeyStateActive || rec.State == store.KeyStateDisabled
		switch {
		case !unusedSince.IsZero() && !lastUse(rec).Before(unusedSince):
			return false
		case rotationDue && !(live && due(lifecycle.RotationDueAt(rec, rules), now)):
			return false
		case attestationDue && !(live && due(lifecycle.AttestationDueAt(rec, rules), now)):
			return false
		}
		return true
	}
	return q, nil
}

// lastUse is when the key was last used, or created if never used.
func lastUse(rec store.KeyRecord) time.Time {
	if rec.LastUsedAt.IsZero() {
		return rec.CreatedAt
	}
	return rec.LastUsedAt
}

func due(at, now time.Time) bool { return !at.IsZero() && !now.Before(at) }

func (s *keyService) ListKeyHistory(ctx context.Context, req *adminv1.ListKeyHistoryRequest) (*adminv1.ListKeyHistoryResponse, error) {
	rec, err := s.get(ctx, req.GetKeyId())
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	out := &adminv1.ListKeyHistoryResponse{}
	for _, e := range slices.Backward(rec.History) {
		out.Events = append(out.Events, eventToProto(e))
	}
	return out, nil
}
