package issuer

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	canonb64 "github.com/latchkeyhq/latchkey/internal/b64url"
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

// Verify checks raw and returns its claims. Every error wraps ErrInvalidToken;
// the error text never quotes the token.
//
// Each segment is decoded once, by this package; golang-jwt supplies only the
// signature primitive and the time, issuer and audience rules. What its parser
// options guarded is guarded here:
//   - WithStrictDecoding: every segment goes through canonb64.Decode, which
//     refuses padding, non-zero trailing bits and the line breaks the
//     standard decoder skips.
//   - WithValidMethods and the keyfunc's algorithm check: the method is chosen
//     by the key that kid names (signingMethod), never by the header, and
//     checkHeader refuses a header alg other than that key's.
//   - the parser's segment split: splitSegments, which also refuses empty
//     segments.
//   - WithExpirationRequired, WithIssuer, WithIssuedAt, WithLeeway,
//     WithTimeFunc and WithAudience are still golang-jwt's, through
//     jwt.Validator (validator).
//
// The order of the checks decides which error a token with several faults
// gets, and is kept: size, segments, header, payload, signature encoding,
// signature, then claims. A forged token is a bad signature whatever its
// claims say.
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
	payload, err := canonb64.Decode(payloadSeg)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: payload is not canonical base64url", ErrMalformed)
	}
	wc := &wireClaims{}
	if err := wc.decode(payload); err != nil {
		return Claims{}, fmt.Errorf("%w: payload: %w", ErrMalformed, err)
	}
	signing := raw[:len(hdrSeg)+1+len(payloadSeg)]
	sig, err := canonb64.Decode(raw[len(signing)+1:])
	if err != nil {
		return Claims{}, fmt.Errorf("%w: signature is not canonical base64url", ErrMalformed)
	}
	method := signingMethod(key.alg)
	if method == nil {
		return Claims{}, ErrAlgorithm
	}
	if err := method.Verify(signing, sig, key.pub); err != nil {
		return Claims{}, fmt.Errorf("%w: %w: %w", ErrSignature, jwt.ErrTokenSignatureInvalid, err)
	}
	if err := i.validator(opts.Audience).Validate(wc); err != nil {
		return Claims{}, classify(fmt.Errorf("%w: %w", jwt.ErrTokenInvalidClaims, err))
	}
	c, err := i.checkClaims(wc)
	if err != nil {
		return Claims{}, err
	}
	c.KID = key.kid
	return c, nil
}

// signingMethod is the method for a key's algorithm. It names the methods
// rather than asking jwt.GetSigningMethod, whose registry anything linked
// into the binary may overwrite.
func signingMethod(alg string) jwt.SigningMethod {
	switch alg {
	case AlgEdDSA:
		return jwt.SigningMethodEdDSA
	case AlgES256:
		return jwt.SigningMethodES256
	case AlgRS256:
		return jwt.SigningMethodRS256
	}
	return nil
}

// validator applies golang-jwt's claim rules: exp required, nbf when present,
// iat not in the future, iss equal to ours, aud holding audience when one is
// asked for, all with the configured leeway.
func (i *Issuer) validator(audience string) *jwt.Validator {
	if audience == "" && i.anyAudience != nil {
		return i.anyAudience
	}
	return i.newValidator(audience)
}

func (i *Issuer) newValidator(audience string) *jwt.Validator {
	opts := [...]jwt.ParserOption{
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(i.iss),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(i.leeway),
		jwt.WithTimeFunc(i.now),
		nil,
	}
	if audience == "" {
		return jwt.NewValidator(opts[:len(opts)-1]...)
	}
	opts[len(opts)-1] = jwt.WithAudience(audience)
	return jwt.NewValidator(opts[:]...)
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

// tokenHeader is what one pass over a header's members finds: the raw values
// of the members a header may have, and which others it has.
type tokenHeader struct {
	alg, typ, kid []byte
	// forbidden has bit n set when forbiddenHeaders[n] is present.
	forbidden  uint
	unexpected bool
}

// member records one member. It never fails: judging while scanning would let
// an early rule win over a duplicate member further on.
func (h *tokenHeader) member(name, raw []byte) error {
	switch string(name) {
	case "alg":
		h.alg = raw
	case "typ":
		h.typ = raw
	case "kid":
		h.kid = raw
	default:
		for n, f := range forbiddenHeaders {
			if string(name) == f {
				h.forbidden |= 1 << n
				return nil
			}
		}
		h.unexpected = true
	}
	return nil
}

// checkHeader applies the header rules in a fixed order and returns the key
// the header names. The members are only collected while scanning, so that a
// structural fault anywhere (a repeated member included) wins over every rule,
// and the rules are then applied in the order that decides which one a header
// breaking several is rejected for: typ, forbidden members in the order
// forbiddenHeaders lists them, other members, kid, alg.
func (i *Issuer) checkHeader(seg string) (verificationKey, error) {
	b, err := canonb64.Decode(seg)
	if err != nil {
		return verificationKey{}, fmt.Errorf("%w: header is not canonical base64url", ErrMalformed)
	}
	var hdr tokenHeader
	if err := forEachMember(b, hdr.member); err != nil {
		return verificationKey{}, fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}

	typ, err := jsonString(hdr.typ)
	if err != nil || !isAccessTokenType(typ) {
		return verificationKey{}, fmt.Errorf("%w: typ must be at+jwt", ErrHeader)
	}
	for n, name := range forbiddenHeaders {
		if hdr.forbidden&(1<<n) != 0 {
			return verificationKey{}, fmt.Errorf("%w: %s is not accepted", ErrHeader, name)
		}
	}
	if hdr.unexpected {
		return verificationKey{}, fmt.Errorf("%w: unexpected member", ErrHeader)
	}
	kid, err := jsonString(hdr.kid)
	if err != nil {
		return verificationKey{}, fmt.Errorf("%w: kid must be a string", ErrUnknownKey)
	}
	key, ok := i.keys[kid]
	if !ok {
		return verificationKey{}, ErrUnknownKey
	}
	alg, err := jsonString(hdr.alg)
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

// classify maps a jwt.Validator error to one of ours. The validator reports
// every broken rule at once; expiry wins, then not-yet-valid, and anything
// else (issuer, audience, a missing exp) is a claims error.
func classify(err error) error {
	var reason error
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		reason = ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		reason = ErrNotYetValid
	default:
		reason = ErrClaims
	}
	return fmt.Errorf("%w: %w", reason, err)
}

// checkClaims runs after the signature and golang-jwt's time, issuer and
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
