package verifier

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/latchkeyhq/latchkey/internal/b64url"
)

// The verification path as it was written on top of encoding/json: its
// token stream for the strict check, then json.Unmarshal into maps of raw
// members. It is kept, unchanged but for names and canonical base64url
// decoding, as the reference the hand-written scanner and member walk are
// held to.

func strictObjectReference(data []byte) error {
	if !utf8.Valid(data) {
		return errNotStrictJSON
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return errNotStrictJSON
	}
	if err := scanObjectReference(dec, 1); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errNotStrictJSON
	}
	return nil
}

func scanObjectReference(dec *json.Decoder, depth int) error {
	seen := map[string]bool{}
	for {
		tok, err := dec.Token()
		if err != nil {
			return errNotStrictJSON
		}
		if tok == json.Delim('}') {
			return nil
		}
		name, ok := tok.(string)
		if !ok || seen[name] {
			return errNotStrictJSON
		}
		seen[name] = true
		if err := scanValueReference(dec, depth); err != nil {
			return err
		}
	}
}

func scanArrayReference(dec *json.Decoder, depth int) error {
	for dec.More() {
		if err := scanValueReference(dec, depth); err != nil {
			return err
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim(']') {
		return errNotStrictJSON
	}
	return nil
}

func scanValueReference(dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return errNotStrictJSON
	}
	switch tok {
	case json.Delim('{'), json.Delim('['):
		if depth >= maxJSONDepth {
			return errNotStrictJSON
		}
		if tok == json.Delim('{') {
			return scanObjectReference(dec, depth+1)
		}
		return scanArrayReference(dec, depth+1)
	case json.Delim('}'), json.Delim(']'):
		return errNotStrictJSON
	}
	return nil
}

func parseHeaderReference(seg string) (joseHeader, error) {
	b, err := b64url.Decode(seg)
	if err != nil {
		return joseHeader{}, fmt.Errorf("%w: header is not canonical base64url", errMalformed)
	}
	if err := strictObjectReference(b); err != nil {
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
	typ, err := stringMemberReference(members["typ"])
	if err != nil || !isAccessTokenType(typ) {
		return joseHeader{}, fmt.Errorf("%w: typ must be at+jwt", errHeader)
	}
	alg, err := stringMemberReference(members["alg"])
	if err != nil || alg == "" {
		return joseHeader{}, fmt.Errorf("%w: alg must be a string", errHeader)
	}
	kid, err := stringMemberReference(members["kid"])
	if err != nil || kid == "" {
		return joseHeader{}, fmt.Errorf("%w: kid must be a non-empty string", errHeader)
	}
	return joseHeader{alg: alg, kid: kid}, nil
}

func parsePayloadReference(b []byte) (payload, error) {
	if err := strictObjectReference(b); err != nil {
		return payload{}, fmt.Errorf("%w: payload: %w", errMalformed, err)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(b, &members); err != nil {
		return payload{}, fmt.Errorf("%w: payload is not a JSON object", errMalformed)
	}
	for _, name := range [...]string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "cnf"} {
		if _, ok := members[name]; !ok {
			return payload{}, fmt.Errorf("%w: %s is missing", errClaims, name)
		}
	}
	var p payload
	for name, raw := range members {
		var err error
		switch name {
		case "iss":
			p.iss, err = stringMemberReference(raw)
		case "sub":
			p.sub, err = stringMemberReference(raw)
		case "jti":
			p.jti, err = stringMemberReference(raw)
		case "client_id":
			p.clientID, err = stringMemberReference(raw)
		case "scope":
			p.scope, err = stringMemberReference(raw)
		case "aud":
			p.aud, err = audienceMemberReference(raw)
		case "exp":
			p.exp, err = dateMemberReference(raw)
		case "iat":
			p.iat, err = dateMemberReference(raw)
		case "nbf":
			p.hasNbf = true
			p.nbf, err = dateMemberReference(raw)
		case "cnf":
			p.cnf, err = cnfMemberReference(raw)
		default:
			return payload{}, fmt.Errorf("%w: unexpected claim", errClaims)
		}
		if err != nil {
			return payload{}, fmt.Errorf("%w: %s: %w", errClaims, name, err)
		}
	}
	return p, nil
}

func stringMemberReference(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", errClaimType
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errClaimType
	}
	return s, nil
}

func dateMemberReference(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || len(raw) > 12 {
		return 0, errClaimDate
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, errClaimDate
		}
	}
	v, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || v > latestNumericDate {
		return 0, errClaimDate
	}
	return v, nil
}

func audienceMemberReference(raw json.RawMessage) ([]string, error) {
	if len(raw) > 0 && raw[0] == '"' {
		s, err := stringMemberReference(raw)
		return []string{s}, err
	}
	var members []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &members) != nil {
		return nil, errClaimType
	}
	out := make([]string, 0, len(members))
	for _, m := range members {
		s, err := stringMemberReference(m)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func cnfMemberReference(raw json.RawMessage) (string, error) {
	var members map[string]json.RawMessage
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &members) != nil || len(members) != 1 {
		return "", errClaimType
	}
	v, ok := members["x5t#S256"]
	if !ok {
		return "", errClaimType
	}
	return stringMemberReference(v)
}

// verifyLocalReference is verifyLocal with the reference parsers; the
// signature, key and claim checks are the package's own.
func (v *Verifier) verifyLocalReference(ctx context.Context, raw string) (Claims, error) {
	if len(raw) > MaxTokenBytes {
		return Claims{}, errTooLarge
	}
	tok, err := split(raw)
	if err != nil {
		return Claims{}, err
	}
	hdr, err := parseHeaderReference(tok.header)
	if err != nil {
		return Claims{}, err
	}
	key, err := v.keys.lookup(ctx, hdr.kid)
	if err != nil {
		return Claims{}, err
	}
	if hdr.alg != key.alg {
		return Claims{}, errAlgorithm
	}
	sig, err := b64url.Decode(tok.sig)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: signature is not canonical base64url", errMalformed)
	}
	if !key.verify(tok.signingInput(raw), sig) {
		return Claims{}, errSignature
	}
	pb, err := b64url.Decode(tok.payload)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: payload is not canonical base64url", errMalformed)
	}
	p, err := parsePayloadReference(pb)
	if err != nil {
		return Claims{}, err
	}
	c, err := v.checkClaims(p, v.cfg.Now())
	if err != nil {
		return Claims{}, err
	}
	c.KID = hdr.kid
	return c, nil
}
