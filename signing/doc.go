// Package signing keeps the token-signing keyring: it loads the keys from the
// store, rotates them on the policy's schedule (publishing each new key before
// it signs), revokes them in an emergency, and hands out the current issuer.
//
// A key is written to the store before it is published or used, so a crash
// never leaves a token signed by a key the next start does not know. Private
// keys never leave this package and the store; nothing here logs them.
package signing
