// Package client is the Go library a workload uses to turn its Latchkey root
// key into short-lived tokens and to attach them to outgoing gRPC calls.
//
// A Client exchanges the root key over mutually authenticated TLS on first
// use, caches the token, refreshes it in the background when a fifth of its
// lifetime remains, and backs off (200 ms doubling to 30 s, full jitter) while
// the Latchkey server fails. Only one exchange is ever in flight, however many
// goroutines ask for a token, and a cached token keeps being served while the
// server is unreachable until the token itself expires.
//
// Usage:
//
//	c, err := client.Bootstrap(ctx, client.Config{Addr: "latchkey.internal:8443",
//		TLS: workloadTLS, RootKey: os.Getenv("LATCHKEY_ROOT_KEY"), Audiences: []string{"orders-api"}})
//	if err != nil {
//		log.Fatal(err) // e.g. "root key rejected (revoked, expired or unknown)"
//	}
//	defer c.Close()
//	conn, err := grpc.NewClient("orders.internal:443",
//		grpc.WithTransportCredentials(credentials.NewTLS(workloadTLS)),
//		grpc.WithPerRPCCredentials(c.Credentials()), // "authorization: Bearer <token>"
//		grpc.WithUnaryInterceptor(c.UnaryInterceptor())) // one retry with a fresh token on Unauthenticated
//
// The package must never log, print or put into an error the root key or a
// token, and must never import the server, store, issuer or policy packages,
// Badger or a JWT library: a workload links gRPC, protobuf and the generated
// API code and nothing else. It never parses the tokens it carries; they are
// opaque to the workload.
package client
