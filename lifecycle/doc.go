// Package lifecycle applies the time-based rules of root keys: when a key
// is due for rotation or attestation, when it has gone unused too long,
// when it expires and when an old secret's rotation grace ends. It also
// counts key usage in memory so that the exchange path never waits on a
// disk write.
//
// The Janitor is the only writer here; every change goes through
// store.KeyStore.UpdateKey and re-checks its condition on the freshly read
// record, so it never overwrites a concurrent administrator's change.
//
// lifecycle must never see a secret: it reads records only for their
// times and state, and never logs or records a secret hash. It does no
// gRPC, reads no flags or files, and returns plain errors.
package lifecycle
