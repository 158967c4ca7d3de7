// Package pki mints and loads the X.509 material Latchkey needs outside
// production: the development CA and certificates behind `latchkey dev`, and
// the per-test CAs and leaves that server and client tests use instead of
// checked-in keys.
//
// Every key is ECDSA P-256, stored as a PKCS#8 "PRIVATE KEY" PEM block; every
// certificate carries a random 128-bit serial and an ECDSA-with-SHA-256
// signature.
//
// The package does no file or network I/O, never logs, and never puts key
// material in an error, a String, a GoString, a Format or a slog value: the
// private halves are only reachable through the explicit KeyPEM accessors and
// fields. It is not a production CA: there is no revocation, no name
// constraints and no policy beyond what the caller asks for.
package pki
