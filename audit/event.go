package audit

import (
	"net/netip"
	"time"
)

// Kind names what an event describes. Kinds are a fixed vocabulary so they
// can be indexed and used as metric labels.
type Kind string

// Event kinds.
const (
	KindExchange       Kind = "exchange"
	KindKeyCreate      Kind = "key.create"
	KindKeyUpdate      Kind = "key.update"
	KindKeyRotate      Kind = "key.rotate"
	KindKeyRevoke      Kind = "key.revoke"
	KindKeyDisable     Kind = "key.disable"
	KindKeyEnable      Kind = "key.enable"
	KindKeyAttest      Kind = "key.attest"
	KindKeyExpire      Kind = "key.expire"
	KindKeyRetire      Kind = "key.retire_secret"
	KindSigningRotate  Kind = "signing.rotate"
	KindSigningRevoke  Kind = "signing.revoke"
	KindTokenRevoke    Kind = "token.revoke"
	KindTokensRevoke   Kind = "tokens.revoke"
	KindPolicyReload   Kind = "policy.reload"
	KindAlert          Kind = "alert"
	KindServiceStart   Kind = "service.start"
	KindServiceStop    Kind = "service.stop"
	KindAuditRetention Kind = "audit.retention"
)

// Kinds lists every kind, for validation and documentation.
var Kinds = []Kind{
	KindExchange, KindKeyCreate, KindKeyUpdate, KindKeyRotate, KindKeyRevoke,
	KindKeyDisable, KindKeyEnable, KindKeyAttest, KindKeyExpire, KindKeyRetire,
	KindSigningRotate, KindSigningRevoke, KindTokenRevoke, KindTokensRevoke,
	KindPolicyReload, KindAlert, KindServiceStart, KindServiceStop, KindAuditRetention,
}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	for _, v := range Kinds {
		if v == k {
			return true
		}
	}
	return false
}

// Result is the outcome of the action an event describes.
type Result string

// Results.
const (
	ResultOK     Result = "ok"
	ResultDenied Result = "denied"
	ResultError  Result = "error"
)

// Reasons an exchange is denied, as recorded in Event.Reason. The caller of
// ExchangeToken sees one uniform error; the audit trail sees which it was.
const (
	ReasonMalformedKey   = "malformed_key"
	ReasonUnknownKey     = "unknown_key"
	ReasonBadSecret      = "bad_secret"
	ReasonKeyRevoked     = "key_revoked"
	ReasonKeyDisabled    = "key_disabled"
	ReasonKeyExpired     = "key_expired"
	ReasonNotBound       = "identity_not_bound"
	ReasonScopeDenied    = "scope_not_allowed"
	ReasonInvalidRequest = "invalid_request"
	ReasonRateLimited    = "rate_limited"
	ReasonInternal       = "internal_error"
)

// Flags a key can carry when it is used; the anomaly detector alerts on use
// of a flagged key.
const (
	FlagLeaked             = "leaked"
	FlagAttestationOverdue = "attestation_overdue"
	FlagRotationDue        = "rotation_due"
)

// Actors for events no remote caller caused.
const (
	ActorSystem  = "system"
	ActorJanitor = "system:janitor"
	ActorAlerts  = "system:alerts"
)

// Event is one audit record. Seq, Prev and MAC are set by the trail when the
// event is appended; everything else by whoever records it.
type Event struct {
	// Seq numbers events from 1 without gaps.
	Seq  uint64    `json:"seq"`
	Time time.Time `json:"time"`
	Kind Kind      `json:"kind"`
	// Actor is the caller's identity (a SPIFFE ID) or a system actor.
	Actor string `json:"actor,omitempty"`
	// Peer is the caller's network address, when there is one.
	Peer   netip.AddrPort `json:"peer,omitzero"`
	Method string         `json:"method,omitempty"`
	KeyID  string         `json:"key_id,omitempty"`
	JTI    string         `json:"jti,omitempty"`
	Scopes []string       `json:"scopes,omitempty"`
	Result Result         `json:"result"`
	Reason string         `json:"reason,omitempty"`
	// KeyFlags are the flags the key carried when it was used.
	KeyFlags []string `json:"key_flags,omitempty"`
	// Alert names the alert kind for KindAlert events.
	Alert string `json:"alert,omitempty"`
	// Detail holds a few bounded, non-secret facts specific to the kind
	// (a signing key id, a revocation cutoff, a changed field list).
	Detail map[string]string `json:"detail,omitempty"`
	// Prev is the MAC of the previous event; MAC covers Prev and this
	// event's encoding.
	Prev []byte `json:"prev,omitempty"`
	MAC  []byte `json:"mac,omitempty"`
}
