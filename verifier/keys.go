package verifier

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"

	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
	"github.com/latchkeyhq/latchkey/internal/b64url"
)

// JWS algorithms Latchkey signs with. Each key verifies exactly one, fixed by
// its type; the token's alg header must name that one.
const (
	algEdDSA = "EdDSA"
	algES256 = "ES256"
	algRS256 = "RS256"
)

// minRSABits matches the smallest key Latchkey will sign with.
const minRSABits = 2048

// b64 encodes; decoding goes through b64url.Decode, which accepts the
// canonical spelling only.
var b64 = base64.RawURLEncoding

// jwk is one member of a JWKS, from GetJWKS or from the HTTPS document.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	N   string `json:"n"`
	E   string `json:"e"`
}

func jwkFromProto(k *latchkeyv1.JSONWebKey) jwk {
	return jwk{Kty: k.GetKty(), Kid: k.GetKid(), Alg: k.GetAlg(), Use: k.GetUse(),
		Crv: k.GetCrv(), X: k.GetX(), Y: k.GetY(), N: k.GetN(), E: k.GetE()}
}

// publicKey is a verification key with the one algorithm it accepts.
type publicKey struct {
	alg string
	ed  ed25519.PublicKey
	ec  *ecdsa.PublicKey
	rsa *rsa.PublicKey
}

var (
	errKeyUnsupported = errors.New("unsupported key type")
	errKeyMaterial    = errors.New("malformed key material")
)

// parseJWK derives the algorithm from the key type, so an alg member can only
// confirm it, never choose a different one.
func parseJWK(j jwk) (publicKey, error) {
	var (
		k   publicKey
		err error
	)
	switch {
	case j.Kty == "OKP" && j.Crv == "Ed25519":
		k.alg = algEdDSA
		k.ed, err = edKey(j.X)
	case j.Kty == "EC" && j.Crv == "P-256":
		k.alg = algES256
		k.ec, err = ecKey(j.X, j.Y)
	case j.Kty == "RSA":
		k.alg = algRS256
		k.rsa, err = rsaKey(j.N, j.E)
	default:
		return publicKey{}, errKeyUnsupported
	}
	if err != nil {
		return publicKey{}, err
	}
	if j.Alg != "" && j.Alg != k.alg {
		return publicKey{}, fmt.Errorf("alg %q does not fit the key type", j.Alg)
	}
	if j.Use != "" && j.Use != "sig" {
		return publicKey{}, errors.New("key is not for signatures")
	}
	return k, nil
}

func edKey(x string) (ed25519.PublicKey, error) {
	b, err := b64url.Decode(x)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errKeyMaterial
	}
	return ed25519.PublicKey(b), nil
}

func ecKey(x, y string) (*ecdsa.PublicKey, error) {
	xb, errX := b64url.Decode(x)
	yb, errY := b64url.Decode(y)
	if errX != nil || errY != nil || len(xb) != 32 || len(yb) != 32 {
		return nil, errKeyMaterial
	}
	// The parser rejects points that are not on the curve, which would
	// otherwise open invalid-curve attacks.
	pt := append(append([]byte{4}, xb...), yb...)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pt)
	if err != nil {
		return nil, errKeyMaterial
	}
	return pub, nil
}

func rsaKey(n, e string) (*rsa.PublicKey, error) {
	nb, errN := b64url.Decode(n)
	eb, errE := b64url.Decode(e)
	if errN != nil || errE != nil || len(nb) == 0 || nb[0] == 0 || len(eb) == 0 || len(eb) > 4 || eb[0] == 0 {
		return nil, errKeyMaterial
	}
	modulus := new(big.Int).SetBytes(nb)
	exp := int(new(big.Int).SetBytes(eb).Int64())
	if modulus.BitLen() < minRSABits || exp < 3 || exp%2 == 0 {
		return nil, errKeyMaterial
	}
	return &rsa.PublicKey{N: modulus, E: exp}, nil
}

// verify checks sig over signed with the key's one algorithm.
func (k publicKey) verify(signed, sig []byte) bool {
	switch k.alg {
	case algEdDSA:
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(k.ed, signed, sig)
	case algES256:
		// JWS carries r||s of exactly 64 bytes (RFC 7518 section 3.4);
		// a DER signature or one of another length is refused.
		if len(sig) != 64 {
			return false
		}
		sum := sha256.Sum256(signed)
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(k.ec, sum[:], r, s)
	case algRS256:
		sum := sha256.Sum256(signed)
		return rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, sum[:], sig) == nil
	}
	return false
}

// keySet maps kid to key. It is never modified after it is built.
type keySet map[string]publicKey

var errNoUsableKey = errors.New("the JWKS holds no usable signing key")

// buildKeySet keeps the keys it can use and skips the rest, as RFC 7517
// section 5 asks; a kid that appears twice makes the whole set ambiguous.
func buildKeySet(jwks []jwk) (keySet, error) {
	set := make(keySet, len(jwks))
	seen := make(map[string]bool, len(jwks))
	for _, j := range jwks {
		if j.Kid == "" {
			continue
		}
		if seen[j.Kid] {
			return nil, fmt.Errorf("the JWKS repeats a kid")
		}
		seen[j.Kid] = true
		k, err := parseJWK(j)
		if err != nil {
			continue
		}
		set[j.Kid] = k
	}
	if len(set) == 0 {
		return nil, errNoUsableKey
	}
	return set, nil
}
