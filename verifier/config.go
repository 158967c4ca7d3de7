package verifier

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"google.golang.org/grpc"
)

// Defaults and bounds applied by New.
const (
	DefaultLeeway       = 30 * time.Second
	MaxLeeway           = 60 * time.Second
	DefaultMaxStaleness = 30 * time.Second
	// MaxTokenBytes is the largest token Verify looks at; Latchkey's tokens
	// are well under 2 KiB.
	MaxTokenBytes = 8192
	// JWKSRefetchInterval is the least time between two JWKS fetches caused
	// by unknown kids, so a flood of made-up kids costs Latchkey one request
	// per interval at most.
	JWKSRefetchInterval = 10 * time.Second
)

// maxLifetime bounds exp-iat. Latchkey's policy refuses a max_ttl above a
// day, so a longer-lived token cannot be one of its own.
const maxLifetime = 24 * time.Hour

// Mode selects how tokens are checked.
type Mode int

const (
	// ModeLocal verifies signatures against the JWKS and checks a local
	// revocation replica; no call to Latchkey per token.
	ModeLocal Mode = iota
	// ModeIntrospect calls IntrospectToken for every token.
	ModeIntrospect
)

func (m Mode) String() string {
	switch m {
	case ModeLocal:
		return "local"
	case ModeIntrospect:
		return "introspect"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Config configures a Verifier. New validates it and fills the defaults.
type Config struct {
	// Conn is a mutually authenticated TLS connection to Latchkey as an
	// identity holding the introspect role. Required in both modes.
	Conn grpc.ClientConnInterface
	// JWKSURL, when set, is an https URL the JWKS is fetched from instead of
	// GetJWKS.
	JWKSURL string
	// HTTPClient fetches JWKSURL. Nil means a private client whose idle
	// connections Close releases.
	HTTPClient *http.Client
	// Issuer is the iss every token must carry. Required.
	Issuer string
	// Audience is this resource server's audience; every token must name it.
	// Required.
	Audience string
	// Leeway is the clock skew tolerated on exp, nbf and iat. Zero means
	// DefaultLeeway; more than MaxLeeway is refused because a long leeway
	// quietly extends every token's life.
	Leeway time.Duration
	// MaxStaleness is how long the revocation stream may be down before
	// Verify stops trusting the replica. Zero means DefaultMaxStaleness.
	MaxStaleness time.Duration
	// FailOpen accepts tokens past MaxStaleness instead of returning
	// ErrStale, logging a warning. Revocations made while the stream is down
	// are then not honoured; opt in only where availability matters more.
	FailOpen bool
	// Mode is ModeLocal (the zero value) or ModeIntrospect.
	Mode Mode
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Logger receives stream and fail-open events. Tokens are never logged.
	// Nil discards.
	Logger *slog.Logger
}

func (c *Config) fill() error {
	switch {
	case c.Conn == nil:
		return fmt.Errorf("%w: a connection to Latchkey is required", ErrConfig)
	case c.Issuer == "":
		return fmt.Errorf("%w: issuer is required", ErrConfig)
	case c.Audience == "":
		return fmt.Errorf("%w: audience is required", ErrConfig)
	case c.Mode != ModeLocal && c.Mode != ModeIntrospect:
		return fmt.Errorf("%w: unknown mode %v", ErrConfig, c.Mode)
	case c.Leeway < 0 || c.Leeway > MaxLeeway:
		return fmt.Errorf("%w: leeway must be between 0 and %s", ErrConfig, MaxLeeway)
	case c.MaxStaleness < 0:
		return fmt.Errorf("%w: max staleness must not be negative", ErrConfig)
	}
	if c.JWKSURL != "" {
		u, err := url.Parse(c.JWKSURL)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" {
			return fmt.Errorf("%w: JWKS URL must be an absolute https URL", ErrConfig)
		}
	}
	if c.Leeway == 0 {
		c.Leeway = DefaultLeeway
	}
	if c.MaxStaleness == 0 {
		c.MaxStaleness = DefaultMaxStaleness
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}
