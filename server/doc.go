// Package server is Latchkey's front door. On the gRPC side: the mTLS
// configuration, the interceptor chain (recovery, logging, caller identity,
// authorization, deadline cap), the per-method authorization table, and the
// TokenService, KeyService and SigningKeyService implementations. On the
// HTTPS side: the JWKS, discovery and health endpoints. Domain errors become
// gRPC status codes in one place (status.go).
//
// The server never logs request or response payloads: they carry root keys and
// tokens. Only the identity interceptor reads the peer certificate; everything
// else takes the caller from the context.
package server
