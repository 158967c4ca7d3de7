package client

import (
	"context"
	"fmt"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// Credentials returns per-RPC credentials that attach
// "authorization: Bearer <token>" to every call. They refuse to travel over a
// connection without transport security, since a bearer token on the wire in
// clear is a token given away.
func (c *Client) Credentials() credentials.PerRPCCredentials { return perRPC{c: c} }

type perRPC struct{ c *Client }

var _ credentials.PerRPCCredentials = perRPC{}

func (p perRPC) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	// gRPC already refuses insecure transports through RequireTransportSecurity;
	// checking the negotiated level too also covers connections whose
	// credentials claim less than privacy and integrity.
	ri, _ := credentials.RequestInfoFromContext(ctx)
	if err := credentials.CheckSecurityLevel(ri.AuthInfo, credentials.PrivacyAndIntegrity); err != nil {
		return nil, fmt.Errorf("client: refusing to send a token: %w", err)
	}
	tok, err := p.c.Token(ctx)
	if err != nil {
		return nil, err
	}
	if s, ok := ctx.Value(sentKey{}).(*sentToken); ok {
		s.set(tok.Value)
	}
	return map[string]string{"authorization": "Bearer " + tok.Value}, nil
}

func (perRPC) RequireTransportSecurity() bool { return true }

// sentKey marks a call made through UnaryInterceptor; the credentials record
// in it which token they attached, so a refusal invalidates exactly that one.
type sentKey struct{}

type sentToken struct {
	mu    sync.Mutex
	value string
}

func (s *sentToken) set(v string) {
	s.mu.Lock()
	s.value = v
	s.mu.Unlock()
}

func (s *sentToken) get() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.value
}

// UnaryInterceptor returns a client interceptor that, when a resource server
// answers Unauthenticated to a call that carried one of this client's tokens
// (attached by Credentials), invalidates that token and retries the call once
// with a fresh one. A second refusal is returned as is.
func (c *Client) UnaryInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		sent := &sentToken{}
		err := invoker(context.WithValue(ctx, sentKey{}, sent), method, req, reply, cc, opts...)
		if status.Code(err) != codes.Unauthenticated {
			return err
		}
		tok := sent.get()
		if tok == "" {
			// Not our token that was refused (or none was sent): a fresh one
			// would not help.
			return err
		}
		c.Invalidate(tok)
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}
