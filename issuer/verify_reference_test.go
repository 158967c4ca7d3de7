package issuer

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	canonb64 "github.com/latchkeyhq/latchkey/internal/b64url"
)

// verifyReference is Verify as it was when golang-jwt's parser decoded the
// token a second time: the strict checks first, then jwt.ParseWithClaims for
// the signature and the claim rules. Verify must agree with it on every input.
func (i *Issuer) verifyReference(raw string, opts VerifyOptions) (Claims, error) {
	if len(raw) > i.maxTokenBytes {
		return Claims{}, errTooLarge
	}
	hdrSeg, payloadSeg, ok := splitSegments(raw)
	if !ok {
		return Claims{}, fmt.Errorf("%w: want three non-empty segments", ErrMalformed)
	}
	key, err := i.checkHeaderReference(hdrSeg)
	if err != nil {
		return Claims{}, err
	}
	payload, err := canonb64.Decode(payloadSeg)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: payload is not canonical base64url", ErrMalformed)
	}
	if err := checkStrictObject(payload); err != nil {
		return Claims{}, fmt.Errorf("%w: payload: %w", ErrMalformed, err)
	}
	// The parser decodes the signature as encoding/base64 does, skipping
	// line breaks: one signature must have one spelling.
	if _, err := canonb64.Decode(raw[strings.LastIndexByte(raw, '.')+1:]); err != nil {
		return Claims{}, fmt.Errorf("%w: signature is not canonical base64url", ErrMalformed)
	}

	wc := &wireClaims{}
	tok, err := jwt.NewParser(i.parserOptionsReference(key.alg, opts)...).ParseWithClaims(raw, wc,
		func(t *jwt.Token) (any, error) {
			if t.Method.Alg() != key.alg {
				return nil, ErrAlgorithm
			}
			return key.pub, nil
		})
	if err != nil {
		return Claims{}, classifyReference(err)
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

func (i *Issuer) parserOptionsReference(alg string, opts VerifyOptions) []jwt.ParserOption {
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

// checkHeaderReference reads the header through a map, as checkHeader did
// before it walked the members itself.
func (i *Issuer) checkHeaderReference(seg string) (verificationKey, error) {
	b, err := canonb64.Decode(seg)
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

// classifyReference maps any golang-jwt parser error to one of ours.
func classifyReference(err error) error {
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
