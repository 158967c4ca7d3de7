// Package store defines the records Latchkey persists and the small
// interfaces through which the rest of the service reads and writes them:
// root-key records (with their lifecycle, usage and history), token
// revocations (single token ids, and an append-only revocation log that
// the service loads at start-up) and token-signing keys.
//
// It holds no storage engine. Backends (store/badger today, a replicated
// engine later) implement these interfaces, and store/storetest checks that
// each one behaves the same way.
//
// This package must never import a storage engine, perform I/O, log, or map
// errors to transport status codes; callers translate the sentinel errors
// declared here.
package store
