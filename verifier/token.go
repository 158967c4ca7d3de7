package verifier

import (
	"context"
	"fmt"
	"github.com/latchkeyhq/latchkey/internal/b64url"
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
	b, err := b64url.Decode(seg)
	if err != nil {
		return joseHeader{}, fmt.Errorf("%w: header is not canonical base64url", errMalformed)
	}
	var buf [4]member
	members, err := objectMembers(b, buf[:0])
	if err != nil {
		return joseHeader{}, fmt.Errorf("%w: header: %w", errMalformed, err)
	}
	// A forbidden member is named in preference to any other fault, and
	// the first of them in forbiddenHeaders' order, whatever the order of
	// the members: the reason given must not depend on how they were laid out.
	var typ, alg, kid []byte
	forbidden, unexpected := len(forbiddenHeaders), false
	for _, m := range members {
		switch string(m.name) {
		case "typ":
			typ = m.value
		case "alg":
			alg = m.value
		case "kid":
			kid = m.value
		default:
			unexpected = true
			for i, name := range forbiddenHeaders[:forbidden] {
				if string(m.name) == name {
					forbidden = i
					break
				}
			}
		}
	}
	if forbidden < len(forbiddenHeaders) {
		return joseHeader{}, fmt.Errorf("%w: %s is not accepted", errHeader, forbiddenHeaders[forbidden])
	}
	if unexpected {
		return joseHeader{}, fmt.Errorf("%w: unexpected member", errHeader)
	}
	if t, ok := unquoteBytes(typ); !ok || !isAccessTokenType(string(t)) {
		return joseHeader{}, fmt.Errorf("%w: typ must be at+jwt", errHeader)
	}
	algS, err := stringMember(alg)
	if err != nil || algS == "" {
		return joseHeader{}, fmt.Errorf("%w: alg must be a string", errHeader)
	}
	kidS, err := stringMember(kid)
	if err != nil || kidS == "" {
		return joseHeader{}, fmt.Errorf("%w: kid must be a non-empty string", errHeader)
	}
	return joseHeader{alg: algS, kid: kidS}, nil
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
	sig, err := b64url.Decode(tok.sig)
	if err != nil {
		return nil, "", fmt.Errorf("%w: signature is not canonical base64url", errMalformed)
	}
	if !key.verify(tok.signingInput(raw), sig) {
		return nil, "", errSignature
	}
	payload, err := b64url.Decode(tok.payload)
	if err != nil {
		return nil, "", fmt.Errorf("%w: payload is not canonical base64url", errMalformed)
	}
	return payload, hdr.kid, nil
}
