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
// The view may hold millions of entries for the life of the process, so
// its index holds no pointers: entries are keyed by a keyed 128-bit digest
// of kind and value, with integer bounds, and their full text lives in one
// byte arena. The GC then has nothing to mark in it, however large it is.
// A digest collision may only ever make the view revoke more, never less.
//
// This package must never do I/O of its own, log, import gRPC, or block a
// revocation on a slow watcher.
package revocation
