// Package demo is the small "demo API" the examples share: a hand-built gRPC
// service with a Read and a Write method, the scopes each requires, and the
// TLS settings read from a `latchkey dev` state folder.
//
// It exists so the example programs and their test agree on method names,
// scopes and file names. It must never import Latchkey's server, store,
// issuer or policy packages, and never print or log a root key or token.
package demo
