package verifier

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// forbiddenHeaders would widen where keys or processing rules come from. They
// are named in the error so that the rejection says why; any other member
// outside alg, typ and kid is refused as well.
var forbiddenHeaders = [...]string{"jku", "x5u", "jwk", "x5c", "crit"}

const accessTokenType = "at+jwt"

// compactJWS is a token split into its three segments.
type compactJWS struct {
	header, payload, sig string
}

// split accepts exactly three non-empty dot-separated segments.
func split(raw string) (compactJWS, error) {
	h, rest, ok1 := strings.Cut(raw, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || h == "" || p == "" || s == "" || strings.Contains(s, ".") {
		return compactJWS{}, fmt.Errorf("%w: want three non-empty segments", errMalformed)
	}
	return compactJWS{header: h, payload: p, sig: s}, nil
}

// signingInput is what the signature covers: the two first segments as they
// travelled, not a re-encoding of them.
func (t compactJWS) signingInput(raw string) []byte {
	return []byte(raw[:len(t.header)+1+len(t.payload)])
}

type joseHeader struct {
	alg, kid string
}

// parseHeader applies the header rules: canonical base64url, one strict JSON
// object, typ at+jwt, no member outside alg, typ and kid.
func parseHeader(seg string) (joseHeader, error) {
	b, err := b64.DecodeString(seg)
	if err != nil {
		return joseHeader{}, fmt.Errorf("%w: header is not canonical base64url", errMalformed)
	}
	if err := strictObject(b); err != nil {
		return joseHeader{}, fmt.Errorf("%w: header: %w", errMalformed, err)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(b, &members); err != nil {
		return joseHeader{}, fmt.Errorf("%w: header is not a JSON object", errMalformed)
	}
	for _, name := range forbiddenHeaders {
		if _, ok := members[name]; ok {
			return joseHeader{}, fmt.Errorf("%w: %s is not accepted", errHeader, name)
		}
	}
	for name := range members {
		if name != "alg" && name != "typ" && name != "kid" {
			return joseHeader{}, fmt.Errorf("%w: unexpected member", errHeader)
		}
	}
	typ, err := stringMember(members["typ"])
	if err != nil || !isAccessTokenType(typ) {
		return joseHeader{}, fmt.Errorf("%w: typ must be at+jwt", errHeader)
	}
	alg, err := stringMember(members["alg"])
	if err != nil || alg == "" {
		return joseHeader{}, fmt.Errorf("%w: alg must be a string", errHeader)
	}
	kid, err := stringMember(members["kid"])
	if err != nil || kid == "" {
		return joseHeader{}, fmt.Errorf("%w: kid must be a non-empty string", errHeader)
	}
	return joseHeader{alg: alg, kid: kid}, nil
}

// isAccessTokenType accepts at+jwt with or without the application/ prefix,
// folding ASCII case only (RFC 9068 section 4, RFC 7515 section 4.1.9).
func isAccessTokenType(typ string) bool {
	const prefix = "application/"
	if len(typ) == len(prefix)+len(accessTokenType) && foldASCII(typ[:len(prefix)], prefix) {
		typ = typ[len(prefix):]
	}
	return foldASCII(typ, accessTokenType)
}

// foldASCII compares with ASCII case folding only; strings.EqualFold would
// also let Unicode look-alikes such as the Kelvin sign through.
func foldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// verifySignature checks the header and the signature and returns the
// decoded payload and the kid. Nothing in the payload is read before the
// signature has been checked.
func (v *Verifier) verifySignature(ctx context.Context, raw string) ([]byte, string, error) {
	if len(raw) > MaxTokenBytes {
		return nil, "", errTooLarge
	}
	tok, err := split(raw)
	if err != nil {
		return nil, "", err
	}
	hdr, err := parseHeader(tok.header)
	if err != nil {
		return nil, "", err
	}
	key, err := v.keys.lookup(ctx, hdr.kid)
	if err != nil {
		return nil, "", err
	}
	// The key decides the algorithm; the header may only agree with it.
	if hdr.alg != key.alg {
		return nil, "", errAlgorithm
	}
	sig, err := b64.DecodeString(tok.sig)
	if err != nil {
		return nil, "", fmt.Errorf("%w: signature is not canonical base64url", errMalformed)
	}
	if !key.verify(tok.signingInput(raw), sig) {
		return nil, "", errSignature
	}
	payload, err := b64.DecodeString(tok.payload)
	if err != nil {
		return nil, "", fmt.Errorf("%w: payload is not canonical base64url", errMalformed)
	}
	return payload, hdr.kid, nil
}
