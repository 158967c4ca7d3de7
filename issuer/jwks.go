package issuer

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
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

var b64url = base64.RawURLEncoding

func okpJWK(pub ed25519.PublicKey) JWK {
	return JWK{Kty: "OKP", Crv: "Ed25519", X: b64url.EncodeToString(pub)}
}

// ecJWK encodes the coordinates as 32-byte big-endian values, left-padded, as
// RFC 7518 section 6.2.1.2 requires; a shorter x would change the thumbprint.
func ecJWK(pub *ecdsa.PublicKey) (JWK, error) {
	pt, err := pub.Bytes()
	if err != nil || len(pt) != 65 || pt[0] != 4 {
		return JWK{}, fmt.Errorf("not an uncompressed P-256 point")
	}
	return JWK{Kty: "EC", Crv: "P-256", X: b64url.EncodeToString(pt[1:33]), Y: b64url.EncodeToString(pt[33:])}, nil
}

// rsaJWK encodes n and e as unsigned big-endian integers without leading zero
// bytes (RFC 7518 section 6.3.1).
func rsaJWK(pub *rsa.PublicKey) JWK {
	return JWK{
		Kty: "RSA",
		N:   b64url.EncodeToString(pub.N.Bytes()),
		E:   b64url.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}
}

// thumbprint is the RFC 7638 thumbprint of a public JWK: SHA-256 over only the
// members required for its kty, in lexicographic order, without whitespace.
// Building the input from a struct with fixed field order is what keeps the
// order right; every value is base64url or a fixed name, so json.Marshal adds
// no escaping that would differ from the RFC's serialisation.
func thumbprint(j JWK) string {
	var v any
	switch j.Kty {
	case "EC":
		v = struct {
			Crv string `json:"crv"`
			Kty string `json:"kty"`
			X   string `json:"x"`
			Y   string `json:"y"`
		}{j.Crv, j.Kty, j.X, j.Y}
	case "RSA":
		v = struct {
			E   string `json:"e"`
			Kty string `json:"kty"`
			N   string `json:"n"`
		}{j.E, j.Kty, j.N}
	default:
		v = struct {
			Crv string `json:"crv"`
			Kty string `json:"kty"`
			X   string `json:"x"`
		}{j.Crv, j.Kty, j.X}
	}
	b, _ := json.Marshal(v) // strings only: cannot fail
	sum := sha256.Sum256(b)
	return b64url.EncodeToString(sum[:])
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
	return b64url.EncodeToString(sum[:])
}
