package store

import (
	"fmt"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// KeyState is the lifecycle state of a root key.
type KeyState uint8

// Key states. Unspecified is only meaningful in a KeyQuery, where it means
// "any state"; stored records always carry one of the others.
const (
	KeyStateUnspecified KeyState = iota
	KeyStateActive
	KeyStateDisabled
	KeyStateRevoked
	KeyStateExpired
)

var keyStateNames = [...]string{"unspecified", "active", "disabled", "revoked", "expired"}

// String returns the lower-case state name, e.g. "active".
func (s KeyState) String() string {
	if int(s) < len(keyStateNames) {
		return keyStateNames[s]
	}
	return "KeyState(" + strconv.Itoa(int(s)) + ")"
}

// ParseKeyState is the inverse of KeyState.String.
func ParseKeyState(name string) (KeyState, error) {
	for i, n := range keyStateNames {
		if n == name {
			return KeyState(i), nil
		}
	}
	return KeyStateUnspecified, fmt.Errorf("%w: unknown key state %q", ErrInvalidArgument, name)
}

// RevocationReason says why a root key was revoked.
type RevocationReason uint8

// Revocation reasons.
const (
	ReasonUnspecified RevocationReason = iota
	ReasonCompromised
	ReasonLeaked
	ReasonDecommissioned
	ReasonSuperseded
	ReasonOther
)

var reasonNames = [...]string{"unspecified", "compromised", "leaked", "decommissioned", "superseded", "other"}

// String returns the lower-case reason name, e.g. "leaked".
func (r RevocationReason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "RevocationReason(" + strconv.Itoa(int(r)) + ")"
}

// ParseRevocationReason is the inverse of RevocationReason.String.
func ParseRevocationReason(name string) (RevocationReason, error) {
	for i, n := range reasonNames {
		if n == name {
			return RevocationReason(i), nil
		}
	}
	return ReasonUnspecified, fmt.Errorf("%w: unknown revocation reason %q", ErrInvalidArgument, name)
}

const redacted = "[REDACTED]"

// RateLimit is a per-key override of the exchange rate limit. The zero
// value means the policy default applies.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// KeyRecord is a root key's stored record. SecretHash is
// HMAC-SHA256(pepper, secret). Empty slices and maps are returned as nil.
// Zero times, durations and counts mean "unset".
type KeyRecord struct {
	ID, Owner, Description, CreatedBy  string
	Labels                             map[string]string
	SecretHash                         []byte
	Scopes, Audiences, BoundIdentities []string
	MaxTTL                             time.Duration
	State                              KeyState
	RevocationReason                   RevocationReason
	CreatedAt, ExpiresAt, RevokedAt    time.Time

	RotationPeriod time.Duration // 0 = the policy rule applies
	RateLimit      RateLimit
	LastUsedAt     time.Time
	UseCount       uint64
	LastAttestedAt time.Time
	RotatedAt      time.Time
	// PreviousSecretHash is the hash of the secret replaced by the latest
	// rotation; it is still accepted while now < GraceDeadline, so that
	// workloads can roll over without an outage.
	PreviousSecretHash []byte
	GraceDeadline      time.Time
	DisabledAt         time.Time
	DisabledReason     string
	EnabledAt          time.Time
	RotationFlaggedAt  time.Time  // when the janitor last flagged rotation as due
	History            []KeyEvent // oldest first, at most MaxKeyHistory
}

// Clone returns a deep copy, so that neither side can change the other's
// slices or maps.
func (r KeyRecord) Clone() KeyRecord {
	r.Labels = cloneMap(r.Labels)
	r.SecretHash = cloneBytes(r.SecretHash)
	r.Scopes = cloneStrings(r.Scopes)
	r.Audiences = cloneStrings(r.Audiences)
	r.BoundIdentities = cloneStrings(r.BoundIdentities)
	r.PreviousSecretHash = cloneBytes(r.PreviousSecretHash)
	if len(r.History) == 0 {
		r.History = nil
	} else {
		r.History = slices.Clone(r.History)
	}
	return r
}

// Validate checks the rules every backend enforces on a stored record.
func (r KeyRecord) Validate() error {
	if err := CheckID("key id", r.ID); err != nil {
		return err
	}
	if r.State < KeyStateActive || r.State > KeyStateExpired {
		return fmt.Errorf("%w: key state %v cannot be stored", ErrInvalidArgument, r.State)
	}
	if r.RevocationReason > ReasonOther {
		return fmt.Errorf("%w: revocation reason %v cannot be stored", ErrInvalidArgument, r.RevocationReason)
	}
	if r.MaxTTL < 0 {
		return fmt.Errorf("%w: negative max TTL", ErrInvalidArgument)
	}
	if r.RotationPeriod < 0 {
		return fmt.Errorf("%w: negative rotation period", ErrInvalidArgument)
	}
	// !(x >= 0) also rejects NaN, which would make every comparison
	// false; neither NaN nor infinity can be encoded by every backend.
	if rl := r.RateLimit; !(rl.PerSecond >= 0) || math.IsInf(rl.PerSecond, 1) || rl.Burst < 0 {
		return fmt.Errorf("%w: rate limit must be finite and not negative", ErrInvalidArgument)
	}
	if len(r.History) > MaxKeyHistory {
		return fmt.Errorf("%w: history longer than %d events", ErrInvalidArgument, MaxKeyHistory)
	}
	return nil
}

// String prints the record with SecretHash and PreviousSecretHash
// redacted, so a record that ends up in a log or an error does not disclose
// either hash.
func (r KeyRecord) String() string {
	prev := ""
	if len(r.PreviousSecretHash) > 0 {
		prev = redacted
	}
	return fmt.Sprintf("{ID:%q Owner:%q Description:%q CreatedBy:%q Labels:%v SecretHash:%s "+
		"Scopes:%q Audiences:%q BoundIdentities:%q MaxTTL:%v State:%v RevocationReason:%v "+
		"CreatedAt:%v ExpiresAt:%v RevokedAt:%v RotationPeriod:%v RateLimit:%+v "+
		"LastUsedAt:%v UseCount:%d LastAttestedAt:%v RotatedAt:%v PreviousSecretHash:%s "+
		"GraceDeadline:%v DisabledAt:%v DisabledReason:%q EnabledAt:%v RotationFlaggedAt:%v "+
		"History:%d events}",
		r.ID, r.Owner, r.Description, r.CreatedBy, r.Labels, redacted,
		r.Scopes, r.Audiences, r.BoundIdentities, r.MaxTTL, r.State, r.RevocationReason,
		r.CreatedAt, r.ExpiresAt, r.RevokedAt, r.RotationPeriod, r.RateLimit,
		r.LastUsedAt, r.UseCount, r.LastAttestedAt, r.RotatedAt, prev,
		r.GraceDeadline, r.DisabledAt, r.DisabledReason, r.EnabledAt, r.RotationFlaggedAt,
		len(r.History))
}

// GoString keeps %#v from printing SecretHash.
func (r KeyRecord) GoString() string { return "store.KeyRecord" + r.String() }

// Format makes every fmt verb go through String or GoString.
func (r KeyRecord) Format(f fmt.State, verb rune) { format(f, verb, r.String(), r.GoString()) }

// LogValue keeps slog from printing SecretHash.
func (r KeyRecord) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", r.ID),
		slog.String("owner", r.Owner),
		slog.String("state", r.State.String()),
		slog.String("secret_hash", redacted),
		slog.String("previous_secret_hash", redacted),
	)
}

// KeyPage is one page of ListKeys results. NextPageToken is empty on the
// last page.
type KeyPage struct {
	Keys          []KeyRecord
	NextPageToken string
}

// SigningKeyRecord holds a token-signing key. Private is PKCS#8 DER; it is
// stored as is because backends encrypt at rest.
type SigningKeyRecord struct {
	KID, Alg  string
	Private   []byte
	CreatedAt time.Time
	// State is the key's place in the signing keyring: next, active,
	// retired, removed or revoked. Empty means a record from before states
	// were kept; the keyring decides what it is.
	State                                                   string
	ActivateAt, ActivatedAt, RetiredAt, RemoveAt, RevokedAt time.Time // zero = unset
}

// Clone returns a deep copy.
func (r SigningKeyRecord) Clone() SigningKeyRecord {
	r.Private = cloneBytes(r.Private)
	return r
}

// Validate checks the rules every backend enforces on a stored signing key.
func (r SigningKeyRecord) Validate() error {
	if err := CheckID("signing key id", r.KID); err != nil {
		return err
	}
	if r.Alg == "" {
		return fmt.Errorf("%w: signing key without algorithm", ErrInvalidArgument)
	}
	if len(r.Private) == 0 {
		return fmt.Errorf("%w: signing key without private key", ErrInvalidArgument)
	}
	return nil
}

// String prints the record with the private key redacted.
func (r SigningKeyRecord) String() string {
	return fmt.Sprintf("{KID:%q Alg:%q Private:%s CreatedAt:%v State:%q ActivateAt:%v ActivatedAt:%v RetiredAt:%v RemoveAt:%v RevokedAt:%v}",
		r.KID, r.Alg, redacted, r.CreatedAt, r.State, r.ActivateAt, r.ActivatedAt, r.RetiredAt, r.RemoveAt, r.RevokedAt)
}

// GoString keeps %#v from printing the private key.
func (r SigningKeyRecord) GoString() string { return "store.SigningKeyRecord" + r.String() }

// Format makes every fmt verb go through String or GoString.
func (r SigningKeyRecord) Format(f fmt.State, verb rune) {
	format(f, verb, r.String(), r.GoString())
}

// LogValue keeps slog from printing the private key.
func (r SigningKeyRecord) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("kid", r.KID),
		slog.String("alg", r.Alg),
		slog.String("state", r.State),
		slog.String("private", redacted),
	)
}

// CheckID enforces the identifier rules shared by key IDs, token IDs and
// signing-key IDs: non-empty, valid UTF-8, at most MaxIDLength bytes.
func CheckID(kind, id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty %s", ErrInvalidArgument, kind)
	case len(id) > MaxIDLength:
		return fmt.Errorf("%w: %s longer than %d bytes", ErrInvalidArgument, kind, MaxIDLength)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidArgument, kind)
	}
	return nil
}

func format(f fmt.State, verb rune, s, gs string) {
	if verb == 'v' && f.Flag('#') {
		_, _ = fmt.Fprint(f, gs)
		return
	}
	_, _ = fmt.Fprint(f, s)
}

func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return slices.Clone(b)
}

func cloneStrings(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

func cloneMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}
