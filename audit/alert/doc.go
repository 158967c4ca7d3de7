// Package alert spots exchanges that do not look like the key's own past
// behaviour and delivers the resulting alerts to a webhook.
//
// A Detector is fed every audit event after it is durable. It keeps a
// small, bounded amount of state per key (the identities and networks that
// used it, a per-minute rate baseline, a window of scope denials) and per
// caller identity (a window of invalid-key denials), and returns Alerts:
// new_identity, new_network, rate_spike, scope_probe, invalid_key_burst and
// flagged_key_use. It reads time only from the events, so replaying history
// through Warm reproduces the same state deterministically.
//
// A Webhook posts alerts as signed JSON (HMAC-SHA256 over a timestamp and
// the body, see SignatureHeader) from its own goroutine, retrying transient
// failures with backoff; VerifySignature is the receiver's half.
//
// This package must never do I/O on the exchange path (Observe only touches
// memory and does a small, bounded amount of work per event), never grow without
// bound (MaxTracked, MaxKnownPerKey and the window sizes cap it), never log
// or import gRPC, and never let the webhook secret escape through fmt, slog
// or errors. The webhook never follows a redirect and never sends in
// plaintext to anything but a loopback address.
package alert
