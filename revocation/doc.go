// Package revocation holds the in-memory view of the revocation log that
// introspection consults on every request, the Revoker that makes a
// revocation durable before it becomes visible, and the watch hub that
// streams applied revocations to replicas in revision order.
//
// The view answers "is this token revoked?" with a read lock and map
// lookups only, so introspection never touches disk. Durability belongs to
// store.RevocationLog; this package only orders and fans out what the log
// has accepted.
//
// This package must never do I/O of its own, log, import gRPC, or block a
// revocation on a slow watcher.
package revocation
