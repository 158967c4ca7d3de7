package alert

import (
	"errors"
	"fmt"
	"time"
)

// Kind names an anomaly. Kinds are a fixed vocabulary so they can be used
// as metric labels and policy keys.
type Kind string

// Alert kinds.
const (
	// NewIdentity: a key was used by an identity it was never used by.
	NewIdentity Kind = "new_identity"
	// NewNetwork: a key was used from a network (IPv4 /24, IPv6 /64) never
	// seen for it.
	NewNetwork Kind = "new_network"
	// RateSpike: exchanges per minute far above the key's own baseline.
	RateSpike Kind = "rate_spike"
	// ScopeProbe: repeated scope denials for one key.
	ScopeProbe Kind = "scope_probe"
	// InvalidKeyBurst: many malformed, unknown or bad-secret keys presented
	// by one caller identity.
	InvalidKeyBurst Kind = "invalid_key_burst"
	// FlaggedKeyUse: an exchange, granted or denied, with a flagged key.
	FlaggedKeyUse Kind = "flagged_key_use"
)

// Kinds lists every alert kind.
var Kinds = []Kind{NewIdentity, NewNetwork, RateSpike, ScopeProbe, InvalidKeyBurst, FlaggedKeyUse}

// ErrUnknownKind is returned by ParseKind for a name that is not a Kind.
var ErrUnknownKind = errors.New("alert: unknown alert kind")

// ParseKind returns the Kind named s, which must match exactly.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	if len(s) > 64 {
		// The name comes from configuration; keep the error a readable size.
		s = s[:64] + "..."
	}
	return "", fmt.Errorf("%w: %q", ErrUnknownKind, s)
}

// Alert is one detected anomaly. It carries identifiers only, never a
// secret, so it can be written to the audit trail and sent to a webhook as is.
type Alert struct {
	Kind Kind
	// At is the time of the event that raised the alert.
	At time.Time
	// KeyID is empty for invalid_key_burst, which is about a caller, not a key.
	KeyID    string
	Identity string
	// Network is a netip.Prefix in text form, set for new_network.
	Network string
	// Message is one human sentence.
	Message string
	// Detail holds a few facts specific to the kind, such as "count",
	// "baseline_per_min", "window" or "flags".
	Detail map[string]string
}
