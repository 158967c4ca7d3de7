// Package badger is the embedded, single-node implementation of the
// store interfaces on Badger v4. Callers import it as badgerstore.
//
// Every write is synced before it is acknowledged, the data directory is
// encrypted with a caller-supplied AES-256 key, and the directory lock is
// Badger's flock: a held directory is reported as store.ErrLocked.
//
// This package must never bypass or delete the directory lock, write
// anything to disk unencrypted, put key material in errors or logs, or
// leave a goroutine running after Close.
package badger
