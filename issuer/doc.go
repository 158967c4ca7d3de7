// Package issuer mints Latchkey access tokens and verifies them strictly.
//
// Tokens are RFC 9068 JWT access tokens signed with Ed25519 ("EdDSA"), ECDSA
// P-256 ("ES256") or RSA ("RS256"), carrying an RFC 8705 certificate thumbprint
// in cnf so a stolen token is useless without the client certificate it was
// issued to. The package also holds the signing keyring and renders the public
// half of it as a JWKS.
//
// The keyring is a pure state machine (Plan, RotateNow, Revoke) over
// KeyringEntry values: a key is published as "next" at least PublishLead before
// it signs, signs while "active", keeps verifying while "retired" until every
// token it signed has expired, and is then "removed"; "revoked" withdraws it at
// once. Callers persist the entries and pass the clock in; this package keeps
// neither.
//
// ES256 signatures are malleable: (r, n-s) verifies as well as (r, s) for the
// same claims. Anything that remembers tokens (revocation, replay detection)
// must therefore key on jti, never on the token string.
//
// Verify accepts exactly what Mint produces and nothing else: a size cap before
// any parsing, a fixed header shape (alg, typ, kid and no other member), the
// algorithm fixed by the key that kid names, every required claim present with
// its expected JSON type, bounded clock leeway and a bounded lifetime. Anything
// that widens what a token may be (header-supplied keys, crit, nested tokens,
// duplicate or unknown members) is rejected rather than ignored, because the
// only tokens it has to accept are its own.
//
// The package must never do I/O: no files, no network, no logging. Keys are
// looked up in memory only, so a hostile kid or jku can never make it fetch
// anything. An Issuer is immutable and safe for concurrent use; rotating keys
// means building a new Issuer.
package issuer
