// Package interop proves that resource servers can verify Latchkey access
// tokens with JOSE libraries they already use, written by other people:
// go-jose in plain `go test`, and the Node "jose" package under the interop
// build tag (see node/verify.mjs).
//
// Each test serves a real keyring-built issuer over the real HTTPS side on
// 127.0.0.1 and lets the foreign library fetch the JWKS from there, so the
// published documents, the token encoding and the key rotation schedule are
// all checked against an implementation that shares none of our code.
//
// The package holds tests only. It must never be imported by production code,
// never reach beyond the loopback interface, and never help the foreign
// library along (no pre-parsed keys, no relaxed checks): if a library needs
// that, a real resource server would too, and the test should fail.
package interop
