// Package verifier is the library resource servers use to check Latchkey
// access tokens.
//
// In the default local mode a Verifier checks the compact JWS itself against
// a cached JWKS (fetched with GetJWKS or from an HTTPS URL), applies the same
// strict rules Latchkey's own verifier applies, checks the RFC 8705
// certificate binding, and consults a live replica of the revocation list fed
// by the WatchRevocations stream. When that stream has been down for longer
// than the configured staleness bound, Verify fails closed unless the caller
// explicitly opted into failing open. In introspection mode every token is
// sent to IntrospectToken instead.
//
// gRPC interceptors and an HTTP middleware wrap Verify for servers: they take
// the bearer token from the request and the peer certificate from the mTLS
// connection, check the scopes a method requires and put the Claims in the
// request context.
//
// The package must never import Latchkey's server, store, issuer or policy
// packages, Badger, or any JWT library: a resource server that links it pulls
// in gRPC, protobuf and the generated API code only. It must never log a
// token, put one in an error, or trust anything a token says about where its
// keys live.
package verifier
