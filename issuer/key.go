package issuer

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"log/slog"
)

// AlgEdDSA is the JWS algorithm of Ed25519 signing keys (RFC 8037).
const AlgEdDSA = "EdDSA"

const redacted = "[REDACTED]"

// SigningKey is a private token-signing key with its key id. It prints as
// [REDACTED] through fmt and slog so that it cannot leak into logs by accident.
type SigningKey struct {
	kid  string
	alg  string
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
}

// GenerateSigningKey creates a new Ed25519 signing key from crypto/rand.
func GenerateSigningKey() (*SigningKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("%w: generate: %w", ErrInvalidSigningKey, err)
	}
	return newEd25519Key(priv), nil
}

// ParseSigningKey reads a PKCS#8 DER private key. Only Ed25519 is accepted.
func ParseSigningKey(pkcs8DER []byte) (*SigningKey, error) {
	k, err := x509.ParsePKCS8PrivateKey(pkcs8DER)
	if err != nil {
		// The parser's message never quotes key bytes, but the detail is of
		// no use to anyone either, so it is not wrapped.
		return nil, fmt.Errorf("%w: not a PKCS#8 private key", ErrInvalidSigningKey)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: unsupported key type %T", ErrInvalidSigningKey, k)
	}
	return newEd25519Key(priv), nil
}

func newEd25519Key(priv ed25519.PrivateKey) *SigningKey {
	pub := priv.Public().(ed25519.PublicKey)
	return &SigningKey{
		kid:  okpThumbprint(pub),
		alg:  AlgEdDSA,
		priv: priv,
		pub:  pub,
	}
}

// MarshalPKCS8 returns the private key as PKCS#8 DER, for storage.
func (k *SigningKey) MarshalPKCS8() ([]byte, error) {
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
func (k *SigningKey) PublicJWK() JWK { return okpJWK(k.kid, k.alg, k.pub) }

// String implements fmt.Stringer without revealing the key.
func (SigningKey) String() string { return redacted }

// GoString implements fmt.GoStringer without revealing the key.
func (SigningKey) GoString() string { return redacted }

// Format implements fmt.Formatter so that every verb, including %x and %#v,
// prints the placeholder instead of the key bytes.
func (SigningKey) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue implements slog.LogValuer without revealing the key.
func (SigningKey) LogValue() slog.Value { return slog.StringValue(redacted) }

// okpThumbprint is the RFC 7638 thumbprint of an Ed25519 public key: SHA-256
// over the required members in lexicographic order with no whitespace.
func okpThumbprint(pub ed25519.PublicKey) string {
	x := base64.RawURLEncoding.EncodeToString(pub)
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
