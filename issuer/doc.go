// Package issuer mints Latchkey access tokens and verifies them strictly.
//
// Tokens are RFC 9068 JWT access tokens signed with Ed25519 ("EdDSA"), carrying
// an RFC 8705 certificate thumbprint in cnf so a stolen token is useless without
// the client certificate it was issued to. The package also holds the signing
// keyring and renders the public half of it as a JWKS.
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
