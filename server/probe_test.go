package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/latchkeyhq/latchkey/policy"
)

// probeService is a hand-built service registered only in these tests, to
// drive the real interceptor chain with handlers that misbehave.
const (
	probePanic    = "/latchkey.test.Probe/Panic"
	probeDeadline = "/latchkey.test.Probe/Deadline"
	probeUnlisted = "/latchkey.test.Probe/Unlisted"
	panicSecret   = "lk_probeSecretValue_mustNotBeLogged"
)

func probeDesc() *grpc.ServiceDesc {
	handler := func(fn func(ctx context.Context) (any, error)) grpc.MethodHandler {
		return func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
			in := new(emptypb.Empty)
			if err := dec(in); err != nil {
				return nil, err
			}
			info := &grpc.UnaryServerInfo{Server: srv, FullMethod: "/latchkey.test.Probe/" + methodName(ctx)}
			return icpt(ctx, in, info, func(ctx context.Context, _ any) (any, error) { return fn(ctx) })
		}
	}
	return &grpc.ServiceDesc{
		ServiceName: "latchkey.test.Probe",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{
			{MethodName: "Panic", Handler: handler(func(context.Context) (any, error) { panic(panicSecret) })},
			{MethodName: "Deadline", Handler: handler(func(ctx context.Context) (any, error) {
				d, ok := ctx.Deadline()
				if !ok {
					return nil, status.Error(codes.FailedPrecondition, "no deadline")
				}
				return durationpb.New(time.Until(d)), nil
			})},
			{MethodName: "Unlisted", Handler: handler(func(context.Context) (any, error) { return &emptypb.Empty{}, nil })},
		},
	}
}

func methodName(ctx context.Context) string {
	m, _ := grpc.Method(ctx)
	return m[strings.LastIndex(m, "/")+1:]
}

func TestInterceptorChainWithMisbehavingHandlers(t *testing.T) {
	methodRoles[probePanic] = []policy.Role{anyCaller}
	methodRoles[probeDeadline] = []policy.Role{anyCaller}
	methodRules[probePanic] = methodRule{limit: limitCaller}
	methodRules[probeDeadline] = methodRule{limit: limitCaller}
	t.Cleanup(func() {
		delete(methodRoles, probePanic)
		delete(methodRoles, probeDeadline)
		delete(methodRules, probePanic)
		delete(methodRules, probeDeadline)
	})
	e := newEnvWith(t, func(s *Server) { s.GRPC().RegisterService(probeDesc(), struct{}{}) })
	conn := e.conn(idNobody)

	t.Run("panic becomes Internal and its value is not logged", func(t *testing.T) {
		err := conn.Invoke(ctx(t), probePanic, &emptypb.Empty{}, &emptypb.Empty{})
		if status.Code(err) != codes.Internal || status.Convert(err).Message() != "internal error" {
			t.Fatalf("got %v, want Internal \"internal error\"", err)
		}
		logs := e.logs.String()
		if !strings.Contains(logs, "panic in handler") || strings.Contains(logs, panicSecret) {
			t.Fatalf("want the panic logged without its value; logs:\n%s", logs)
		}
	})
	t.Run("a call without a deadline gets the server's cap", func(t *testing.T) {
		var left durationpb.Duration
		if err := conn.Invoke(context.Background(), probeDeadline, &emptypb.Empty{}, &left); err != nil {
			t.Fatal(err)
		}
		if d := left.AsDuration(); d <= 0 || d > DefaultMaxDeadline {
			t.Fatalf("handler deadline in %s, want within (0, %s]", d, DefaultMaxDeadline)
		}
	})
	t.Run("a longer client deadline is capped", func(t *testing.T) {
		c, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		var left durationpb.Duration
		if err := conn.Invoke(c, probeDeadline, &emptypb.Empty{}, &left); err != nil {
			t.Fatal(err)
		}
		if d := left.AsDuration(); d > DefaultMaxDeadline {
			t.Fatalf("handler deadline in %s, want at most %s", d, DefaultMaxDeadline)
		}
	})
	t.Run("a method missing from the table is denied", func(t *testing.T) {
		err := conn.Invoke(ctx(t), probeUnlisted, &emptypb.Empty{}, &emptypb.Empty{})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("got %v, want PermissionDenied", err)
		}
	})
}
