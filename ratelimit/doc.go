// Package ratelimit holds the in-memory token buckets Latchkey puts in front of
// token exchange: one bucket per root key, one per caller identity for failed
// authentications (a brute-force guard), and one Global bucket over all
// exchanges. Refused calls report how long to wait, so the server can answer
// ResourceExhausted with a RetryInfo.
//
// The keys of a Keyed limiter are chosen by whoever calls the server, so its
// memory must stay bounded however many distinct keys arrive. Three rules keep
// it so:
//
//   - A bucket that is full and untouched for IdleAfter is dropped. Because it
//     is only dropped when full, and a new bucket starts full, dropping it can
//     never admit a call that keeping it would have refused.
//   - There is a hard cap, MaxKeys, split evenly across the shards. Attackers
//     cannot aim keys at one shard: the shard hash uses a per-process random
//     seed.
//   - When a shard is at its cap and nothing in it is idle, an entry is evicted
//     anyway. This is the degraded mode: the evicted key restarts with a full
//     bucket, so it may get up to Burst more calls than its limit allows. The
//     victim is the bucket, among a small sample, that would be full again
//     soonest, so an exhausted bucket (the one an attacker most wants reset) is
//     the last to go; Keyed.Evicted counts these evictions so the server can
//     alert on them.
//
// A Keyed limiter does not keep the keys it is given. Each shard maps a
// 64-bit hash of the key, seeded at random per limiter, to a bucket held by
// value, and neither holds a pointer: the garbage collector never scans the
// buckets, however many keys are tracked. The cost is that two keys whose
// hashes collide share one bucket. That is a matter of chance, not of
// choice: about n²/2⁶⁵ for n tracked keys (some 3e-10 at 100,000), and
// nobody can search for a colliding key without the seed, which never leaves
// the process. The token arithmetic is the package's own and matches
// golang.org/x/time/rate's decision for decision.
//
// Eviction work is amortised: a shard is swept once per as many inserts as it
// may hold, and an eviction under pressure looks at a fixed number of entries.
// No call scans every bucket.
//
// Keyed.Allow fails closed on an invalid Limit: it refuses with a zero
// RetryAfter, which the server must report as an internal error, not as
// ResourceExhausted.
//
// The package must never do I/O, log, start goroutines, block waiting for
// tokens, or import gRPC: mapping a Decision to a status is the server's job.
// It must never put a pointer in the per-key state, and it never promises
// that distinct keys have distinct buckets, only that sharing one is as
// unlikely as a 64-bit hash collision and cannot be aimed at. It keeps only
// a non-cryptographic hash of each key, which is no protection for a secret,
// so callers still pass a key id or an identity, never a root key secret.
package ratelimit
