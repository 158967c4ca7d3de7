// Package audit is Latchkey's tamper-evident audit trail: every exchange,
// key and signing-key change, revocation, policy reload and alert becomes an
// Event, written durably before the response it describes is sent, and
// chained to its predecessor by a keyed MAC so that an altered, inserted or
// deleted event is detected by Verify.
//
// audit never records a secret: events carry key ids, token ids (jti),
// identities and scope names, never a root key, token or pepper. It does
// not log and does not import gRPC.
package audit
