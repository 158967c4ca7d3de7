package demo

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// The demo service's full method names, as gRPC and the scope table see them.
const (
	ServiceName = "latchkey.example.Demo"
	ReadMethod  = "/" + ServiceName + "/Read"
	WriteMethod = "/" + ServiceName + "/Write"
)

// Audience and scopes match the demo root key `latchkey dev` creates.
const (
	Audience   = "demo-api"
	ReadScope  = "demo.read"
	WriteScope = "demo.write"
)

// RequiredScopes is the table the resource server's verifier enforces; a
// method missing from it is refused.
func RequiredScopes() map[string][]string {
	return map[string][]string{
		ReadMethod:  {ReadScope},
		WriteMethod: {WriteScope},
	}
}

// Authorized reports whether ctx carries verified claims. The handlers ask
// it so that a server registered without the verifier interceptor refuses
// every call instead of serving them all.
type Authorized func(ctx context.Context) bool

// ServiceDesc describes the demo service. Both methods take and return
// google.protobuf.Empty: the examples are about who may call, not what the
// call does.
func ServiceDesc(authorized Authorized) *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: ServiceName,
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{
			{MethodName: "Read", Handler: handler(ReadMethod, authorized)},
			{MethodName: "Write", Handler: handler(WriteMethod, authorized)},
		},
	}
}

func handler(fullMethod string, authorized Authorized) grpc.MethodHandler {
	serve := func(ctx context.Context, _ any) (any, error) {
		if !authorized(ctx) {
			return nil, status.Error(codes.Unauthenticated, "no verified access token")
		}
		return &emptypb.Empty{}, nil
	}
	return func(srv any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
		in := new(emptypb.Empty)
		if err := dec(in); err != nil {
			return nil, err
		}
		if icpt == nil {
			return serve(ctx, in)
		}
		return icpt(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: fullMethod}, serve)
	}
}

// Read calls the demo service's Read method.
func Read(ctx context.Context, conn grpc.ClientConnInterface) error {
	return conn.Invoke(ctx, ReadMethod, &emptypb.Empty{}, &emptypb.Empty{})
}

// Write calls the demo service's Write method.
func Write(ctx context.Context, conn grpc.ClientConnInterface) error {
	return conn.Invoke(ctx, WriteMethod, &emptypb.Empty{}, &emptypb.Empty{})
}
