// Package scan finds leaked Latchkey root keys in files, folders, archives,
// standard input and git history.
//
// A root key carries a CRC32 checksum (see package rootkey), so a candidate
// found by its "lk_" prefix is confirmed offline, without a server and
// without false positives from look-alikes. Near misses (the right shape
// with a wrong checksum) and generic high-entropy tokens are reported only
// when asked for, and the latter always with confidence "low".
//
// What is not detected: keys split across lines or by other characters,
// keys inside encodings (base64, hex, URL-escaping, compression other than
// the archives listed below), keys in nested archives, keys in binary files
// (a NUL byte in the first 8 KiB), and high-entropy tokens longer than 256
// characters (treated as data blobs).
//
// This package must never print, log or exit, and must never let the text
// of a key leave it: a Finding holds only the key id and a redacted form.
// It reads files and runs git; it never writes to the scanned tree.
package scan
