// Package server is Latchkey's gRPC front door: the mTLS configuration, the
// interceptor chain (recovery, logging, caller identity, authorization, deadline
// cap), the per-method authorization table, the TokenService and KeyService
// implementations, and the single place where domain errors become gRPC status
// codes.
//
// The server never logs request or response payloads: they carry root keys and
// tokens. Only the identity interceptor reads the peer certificate; everything
// else takes the caller from the context.
package server
