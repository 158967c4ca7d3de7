package server

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/latchkeyhq/latchkey/audit"
	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
)

// tailBuffer is how far a TailAuditEvents reader may fall behind before
// it is dropped.
const tailBuffer = 4096

// auditService implements latchkey.admin.v1.AuditService.
type auditService struct {
	adminv1.UnimplementedAuditServiceServer
	log   *slog.Logger
	trail *audit.Trail
}

var errAuditOff = status.Error(codes.Unavailable, "the audit trail is not enabled on this server")

func (s *auditService) QueryAuditEvents(ctx context.Context, req *adminv1.QueryAuditEventsRequest) (*adminv1.QueryAuditEventsResponse, error) {
	if s.trail == nil {
		return nil, errAuditOff
	}
	q := audit.Query{
		Filter:    audit.Filter{KeyID: req.GetKeyId(), Actor: req.GetActor(), Kind: audit.Kind(req.GetKind())},
		PageSize:  int(req.GetPageSize()),
		PageToken: req.GetPageToken(),
	}
	if req.GetSince() != nil {
		q.Since = req.GetSince().AsTime()
	}
	if req.GetUntil() != nil {
		q.Until = req.GetUntil().AsTime()
	}
	page, err := s.trail.Query(ctx, q)
	if errors.Is(err, audit.ErrInvalidQuery) {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	out := &adminv1.QueryAuditEventsResponse{NextPageToken: page.NextPageToken}
	for i := range page.Events {
		out.Events = append(out.Events, auditEventToProto(&page.Events[i]))
	}
	return out, nil
}

func (s *auditService) TailAuditEvents(req *adminv1.TailAuditEventsRequest, stream grpc.ServerStreamingServer[adminv1.TailAuditEventsResponse]) error {
	if s.trail == nil {
		return errAuditOff
	}
	f := audit.Filter{KeyID: req.GetKeyId(), Actor: req.GetActor(), Kind: audit.Kind(req.GetKind())}
	if f.Kind != "" && !f.Kind.Valid() {
		return status.Error(codes.InvalidArgument, "unknown event kind")
	}
	sub := s.trail.Subscribe(f, tailBuffer)
	defer sub.Cancel()
	ctx := stream.Context()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-sub.C:
			if !ok {
				if sub.Dropped() {
					return status.Error(codes.ResourceExhausted, "reader fell behind; resume with QueryAuditEvents")
				}
				return status.Error(codes.Unavailable, "server shutting down")
			}
			if err := stream.Send(&adminv1.TailAuditEventsResponse{Event: auditEventToProto(&e)}); err != nil {
				return err
			}
		}
	}
}

func (s *auditService) VerifyAuditChain(ctx context.Context, _ *adminv1.VerifyAuditChainRequest) (*adminv1.VerifyAuditChainResponse, error) {
	if s.trail == nil {
		return nil, errAuditOff
	}
	res, err := s.trail.Verify(ctx)
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	out := &adminv1.VerifyAuditChainResponse{
		Ok: res.Break == nil, FirstSeq: res.First, LastSeq: res.Last,
		EventsChecked: res.Events, PrunedThrough: res.Pruned,
	}
	if res.Break != nil {
		out.BrokenAt, out.Reason = res.Break.Seq, res.Break.Reason
	}
	return out, nil
}

func auditEventToProto(e *audit.Event) *adminv1.AuditEvent {
	out := &adminv1.AuditEvent{
		Seq: e.Seq, Time: timestamppb.New(e.Time), Kind: string(e.Kind), Actor: e.Actor,
		Method: e.Method, KeyId: e.KeyID, Jti: e.JTI, Scopes: e.Scopes, Result: string(e.Result),
		Reason: e.Reason, KeyFlags: e.KeyFlags, Alert: e.Alert, Detail: e.Detail,
		PrevMac: e.Prev, Mac: e.MAC,
	}
	if e.Peer.IsValid() {
		out.Peer = e.Peer.String()
	}
	return out
}
