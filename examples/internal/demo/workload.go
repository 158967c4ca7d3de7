package demo

import (
	"context"
	"crypto/tls"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/latchkeyhq/latchkey/client"
)

// BootstrapWorkload exchanges the demo root key as the workload identity,
// for the demo audience and the given scopes (none means every scope the key
// allows). It fails at once when the key or certificate is refused.
func BootstrapWorkload(ctx context.Context, s State, scopes []string) (*client.Client, *tls.Config, error) {
	addr, err := s.LatchkeyAddr()
	if err != nil {
		return nil, nil, err
	}
	tlsCfg, err := s.ClientTLS("workload")
	if err != nil {
		return nil, nil, err
	}
	key, err := s.DemoRootKey()
	if err != nil {
		return nil, nil, err
	}
	c, err := client.Bootstrap(ctx, client.Config{
		Addr: addr, TLS: tlsCfg, RootKey: key,
		Scopes: scopes, Audiences: []string{Audience},
	})
	if err != nil {
		return nil, nil, err
	}
	return c, tlsCfg, nil
}

// DialResourceServer connects to the resource server with the workload's
// certificate, the one its tokens are bound to, and attaches c's tokens to
// every call. The interceptor fetches a fresh token once when the resource
// server refuses one, which is what a long-running workload wants.
func DialResourceServer(addr string, tlsCfg *tls.Config, c *client.Client) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)),
		grpc.WithPerRPCCredentials(c.Credentials()),
		grpc.WithUnaryInterceptor(c.UnaryInterceptor()))
	if err != nil {
		return nil, fmt.Errorf("demo: dial resource server: %w", err)
	}
	return conn, nil
}
