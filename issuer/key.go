package issuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"log/slog"
)

// JWS algorithms a signing key may have. Each key signs with exactly one, fixed
// by its type, and Verify accepts only that one for the key's kid.
const (
	// AlgEdDSA is Ed25519 (RFC 8037).
	AlgEdDSA = "EdDSA"
	// AlgES256 is ECDSA on P-256 with SHA-256, signatures as raw r||s.
	AlgES256 = "ES256"
	// AlgRS256 is RSASSA-PKCS1-v1_5 with SHA-256.
	AlgRS256 = "RS256"
)

// rsaBits is the size of generated RSA keys; parsed keys may be larger but
// never smaller.
const rsaBits = 2048

const redacted = "[REDACTED]"

// SigningKey is a private token-signing key with its key id. It prints as
// [REDACTED] through fmt and slog so that it cannot leak into logs by accident.
type SigningKey struct {
	kid  string
	alg  string
	priv crypto.Signer
	pub  crypto.PublicKey
	jwk  JWK
}

// GenerateSigningKey creates a new Ed25519 signing key from crypto/rand.
func GenerateSigningKey() (*SigningKey, error) { return GenerateSigningKeyAlg(AlgEdDSA) }

// GenerateSigningKeyAlg creates a new key for alg: Ed25519 for EdDSA, P-256 for
// ES256 and 2048-bit RSA for RS256.
func GenerateSigningKeyAlg(alg string) (*SigningKey, error) {
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case AlgEdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case AlgRS256:
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits)
	default:
		return nil, fmt.Errorf("%w: unsupported algorithm %q", ErrInvalidSigningKey, alg)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: generate: %w", ErrInvalidSigningKey, err)
	}
	return newSigningKey(priv)
}

// ParseSigningKey reads a PKCS#8 DER private key: Ed25519, ECDSA on P-256 or
// RSA of at least 2048 bits. The key type decides the algorithm.
func ParseSigningKey(pkcs8DER []byte) (*SigningKey, error) {
	k, err := x509.ParsePKCS8PrivateKey(pkcs8DER)
	if err != nil {
		// The parser's message never quotes key bytes, but the detail is of
		// no use to anyone either, so it is not wrapped.
		return nil, fmt.Errorf("%w: not a PKCS#8 private key", ErrInvalidSigningKey)
	}
	priv, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: unsupported key type %T", ErrInvalidSigningKey, k)
	}
	return newSigningKey(priv)
}

// newSigningKey checks that priv is one of the supported kinds and derives the
// algorithm, the public JWK and the kid from it.
func newSigningKey(priv crypto.Signer) (*SigningKey, error) {
	k := &SigningKey{priv: priv, pub: priv.Public()}
	var err error
	switch p := priv.(type) {
	case ed25519.PrivateKey:
		k.alg = AlgEdDSA
		k.jwk = okpJWK(p.Public().(ed25519.PublicKey))
	case *ecdsa.PrivateKey:
		if p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: only P-256 ECDSA keys are supported", ErrInvalidSigningKey)
		}
		k.alg = AlgES256
		k.jwk, err = ecJWK(&p.PublicKey)
	case *rsa.PrivateKey:
		if p.N.BitLen() < rsaBits {
			return nil, fmt.Errorf("%w: RSA keys must have at least %d bits", ErrInvalidSigningKey, rsaBits)
		}
		k.alg = AlgRS256
		k.jwk = rsaJWK(&p.PublicKey)
	default:
		return nil, fmt.Errorf("%w: unsupported key type %T", ErrInvalidSigningKey, priv)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSigningKey, err)
	}
	k.kid = thumbprint(k.jwk)
	k.jwk.Kid, k.jwk.Alg, k.jwk.Use = k.kid, k.alg, "sig"
	return k, nil
}

// usable reports whether k was built by this package rather than being a zero
// value or a nil pointer.
func (k *SigningKey) usable() bool {
	return k != nil && k.kid != "" && k.priv != nil && k.pub != nil
}

// MarshalPKCS8 returns the private key as PKCS#8 DER, for storage.
func (k *SigningKey) MarshalPKCS8() ([]byte, error) {
	if !k.usable() {
		return nil, fmt.Errorf("%w: empty key", ErrInvalidSigningKey)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.priv)
	if err != nil {
		return nil, fmt.Errorf("%w: marshal: %w", ErrInvalidSigningKey, err)
	}
	return der, nil
}

// KID is the RFC 7638 JWK thumbprint of the public key, so the same key always
// gets the same id wherever it is loaded.
func (k *SigningKey) KID() string { return k.kid }

// Alg is the JWS algorithm this key signs with.
func (k *SigningKey) Alg() string { return k.alg }

// PublicJWK is the public half of the key as a JWK.
func (k *SigningKey) PublicJWK() JWK { return k.jwk }

// String implements fmt.Stringer without revealing the key.
func (SigningKey) String() string { return redacted }

// GoString implements fmt.GoStringer without revealing the key.
func (SigningKey) GoString() string { return redacted }

// Format implements fmt.Formatter so that every verb, including %x and %#v,
// prints the placeholder instead of the key bytes.
func (SigningKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue implements slog.LogValuer without revealing the key.
func (SigningKey) LogValue() slog.Value { return slog.StringValue(redacted) }
