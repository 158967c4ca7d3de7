package badger

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

// Key prefixes. Every record type has its own prefix so that a scan of one
// type never decodes another.
const (
	keyPrefix     = "key/"
	revokedPrefix = "rev/jti/"
	signPrefix    = "sign/"
)

// wireVersion is bumped when a record's encoding changes incompatibly, so
// an old binary refuses new data instead of misreading it.
const wireVersion = 1

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
}

func encodeKey(r store.KeyRecord) ([]byte, error) {
	b, err := json.Marshal(keyWire{
		V:                wireVersion,
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
	})
	if err != nil {
		// Only a time outside years 0–9999 can fail here.
		return nil, fmt.Errorf("%w: key record %q: %v", store.ErrInvalidArgument, r.ID, err)
	}
	return b, nil
}

// decodeKey parses a stored record. A record that does not parse means the
// database is damaged, which callers must treat as the store being down.
func decodeKey(id string, b []byte) (store.KeyRecord, error) {
	var w keyWire
	if err := json.Unmarshal(b, &w); err != nil {
		return store.KeyRecord{}, corrupt("key", id, err)
	}
	if w.V != wireVersion {
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
	}
	if err := rec.Validate(); err != nil {
		return store.KeyRecord{}, corrupt("key", id, err)
	}
	// Clone turns decoded empty collections into nil, as documented.
	return rec.Clone(), nil
}

type signWire struct {
	V         int       `json:"v"`
	KID       string    `json:"kid"`
	Alg       string    `json:"alg"`
	Private   []byte    `json:"private"`
	CreatedAt time.Time `json:"created_at,omitzero"`
}

func encodeSigningKey(r store.SigningKeyRecord) ([]byte, error) {
	b, err := json.Marshal(signWire{
		V:         wireVersion,
		KID:       r.KID,
		Alg:       r.Alg,
		Private:   r.Private,
		CreatedAt: r.CreatedAt.UTC(),
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
	rec := store.SigningKeyRecord{KID: w.KID, Alg: w.Alg, Private: w.Private, CreatedAt: w.CreatedAt}
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
