package badger

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

// Key prefixes. Every record type has its own prefix so that a scan of one
// type never decodes another.
//
// The prefixes written all the time, the audit trail's and the usage
// entries', sort before keyPrefix, so the key records are not between
// them. Badger merges a level-0 table into the level below with every table
// there that overlaps the range from its first key to its last: a table
// holding both audit and usage writes used to span every key record, and
// each such merge rewrote all of them (with 100,000 keys, about 40 tables
// and 90 MB of Badger's buffers, once a minute after the usage flush).
const (
	keyPrefix   = "key/"
	usagePrefix = "ause/"
	signPrefix  = "sign/"
	// legacyUsagePrefix is where usage entries lived before they moved in
	// front of the key records; Open moves any found there.
	legacyUsagePrefix = "kuse/"
)

// wireVersion is bumped when a record's encoding changes, so an old binary
// refuses new data instead of misreading it (dropping fields it does not
// know on the next update). Key records are at keyWireVersion and still
// decode from keyWireV1, which lacked the lifecycle fields; signing keys
// are unchanged at wireVersion.
const (
	wireVersion    = 1
	keyWireV1      = 1
	keyWireVersion = 2
)

// keyWire is the stored form of store.KeyRecord. Enums are stored by name,
// so that reordering the Go constants cannot silently change stored states.
type keyWire struct {
	V                int               `json:"v"`
	ID               string            `json:"id"`
	Owner            string            `json:"owner,omitempty"`
	Description      string            `json:"description,omitempty"`
	CreatedBy        string            `json:"created_by,omitempty"`
	Labels           map[string]string `json:"labels,omitempty"`
	SecretHash       []byte            `json:"secret_hash,omitempty"`
	Scopes           []string          `json:"scopes,omitempty"`
	Audiences        []string          `json:"audiences,omitempty"`
	BoundIdentities  []string          `json:"bound_identities,omitempty"`
	MaxTTL           time.Duration     `json:"max_ttl_ns,omitempty"`
	State            string            `json:"state"`
	RevocationReason string            `json:"revocation_reason,omitempty"`
	CreatedAt        time.Time         `json:"created_at,omitzero"`
	ExpiresAt        time.Time         `json:"expires_at,omitzero"`
	RevokedAt        time.Time         `json:"revoked_at,omitzero"`

	// Added in version 2; absent (zero) in version 1 records.
	RotationPeriod     time.Duration `json:"rotation_period_ns,omitempty"`
	RateLimitPerSecond float64       `json:"rate_limit_per_second,omitempty"`
	RateLimitBurst     int           `json:"rate_limit_burst,omitempty"`
	LastUsedAt         time.Time     `json:"last_used_at,omitzero"`
	UseCount           uint64        `json:"use_count,omitempty"`
	LastAttestedAt     time.Time     `json:"last_attested_at,omitzero"`
	RotatedAt          time.Time     `json:"rotated_at,omitzero"`
	PreviousSecretHash []byte        `json:"previous_secret_hash,omitempty"`
	GraceDeadline      time.Time     `json:"grace_deadline,omitzero"`
	DisabledAt         time.Time     `json:"disabled_at,omitzero"`
	DisabledReason     string        `json:"disabled_reason,omitempty"`
	EnabledAt          time.Time     `json:"enabled_at,omitzero"`
	RotationFlaggedAt  time.Time     `json:"rotation_flagged_at,omitzero"`
	History            []eventWire   `json:"history,omitempty"`
}

type eventWire struct {
	At     time.Time `json:"at,omitzero"`
	Action string    `json:"action"`
	Actor  string    `json:"actor,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

func encodeKey(r store.KeyRecord) ([]byte, error) {
	b, err := json.Marshal(keyWire{
		V:                keyWireVersion,
		ID:               r.ID,
		Owner:            r.Owner,
		Description:      r.Description,
		CreatedBy:        r.CreatedBy,
		Labels:           r.Labels,
		SecretHash:       r.SecretHash,
		Scopes:           r.Scopes,
		Audiences:        r.Audiences,
		BoundIdentities:  r.BoundIdentities,
		MaxTTL:           r.MaxTTL,
		State:            r.State.String(),
		RevocationReason: r.RevocationReason.String(),
		CreatedAt:        r.CreatedAt.UTC(),
		ExpiresAt:        r.ExpiresAt.UTC(),
		RevokedAt:        r.RevokedAt.UTC(),

		RotationPeriod:     r.RotationPeriod,
		RateLimitPerSecond: r.RateLimit.PerSecond,
		RateLimitBurst:     r.RateLimit.Burst,
		LastUsedAt:         r.LastUsedAt.UTC(),
		UseCount:           r.UseCount,
		LastAttestedAt:     r.LastAttestedAt.UTC(),
		RotatedAt:          r.RotatedAt.UTC(),
		PreviousSecretHash: r.PreviousSecretHash,
		GraceDeadline:      r.GraceDeadline.UTC(),
		DisabledAt:         r.DisabledAt.UTC(),
		DisabledReason:     r.DisabledReason,
		EnabledAt:          r.EnabledAt.UTC(),
		RotationFlaggedAt:  r.RotationFlaggedAt.UTC(),
		History:            encodeEvents(r.History),
	})
	if err != nil {
		// Validate rejects non-finite rate limits, so only a time outside
		// years 0–9999 can fail here.
		return nil, fmt.Errorf("%w: key record %q: %v", store.ErrInvalidArgument, r.ID, err)
	}
	return b, nil
}

// decodeKey parses a stored record. A record that does not parse means the
// database is damaged, which callers must treat as the store being down.
// keyWireNoHistory decodes a record without its history, which only
// grows: the history is still scanned as JSON, but not decoded.
type keyWireNoHistory struct {
	keyWire
	History skipJSON `json:"history,omitempty"`
}

// skipJSON takes any JSON value and keeps nothing.
type skipJSON struct{}

func (*skipJSON) UnmarshalJSON([]byte) error { return nil }

func decodeKey(id string, b []byte) (store.KeyRecord, error) {
	return decodeKeyWith(id, b, true)
}

// decodeKeyWith decodes a record, with its history only when history is
// set.
func decodeKeyWith(id string, b []byte, history bool) (store.KeyRecord, error) {
	var wire keyWire
	if !decodeKeyWireFast(b, &wire, history) {
		var err error
		if wire, err = decodeKeyWireJSON(b, history); err != nil {
			return store.KeyRecord{}, corrupt("key", id, err)
		}
	}
	w := &wire
	if w.V != keyWireV1 && w.V != keyWireVersion {
		return store.KeyRecord{}, corrupt("key", id, fmt.Errorf("unsupported version %d", w.V))
	}
	if w.ID != id {
		return store.KeyRecord{}, corrupt("key", id, fmt.Errorf("stored under a different id"))
	}
	state, err := store.ParseKeyState(w.State)
	if err != nil {
		return store.KeyRecord{}, corrupt("key", id, err)
	}
	reason := store.ReasonUnspecified
	if w.RevocationReason != "" {
		if reason, err = store.ParseRevocationReason(w.RevocationReason); err != nil {
			return store.KeyRecord{}, corrupt("key", id, err)
		}
	}
	rec := store.KeyRecord{
		ID:               w.ID,
		Owner:            w.Owner,
		Description:      w.Description,
		CreatedBy:        w.CreatedBy,
		Labels:           w.Labels,
		SecretHash:       w.SecretHash,
		Scopes:           w.Scopes,
		Audiences:        w.Audiences,
		BoundIdentities:  w.BoundIdentities,
		MaxTTL:           w.MaxTTL,
		State:            state,
		RevocationReason: reason,
		CreatedAt:        w.CreatedAt,
		ExpiresAt:        w.ExpiresAt,
		RevokedAt:        w.RevokedAt,

		RotationPeriod:     w.RotationPeriod,
		RateLimit:          store.RateLimit{PerSecond: w.RateLimitPerSecond, Burst: w.RateLimitBurst},
		LastUsedAt:         w.LastUsedAt,
		UseCount:           w.UseCount,
		LastAttestedAt:     w.LastAttestedAt,
		RotatedAt:          w.RotatedAt,
		PreviousSecretHash: w.PreviousSecretHash,
		GraceDeadline:      w.GraceDeadline,
		DisabledAt:         w.DisabledAt,
		DisabledReason:     w.DisabledReason,
		EnabledAt:          w.EnabledAt,
		RotationFlaggedAt:  w.RotationFlaggedAt,
		History:            decodeEvents(w.History),
	}
	if err := rec.Validate(); err != nil {
		return store.KeyRecord{}, corrupt("key", id, err)
	}
	emptyToNil(&rec)
	return rec, nil
}

// emptyToNil makes a decoded record's empty collections nil, as
// store.KeyRecord documents. Decoding made every collection afresh, so the
// record shares nothing and needs no copy.
func emptyToNil(r *store.KeyRecord) {
	if len(r.Labels) == 0 {
		r.Labels = nil
	}
	if len(r.SecretHash) == 0 {
		r.SecretHash = nil
	}
	if len(r.Scopes) == 0 {
		r.Scopes = nil
	}
	if len(r.Audiences) == 0 {
		r.Audiences = nil
	}
	if len(r.BoundIdentities) == 0 {
		r.BoundIdentities = nil
	}
	if len(r.PreviousSecretHash) == 0 {
		r.PreviousSecretHash = nil
	}
	if len(r.History) == 0 {
		r.History = nil
	}
}

// decodeKeyWireJSON decodes a record with encoding/json, whatever its form.
func decodeKeyWireJSON(b []byte, history bool) (keyWire, error) {
	var lean keyWireNoHistory
	if history {
		err := json.Unmarshal(b, &lean.keyWire)
		return lean.keyWire, err
	}
	err := json.Unmarshal(b, &lean)
	return lean.keyWire, err
}

func encodeEvents(events []store.KeyEvent) []eventWire {
	if len(events) == 0 {
		return nil
	}
	out := make([]eventWire, len(events))
	for i, e := range events {
		out[i] = eventWire{At: e.At.UTC(), Action: e.Action, Actor: e.Actor, Reason: e.Reason, Detail: e.Detail}
	}
	return out
}

func decodeEvents(events []eventWire) []store.KeyEvent {
	if len(events) == 0 {
		return nil
	}
	out := make([]store.KeyEvent, len(events))
	for i, e := range events {
		out[i] = store.KeyEvent{At: e.At, Action: e.Action, Actor: e.Actor, Reason: e.Reason, Detail: e.Detail}
	}
	return out
}

// signWire gained the keyring fields without a version change: records
// written before them decode with those fields zero.
type signWire struct {
	V           int       `json:"v"`
	KID         string    `json:"kid"`
	Alg         string    `json:"alg"`
	Private     []byte    `json:"private"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
	State       string    `json:"state,omitempty"`
	ActivateAt  time.Time `json:"activate_at,omitzero"`
	ActivatedAt time.Time `json:"activated_at,omitzero"`
	RetiredAt   time.Time `json:"retired_at,omitzero"`
	RemoveAt    time.Time `json:"remove_at,omitzero"`
	RevokedAt   time.Time `json:"revoked_at,omitzero"`
}

func encodeSigningKey(r store.SigningKeyRecord) ([]byte, error) {
	b, err := json.Marshal(signWire{
		V:           wireVersion,
		KID:         r.KID,
		Alg:         r.Alg,
		Private:     r.Private,
		CreatedAt:   r.CreatedAt.UTC(),
		State:       r.State,
		ActivateAt:  r.ActivateAt.UTC(),
		ActivatedAt: r.ActivatedAt.UTC(),
		RetiredAt:   r.RetiredAt.UTC(),
		RemoveAt:    r.RemoveAt.UTC(),
		RevokedAt:   r.RevokedAt.UTC(),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: signing key %q: %v", store.ErrInvalidArgument, r.KID, err)
	}
	return b, nil
}

func decodeSigningKey(kid string, b []byte) (store.SigningKeyRecord, error) {
	var w signWire
	if err := json.Unmarshal(b, &w); err != nil {
		return store.SigningKeyRecord{}, corrupt("signing key", kid, err)
	}
	if w.V != wireVersion {
		return store.SigningKeyRecord{}, corrupt("signing key", kid, fmt.Errorf("unsupported version %d", w.V))
	}
	rec := store.SigningKeyRecord{KID: w.KID, Alg: w.Alg, Private: w.Private, CreatedAt: w.CreatedAt,
		State: w.State, ActivateAt: w.ActivateAt, ActivatedAt: w.ActivatedAt, RetiredAt: w.RetiredAt,
		RemoveAt: w.RemoveAt, RevokedAt: w.RevokedAt}
	if rec.KID != kid {
		return store.SigningKeyRecord{}, corrupt("signing key", kid, fmt.Errorf("stored under a different id"))
	}
	if err := rec.Validate(); err != nil {
		return store.SigningKeyRecord{}, corrupt("signing key", kid, err)
	}
	return rec, nil
}

// corrupt reports a damaged record. A JSON syntax error quotes the
// offending byte, which may belong to a secret, so only its kind is kept.
func corrupt(kind, id string, err error) error {
	if _, ok := err.(*json.SyntaxError); ok {
		err = fmt.Errorf("malformed JSON")
	}
	return fmt.Errorf("%w: corrupt %s record %q: %v", store.ErrUnavailable, kind, id, err)
}
