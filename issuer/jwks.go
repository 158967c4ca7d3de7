package issuer

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
)

// JWK is one public key of the JWKS. It has no field for private members, so a
// private key cannot be published through it.
type JWK struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

func okpJWK(kid, alg string, pub ed25519.PublicKey) JWK {
	return JWK{
		Kty: "OKP",
		Kid: kid,
		Alg: alg,
		Use: "sig",
		Crv: "Ed25519",
		X:   base64.RawURLEncoding.EncodeToString(pub),
	}
}

// JWKS returns every key that Verify accepts, active key first. The slice is a
// copy; callers may keep or modify it.
func (i *Issuer) JWKS() []JWK {
	return append([]JWK(nil), i.jwks...)
}

// CertThumbprint is the RFC 8705 x5t#S256 value of a DER certificate:
// base64url of its SHA-256, without padding.
func CertThumbprint(certDER []byte) string {
	sum := sha256.Sum256(certDER)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
