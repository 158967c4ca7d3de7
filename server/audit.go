package server

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/latchkeyhq/latchkey/audit"
	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
)

type auditKey struct{}

// auditWriteTimeout bounds how long a call waits for its audit event.
const auditWriteTimeout = 5 * time.Second

// auditNote returns the event being built for this call, for the handler
// to add what only it knows (a key id, a jti, why it refused). Calls that
// are not audited get a scratch event nobody reads.
func auditNote(ctx context.Context) *audit.Event {
	if e, ok := ctx.Value(auditKey{}).(*audit.Event); ok {
		return e
	}
	return &audit.Event{}
}

// eventSink is told of every audited call's event, recorded or not
// (metrics count them even with the trail off).
type eventSink func(*audit.Event)

// auditUnary records one event per call of an audited method, after the
// handler and before the response leaves: if the trail cannot take the
// event the caller gets Unavailable instead of the response, so nothing
// (a token above all) is handed out unaudited.
func auditUnary(trail *audit.Trail, log *slog.Logger, observe eventSink) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		kind := methodRules[info.FullMethod].audit
		if kind == "" {
			return handler(ctx, req)
		}
		ev := newCallEvent(ctx, kind, info.FullMethod)
		if r, ok := req.(interface{ GetKeyId() string }); ok {
			ev.KeyID = r.GetKeyId()
		}
		resp, err := handler(context.WithValue(ctx, auditKey{}, ev), req)
		finishCallEvent(ev, resp, err)
		if observe != nil {
			observe(ev)
		}
		if trail == nil {
			return resp, err
		}
		// The event is written even when the call's own deadline has
		// passed: a timed-out call is audited too, and its caller gets the
		// call's error rather than the audit's.
		if aerr := trail.RecordWithin(*ev, auditWriteTimeout); aerr != nil {
			log.ErrorContext(ctx, "audit trail write failed; refusing the response", "method", info.FullMethod, "error", aerr)
			return nil, status.Error(codes.Unavailable, "audit trail unavailable; try again")
		}
		return resp, err
	}
}

func newCallEvent(ctx context.Context, kind audit.Kind, method string) *audit.Event {
	ev := &audit.Event{Kind: kind, Method: method}
	if c, ok := CallerFromContext(ctx); ok {
		ev.Actor = c.Identity
	}
	if p, ok := peer.FromContext(ctx); ok {
		ev.Peer = addrPort(p.Addr)
	}
	return ev
}

func addrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort()
	}
	if a == nil {
		return netip.AddrPort{}
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// finishCallEvent sets the result from the handler's outcome, keeping
// whatever the handler noted.
func finishCallEvent(ev *audit.Event, resp any, err error) {
	if ev.KeyID == "" {
		if r, ok := resp.(interface{ GetKey() *adminv1.Key }); ok {
			ev.KeyID = r.GetKey().GetKeyId()
		}
	}
	if err == nil {
		if ev.Result == "" {
			ev.Result = audit.ResultOK
		}
		return
	}
	code := status.Code(err)
	switch code {
	case codes.Unauthenticated, codes.PermissionDenied, codes.ResourceExhausted,
		codes.InvalidArgument, codes.FailedPrecondition, codes.NotFound, codes.AlreadyExists:
		ev.Result = audit.ResultDenied
	default:
		ev.Result = audit.ResultError
	}
	if ev.Reason == "" {
		ev.Reason = strings.ToLower(code.String())
	}
}
