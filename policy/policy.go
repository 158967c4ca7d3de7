package policy

import "time"

// Role is a capability granted to mTLS identities by the policy file.
type Role string

// The only roles a policy may name. Anything else is a load error, so a typo
// cannot quietly leave a role empty.
const (
	RoleAdmin      Role = "admin"
	RoleIntrospect Role = "introspect"
	RoleExchange   Role = "exchange"
)

// Roles lists every valid role.
func Roles() []Role { return []Role{RoleAdmin, RoleIntrospect, RoleExchange} }

// Valid reports whether r is one of the defined roles.
func (r Role) Valid() bool {
	switch r {
	case RoleAdmin, RoleIntrospect, RoleExchange:
		return true
	}
	return false
}

// Defaults and bounds of the token rules.
const (
	DefaultTokenTTL = 10 * time.Minute
	DefaultMaxTTL   = time.Hour
	DefaultLeeway   = 30 * time.Second
	// MaxTokenTTL bounds tokens.max_ttl: a bearer token that lives longer
	// than a day stops being short-lived.
	MaxTokenTTL = 24 * time.Hour
	// MaxLeeway bounds clock skew tolerance; more would quietly extend
	// every token's life.
	MaxLeeway = 60 * time.Second
	// minTokenTTL is the JWT time resolution; anything shorter yields exp == iat.
	minTokenTTL = time.Second
)

// Policy is a validated policy file. Values returned by Parse and Load are
// complete (defaults filled) and must be treated as read-only, so that one
// *Policy can be shared by concurrent requests and swapped on reload.
type Policy struct {
	Issuer string
	Tokens TokenRules
	// Signing holds the rules of the keys that sign tokens.
	Signing SigningRules
	Roles   map[Role][]string
	Scopes  []Scope
	Keys    KeyRules
	// Owners holds the key rules of owners with overrides, each already
	// merged over Keys. Use KeyRulesFor rather than reading it directly.
	Owners map[string]KeyRules
	// Limits are the server-wide rate limits.
	Limits LimitRules
	// Alerts tune anomaly detection and say which alerts disable a key.
	Alerts AlertRules
}

// TokenRules are the policy's limits on minted tokens.
type TokenRules struct {
	DefaultTTL time.Duration
	MaxTTL     time.Duration
	Leeway     time.Duration
}

// Scope is one entry of the scope catalog.
type Scope struct {
	Name        string
	Description string
}

// KeyRules constrain root keys created under the policy. A zero period
// switches its rule off.
type KeyRules struct {
	RequireBinding bool
	// MaxLifetime is the longest a root key may live; 0 means no limit.
	MaxLifetime time.Duration
	// RotationPeriod is how long after its creation or last rotation a key
	// is due for rotation.
	RotationPeriod time.Duration
	// UnusedDisableAfter is how long a key may go unused before it is disabled.
	UnusedDisableAfter time.Duration
	// AttestationPeriod is how often the owner must attest to still needing
	// the key; a key whose attestation lapses is disabled.
	AttestationPeriod time.Duration
	// DefaultRotationGrace is how long the old secret keeps working after a
	// rotation that names no grace; MaxRotationGrace caps any grace asked for.
	DefaultRotationGrace time.Duration
	MaxRotationGrace     time.Duration
	// DefaultRateLimit applies to a root key created without its own limit.
	DefaultRateLimit RateLimit
}

// RateLimit is a token bucket: PerSecond refill rate and Burst capacity.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// Defaults and bounds of the key rules.
const (
	DefaultRotationGrace    = 24 * time.Hour
	DefaultMaxRotationGrace = 720 * time.Hour
	// RotationGraceLimit bounds keys.max_rotation_grace: beyond a year an old
	// secret living on "in grace" is simply a second key nobody tracks.
	RotationGraceLimit   = 8760 * time.Hour
	DefaultRatePerSecond = 10
	DefaultRateBurst     = 20
	// MaxRatePerSecond and MaxRateBurst match what the key API accepts, so
	// that every policy default can also be set on a key.
	MaxRatePerSecond = 1e6
	MaxRateBurst     = 1_000_000
	// MaxOwnerLen matches the longest owner a key may have.
	MaxOwnerLen = 256
)

// DefaultKeyRules returns the key rules of a policy that sets none.
func DefaultKeyRules() KeyRules {
	return KeyRules{
		DefaultRotationGrace: DefaultRotationGrace,
		MaxRotationGrace:     DefaultMaxRotationGrace,
		DefaultRateLimit:     RateLimit{PerSecond: DefaultRatePerSecond, Burst: DefaultRateBurst},
	}
}

// KeyRulesFor returns the rules for keys of owner: the owner's override
// merged over the policy's keys section, or that section when the owner has
// no override. Owner names match exactly. A nil policy yields zero rules,
// under which no rotation grace is allowed.
func (p *Policy) KeyRulesFor(owner string) KeyRules {
	if p == nil {
		return KeyRules{}
	}
	if r, ok := p.Owners[owner]; ok {
		return r
	}
	return p.Keys
}

// HasRole reports whether identity matches any pattern listed for role r.
// Unknown roles and a nil policy grant nothing.
func (p *Policy) HasRole(identity string, r Role) bool {
	if p == nil || !r.Valid() {
		return false
	}
	for _, pattern := range p.Roles[r] {
		if MatchIdentity(pattern, identity) {
			return true
		}
	}
	return false
}

// KnownScope reports whether name is in the scope catalog. The comparison is
// exact: scopes are case-sensitive (RFC 6749 §3.3), so "READ" is not "read".
func (p *Policy) KnownScope(name string) bool {
	if p == nil || ValidateScope(name) != nil {
		return false
	}
	for _, s := range p.Scopes {
		if s.Name == name {
			return true
		}
	}
	return false
}
