// Package rootkey defines the root key: the long-lived credential a workload
// trades for short-lived tokens.
//
// A root key reads lk_<keyid>_<secret><checksum>: a 12-character public id,
// a 32-character secret (about 190 bits) and 6 characters holding the CRC32
// of everything before them, all base62. The checksum lets Parse and the
// leak scanner reject garbage offline, before any storage lookup or per-key
// state is touched.
//
// Only HMAC-SHA256(pepper, secret) is ever stored; Pepper.Verify recomputes
// it and compares in constant time.
//
// This package must never do I/O beyond reading randomness, never log, and
// never let a secret escape through fmt, slog, errors or panics: Key and
// Pepper print as [REDACTED], and Reveal is the single way to read a key's
// text. Parse errors never quote their input.
package rootkey
