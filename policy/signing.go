package policy

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// SigningRules govern the keys that sign tokens: the algorithm of new keys,
// how long each key signs, how early it is published, and how long resource
// servers may cache the JWKS.
type SigningRules struct {
	// Algorithm is the JWS "alg" of newly generated signing keys. Existing
	// keys keep theirs, so changing it takes effect at the next rotation.
	Algorithm string
	// RotationPeriod is how long one signing key signs before the next takes over.
	RotationPeriod time.Duration
	// PublishLead is how long a new key is in the JWKS before it signs, so
	// that verifiers holding a cached JWKS already know it.
	PublishLead time.Duration
	// JWKSMaxAge is the Cache-Control max-age of the JWKS.
	JWKSMaxAge time.Duration
}

// The signing algorithms a policy may name. Names are case-sensitive, as JWS
// "alg" values are (RFC 7515 §4.1.1).
const (
	AlgorithmEdDSA = "EdDSA"
	AlgorithmES256 = "ES256"
	AlgorithmRS256 = "RS256"
)

// SigningAlgorithms lists every algorithm a policy may name, the default first.
func SigningAlgorithms() []string {
	return []string{AlgorithmEdDSA, AlgorithmES256, AlgorithmRS256}
}

// Defaults and bounds of the signing rules.
const (
	DefaultSigningAlgorithm      = AlgorithmEdDSA
	DefaultSigningRotationPeriod = 720 * time.Hour
	DefaultPublishLead           = time.Hour
	DefaultJWKSMaxAge            = 5 * time.Minute
	// MinSigningRotationPeriod: a key that signs for less than a minute
	// makes the JWKS churn faster than any verifier can usefully cache it.
	MinSigningRotationPeriod = time.Minute
	// MaxSigningRotationPeriod: a signing key used for more than a year has
	// effectively stopped rotating.
	MaxSigningRotationPeriod = 8760 * time.Hour
	// MinPublishLead: a key must be published before it signs, or a token
	// can reach a verifier whose JWKS does not hold its key yet.
	MinPublishLead = time.Second
)

// DefaultSigningRules returns the signing rules of a policy that sets none.
func DefaultSigningRules() SigningRules {
	return SigningRules{
		Algorithm:      DefaultSigningAlgorithm,
		RotationPeriod: DefaultSigningRotationPeriod,
		PublishLead:    DefaultPublishLead,
		JWKSMaxAge:     DefaultJWKSMaxAge,
	}
}

// fileSigning is the signing section. Algorithm is a pointer so that an
// explicit empty name is an error rather than the default.
type fileSigning struct {
	Algorithm      *string   `yaml:"algorithm"`
	RotationPeriod *duration `yaml:"rotation_period"`
	PublishLead    *duration `yaml:"publish_lead"`
	JWKSMaxAge     *duration `yaml:"jwks_max_age"`
}

// buildSigning fills defaults and validates the signing section. A relation
// between two fields is checked only when both are valid on their own, and
// it blames the field the file sets, so that one mistake gives one message.
func buildSigning(f fileSigning, add func(string, error)) SigningRules {
	s := DefaultSigningRules()
	if f.Algorithm != nil {
		s.Algorithm = *f.Algorithm
	}
	s.RotationPeriod = f.RotationPeriod.get(s.RotationPeriod)
	s.PublishLead = f.PublishLead.get(s.PublishLead)
	if f.JWKSMaxAge != nil {
		s.JWKSMaxAge = f.JWKSMaxAge.get(0)
	} else if s.PublishLead >= MinPublishLead {
		// Setting only a short publish_lead should not be an error: a
		// shorter cache lifetime is always safe.
		s.JWKSMaxAge = min(s.JWKSMaxAge, s.PublishLead)
	}

	if !slices.Contains(SigningAlgorithms(), s.Algorithm) {
		add("signing.algorithm", fmt.Errorf("unknown algorithm %s (want EdDSA, ES256 or RS256)", quote(s.Algorithm)))
	}

	periodValid := false
	switch {
	case s.RotationPeriod < MinSigningRotationPeriod:
		add("signing.rotation_period", fmt.Errorf("must be at least %v", MinSigningRotationPeriod))
	case s.RotationPeriod > MaxSigningRotationPeriod:
		add("signing.rotation_period", fmt.Errorf("must not exceed %v", MaxSigningRotationPeriod))
	default:
		periodValid = true
	}

	leadValid := s.PublishLead >= MinPublishLead
	if !leadValid {
		add("signing.publish_lead", fmt.Errorf("must be at least %v", MinPublishLead))
	}
	// A lead as long as the period would publish each key before its
	// predecessor has started signing.
	if periodValid && leadValid && s.PublishLead >= s.RotationPeriod {
		if f.PublishLead != nil {
			add("signing.publish_lead", fmt.Errorf("%v must be shorter than signing.rotation_period (%v)", s.PublishLead, s.RotationPeriod))
		} else {
			add("signing.rotation_period", fmt.Errorf("%v must be longer than signing.publish_lead (%v)", s.RotationPeriod, s.PublishLead))
		}
	}

	switch {
	case s.JWKSMaxAge < 0:
		add("signing.jwks_max_age", errors.New("must not be negative"))
	case leadValid && s.JWKSMaxAge > s.PublishLead:
		// A verifier may serve a cached JWKS this long; past the lead, a
		// new key could sign tokens that the verifier cannot check yet.
		// Only an explicit value gets here: the default is capped above.
		add("signing.jwks_max_age", fmt.Errorf("%v exceeds signing.publish_lead (%v)", s.JWKSMaxAge, s.PublishLead))
	}
	return s
}
