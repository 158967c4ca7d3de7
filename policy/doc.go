// Package policy is the model of the Latchkey policy file and the decisions
// made from it: which mTLS identities hold which role, which scopes exist,
// what a token minted from a root key may carry (scopes, audiences, TTL),
// how the keys that sign tokens are chosen and rotated, and the lifecycle
// rules of root keys, per owner where overridden, the server-wide rate
// limits, and the thresholds of the alerts and which of them disable a key.
//
// Identity patterns are exact DNS names or certificate names, or SPIFFE IDs
// whose last segment may be a wildcard; an identity that is not a
// well-formed SPIFFE ID never matches a SPIFFE pattern.
//
// The package is pure: apart from Load reading one file it does no I/O, keeps
// no state between calls, never logs and never imports gRPC. Its errors are
// sentinel or typed values; the server maps them to status codes.
//
// It must never widen a grant: a decision either returns a subset of what the
// key allows and the caller asked for, or an error. Nothing unknown is
// silently dropped or silently accepted.
package policy
