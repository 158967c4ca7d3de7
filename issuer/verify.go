package issuer

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are the verified claims of a token.
type Claims struct {
	Issuer, Subject, ClientID, JTI, Scope, CertThumbprint string
	Audience                                              []string
	IssuedAt, NotBefore, ExpiresAt                        time.Time
	// KID names the signing key that verified the token.
	KID string
}

// BoundTo reports, in constant time, whether the token is bound to the DER
// certificate presented by the caller (RFC 8705 section 3).
func (c Claims) BoundTo(certDER []byte) bool {
	want := CertThumbprint(certDER)
	return c.CertThumbprint != "" && subtle.ConstantTimeCompare([]byte(c.CertThumbprint), []byte(want)) == 1
}

// VerifyOptions are per-call requirements.
type VerifyOptions struct {
	// Audience, when set, must be one of the token's audiences.
	Audience string
}

// forbiddenHeaders widen where keys or processing rules come from. They are
// named so that the rejection says why; any other member outside alg, typ and
// kid is refused as well.
var forbiddenHeaders = [...]string{"jku", "x5u", "jwk", "x5c", "crit"}

var strictB64 = base64.RawURLEncoding.Strict()

// Verify checks raw and returns its claims. Every error wraps ErrInvalidToken;
// the error text never quotes the token.
func (i *Issuer) Verify(raw string, opts VerifyOptions) (Claims, error) {
	if len(raw) > i.maxTokenBytes {
		return Claims{}, errTooLarge
	}
	hdrSeg, payloadSeg, ok := splitSegments(raw)
	if !ok {
		return Claims{}, fmt.Errorf("%w: want three non-empty segments", ErrMalformed)
	}
	key, err := i.checkHeader(hdrSeg)
	if err != nil {
		return Claims{}, err
	}
	payload, err := strictB64.DecodeString(payloadSeg)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: payload is not canonical base64url", ErrMalformed)
	}
	if err := checkStrictObject(payload); err != nil {
		return Claims{}, fmt.Errorf("%w: payload: %w", ErrMalformed, err)
	}

	wc := &wireClaims{}
	tok, err := jwt.NewParser(i.parserOptions(key.alg, opts)...).ParseWithClaims(raw, wc,
		func(t *jwt.Token) (any, error) {
			// Already enforced above and by WithValidMethods; checked
			// again here so the key is never handed to another method.
			if t.Method.Alg() != key.alg {
				return nil, ErrAlgorithm
			}
			return key.pub, nil
		})
	if err != nil {
		return Claims{}, classify(err)
	}
	if !tok.Valid {
		return Claims{}, fmt.Errorf("%w: parser did not mark the token valid", ErrSignature)
	}
	c, err := i.checkClaims(wc)
	if err != nil {
		return Claims{}, err
	}
	c.KID = key.kid
	return c, nil
}

func (i *Issuer) parserOptions(alg string, opts VerifyOptions) []jwt.ParserOption {
	po := []jwt.ParserOption{
		jwt.WithValidMethods([]string{alg}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(i.iss),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(i.leeway),
		jwt.WithStrictDecoding(),
		jwt.WithTimeFunc(i.now),
	}
	if opts.Audience != "" {
		po = append(po, jwt.WithAudience(opts.Audience))
	}
	return po
}

// splitSegments returns the header and payload of a three-segment compact JWS
// whose segments are all non-empty.
func splitSegments(raw string) (hdr, payload string, ok bool) {
	hdr, rest, ok1 := strings.Cut(raw, ".")
	payload, sig, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || hdr == "" || payload == "" || sig == "" || strings.Contains(sig, ".") {
		return "", "", false
	}
	return hdr, payload, true
}

// checkHeader applies the header rules in a fixed order and returns the key
// the header names.
func (i *Issuer) checkHeader(seg string) (verificationKey, error) {
	b, err := strictB64.DecodeString(seg)
	if err != nil {
		return verificationKey{}, fmt.Errorf("%w: header is not canonical base64url", ErrMalformed)
	}
	if err := checkStrictObject(b); err != nil {
		return verificationKey{}, fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(b, &hdr); err != nil {
		return verificationKey{}, fmt.Errorf("%w: header is not a JSON object", ErrMalformed)
	}

	typ, err := jsonString(hdr["typ"])
	if err != nil || !isAccessTokenType(typ) {
		return verificationKey{}, fmt.Errorf("%w: typ must be at+jwt", ErrHeader)
	}
	for _, name := range forbiddenHeaders {
		if _, ok := hdr[name]; ok {
			return verificationKey{}, fmt.Errorf("%w: %s is not accepted", ErrHeader, name)
		}
	}
	for name := range hdr {
		if name != "alg" && name != "typ" && name != "kid" {
			return verificationKey{}, fmt.Errorf("%w: unexpected member", ErrHeader)
		}
	}
	kid, err := jsonString(hdr["kid"])
	if err != nil {
		return verificationKey{}, fmt.Errorf("%w: kid must be a string", ErrUnknownKey)
	}
	key, ok := i.keys[kid]
	if !ok {
		return verificationKey{}, ErrUnknownKey
	}
	alg, err := jsonString(hdr["alg"])
	if err != nil || alg != key.alg {
		return verificationKey{}, ErrAlgorithm
	}
	return key, nil
}

// isAccessTokenType accepts "at+jwt" with or without the "application/"
// prefix, ASCII case-insensitively (RFC 9068 section 4, RFC 7515 section 4.1.9).
func isAccessTokenType(typ string) bool {
	if len(typ) == len("application/")+len(tokenType) && asciiEqualFold(typ[:len("application/")], "application/") {
		typ = typ[len("application/"):]
	}
	return asciiEqualFold(typ, tokenType)
}

// asciiEqualFold folds ASCII letters only; strings.EqualFold would also match
// Unicode look-alikes such as the Kelvin sign.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// classify maps a golang-jwt error to one of ours. The signature is checked
// first because the library stops at a bad signature: an expired token with a
// forged signature is a forgery, never "merely expired".
func classify(err error) error {
	var reason error
	switch {
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		reason = ErrSignature
	case errors.Is(err, jwt.ErrTokenMalformed):
		reason = ErrMalformed
	case errors.Is(err, jwt.ErrTokenExpired):
		reason = ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		reason = ErrNotYetValid
	default:
		reason = ErrClaims
	}
	return fmt.Errorf("%w: %w", reason, err)
}

// checkClaims runs after the signature and the library's time, issuer and
// audience checks, and enforces what the library leaves optional.
func (i *Issuer) checkClaims(c *wireClaims) (Claims, error) {
	const required = hasIss | hasSub | hasAud | hasExp | hasIat | hasJTI | hasClientID | hasCnf
	switch {
	case c.present&required != required:
		return Claims{}, fmt.Errorf("%w: a required claim is missing", ErrClaims)
	case c.present&hasUnknown != 0:
		return Claims{}, fmt.Errorf("%w: unexpected claim", ErrClaims)
	case c.Subject == "" || c.ClientID == "" || c.JTI == "":
		return Claims{}, fmt.Errorf("%w: sub, client_id and jti must not be empty", ErrClaims)
	case len(c.Audience) == 0:
		return Claims{}, fmt.Errorf("%w: aud must not be empty", ErrClaims)
	case !validThumbprint(c.Cnf.X5TS256):
		return Claims{}, fmt.Errorf("%w: cnf x5t#S256 is not a SHA-256 thumbprint", ErrClaims)
	}
	for _, a := range c.Audience {
		if a == "" {
			return Claims{}, fmt.Errorf("%w: aud members must not be empty", ErrClaims)
		}
	}
	iat, exp := time.Unix(c.IssuedAt, 0).UTC(), time.Unix(c.ExpiresAt, 0).UTC()
	if life := exp.Sub(iat); life <= 0 || life > i.maxTTL {
		return Claims{}, fmt.Errorf("%w: lifetime outside (0, max TTL]", ErrClaims)
	}
	out := Claims{
		Issuer:         c.Issuer,
		Subject:        c.Subject,
		ClientID:       c.ClientID,
		JTI:            c.JTI,
		Scope:          c.Scope,
		CertThumbprint: c.Cnf.X5TS256,
		Audience:       c.Audience,
		IssuedAt:       iat,
		ExpiresAt:      exp,
	}
	if c.present&hasNbf != 0 {
		out.NotBefore = time.Unix(c.NotBefore, 0).UTC()
	}
	return out, nil
}
