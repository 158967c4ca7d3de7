package server

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
	"github.com/latchkeyhq/latchkey/revocation"
	"github.com/latchkeyhq/latchkey/store"
)

// snapshotChunk bounds one WatchRevocations message during a snapshot;
// liveBatch bounds how many queued live events share one message.
const (
	snapshotChunk = 1000
	liveBatch     = 256
)

func (s *tokenService) RevokeToken(ctx context.Context, req *latchkeyv1.RevokeTokenRequest) (*latchkeyv1.RevokeTokenResponse, error) {
	caller, _ := CallerFromContext(ctx)
	if err := s.revoker.revokeOwn(ctx, caller, req.GetToken()); err != nil {
		if errors.Is(err, errNotYourToken) {
			return nil, status.Error(codes.PermissionDenied, err.Error())
		}
		return nil, toStatus(ctx, s.log, err)
	}
	return &latchkeyv1.RevokeTokenResponse{}, nil
}

func (s *tokenService) WatchRevocations(req *latchkeyv1.WatchRevocationsRequest, stream grpc.ServerStreamingServer[latchkeyv1.WatchRevocationsResponse]) error {
	var w *revocation.Watcher
	var err error
	if from := req.GetFromRevision(); from > 0 {
		w, err = s.view.Watch(from)
	}
	if from := req.GetFromRevision(); from == 0 || errors.Is(err, revocation.ErrResync) {
		var snap []store.Revocation
		var rev uint64
		snap, rev, w = s.view.SnapshotAndWatch()
		if err := sendSnapshot(stream, snap, rev); err != nil {
			w.Close()
			return err
		}
	} else if err != nil {
		return toStatus(stream.Context(), s.log, err)
	}
	defer w.Close()
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case ev, ok := <-w.Events():
			if !ok {
				return status.Error(codes.Aborted, "watcher fell behind; reconnect with the last revision applied")
			}
			batch := []store.Revocation{ev}
		more:
			for len(batch) < liveBatch {
				select {
				case ev, ok := <-w.Events():
					if !ok {
						break more
					}
					batch = append(batch, ev)
				default:
					break more
				}
			}
			if err := stream.Send(&latchkeyv1.WatchRevocationsResponse{
				Revocations: revocationsToProto(batch), Revision: batch[len(batch)-1].Rev,
			}); err != nil {
				return err
			}
		}
	}
}

func sendSnapshot(stream grpc.ServerStreamingServer[latchkeyv1.WatchRevocationsResponse], snap []store.Revocation, rev uint64) error {
	for i := 0; i == 0 || i < len(snap); i += snapshotChunk {
		end := min(i+snapshotChunk, len(snap))
		msg := &latchkeyv1.WatchRevocationsResponse{
			Resync:           i == 0,
			Revocations:      revocationsToProto(snap[i:end]),
			SnapshotComplete: end == len(snap),
			Revision:         rev,
		}
		if err := stream.Send(msg); err != nil {
			return err
		}
	}
	return nil
}

var kindToProto = map[store.RevocationKind]latchkeyv1.RevocationKind{
	store.RevokeJTI:              latchkeyv1.RevocationKind_REVOCATION_KIND_JTI,
	store.RevokeKeyTokens:        latchkeyv1.RevocationKind_REVOCATION_KIND_KEY,
	store.RevokeSubjectTokens:    latchkeyv1.RevocationKind_REVOCATION_KIND_SUBJECT,
	store.RevokeSigningKeyTokens: latchkeyv1.RevocationKind_REVOCATION_KIND_SIGNING_KEY,
}

func revocationsToProto(rs []store.Revocation) []*latchkeyv1.Revocation {
	out := make([]*latchkeyv1.Revocation, 0, len(rs))
	for _, r := range rs {
		out = append(out, &latchkeyv1.Revocation{
			Revision: r.Rev, Kind: kindToProto[r.Kind], Value: r.Value,
			IssuedBefore: optTime(r.Before), RevokedAt: optTime(r.At), ExpiresAt: optTime(r.ExpiresAt),
		})
	}
	return out
}
