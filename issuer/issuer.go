package issuer

import (
	"crypto"
	"crypto/rand"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// Defaults and bounds applied by New.
const (
	DefaultLeeway        = 30 * time.Second
	MaxLeeway            = 60 * time.Second
	DefaultMaxTokenBytes = 8192
)

// Config configures an Issuer. New validates it and fills the defaults.
type Config struct {
	// Issuer is the iss claim minted and required. Required.
	Issuer string
	// Leeway is the clock skew tolerated on exp, nbf and iat. Zero means
	// DefaultLeeway; more than MaxLeeway is refused because a long leeway
	// quietly extends every token's life.
	Leeway time.Duration
	// MaxTTL caps both minted lifetimes and the exp-iat of verified tokens.
	// Required.
	MaxTTL time.Duration
	// MaxTokenBytes bounds the input Verify will look at. Zero means
	// DefaultMaxTokenBytes.
	MaxTokenBytes int
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// Issuer mints tokens with one active key and verifies tokens signed by the
// active key or by any of the verify-only keys it was built with.
type Issuer struct {
	iss           string
	leeway        time.Duration
	maxTTL        time.Duration
	maxTokenBytes int
	now           func() time.Time
	// rand is the source of jti values; only tests replace it, to get
	// reproducible tokens for the fuzz corpus.
	rand io.Reader

	active *SigningKey
	// signer and header are the active key's method and encoded JWT
	// header, made once: every token carries the same header.
	signer jwt.SigningMethod
	header string
	// opening is the claims' static start, the encoded issuer.
	opening string
	keys    map[string]verificationKey
	jwks    []JWK
	// anyAudience applies the claim rules to calls that name no audience,
	// most of them; it is read-only once built.
	anyAudience *jwt.Validator
}

// verificationKey holds only public material, so that a retired key's private
// half is not kept alive by the Issuer.
type verificationKey struct {
	kid string
	alg string
	pub crypto.PublicKey
}

// New builds an Issuer that signs with active and also accepts tokens signed by
// the verifyOnly keys (keys being rotated out).
func New(cfg Config, active *SigningKey, verifyOnly ...*SigningKey) (*Issuer, error) {
	if cfg.Issuer == "" || !utf8.ValidString(cfg.Issuer) {
		return nil, fmt.Errorf("%w: issuer must be a non-empty UTF-8 string", ErrInvalidConfig)
	}
	switch {
	case cfg.Leeway == 0:
		cfg.Leeway = DefaultLeeway
	case cfg.Leeway < 0 || cfg.Leeway > MaxLeeway:
		return nil, fmt.Errorf("%w: leeway must be between 0 and %s", ErrInvalidConfig, MaxLeeway)
	}
	if cfg.MaxTTL < time.Second {
		return nil, fmt.Errorf("%w: max TTL must be at least one second", ErrInvalidConfig)
	}
	switch {
	case cfg.MaxTokenBytes == 0:
		cfg.MaxTokenBytes = DefaultMaxTokenBytes
	case cfg.MaxTokenBytes < 0:
		return nil, fmt.Errorf("%w: max token bytes must not be negative", ErrInvalidConfig)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if active == nil {
		return nil, fmt.Errorf("%w: an active signing key is required", ErrInvalidConfig)
	}

	i := &Issuer{
		iss:           cfg.Issuer,
		leeway:        cfg.Leeway,
		maxTTL:        cfg.MaxTTL,
		maxTokenBytes: cfg.MaxTokenBytes,
		now:           cfg.Now,
		rand:          rand.Reader,
		active:        active,
		keys:          make(map[string]verificationKey, 1+len(verifyOnly)),
	}
	for n, k := range append([]*SigningKey{active}, verifyOnly...) {
		if !k.usable() {
			return nil, fmt.Errorf("%w: signing key %d is not usable", ErrInvalidConfig, n)
		}
		if _, dup := i.keys[k.kid]; dup {
			return nil, fmt.Errorf("%w: signing key %d duplicates kid %s", ErrInvalidConfig, n, k.kid)
		}
		i.keys[k.kid] = verificationKey{kid: k.kid, alg: k.alg, pub: k.pub}
		i.jwks = append(i.jwks, k.PublicJWK())
	}
	if i.signer = jwt.GetSigningMethod(active.alg); i.signer == nil {
		return nil, fmt.Errorf("%w: no signing method for %s", ErrInvalidConfig, active.alg)
	}
	i.header = encodeHeader(active)
	i.opening = encodeIssuer(cfg.Issuer)
	i.anyAudience = i.newValidator("")
	return i, nil
}

// NewFromKeyring builds an Issuer from keyring entries: the one active key
// signs; next, active and retired keys verify and are published; removed and
// revoked keys do neither. It does not run Plan: callers plan first, so that
// what is persisted and what is served are the same.
func NewFromKeyring(cfg Config, entries []KeyringEntry) (*Issuer, error) {
	kr, err := load(entries)
	if err != nil {
		return nil, err
	}
	if kr.active < 0 {
		return nil, fmt.Errorf("%w: the keyring has no active key", ErrInvalidKeyring)
	}
	var verifyOnly []*SigningKey
	for _, e := range kr.entries {
		if e.State == KeyNext || e.State == KeyRetired {
			verifyOnly = append(verifyOnly, e.Key)
		}
	}
	return New(cfg, kr.entries[kr.active].Key, verifyOnly...)
}
