package verifier

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Claims are the verified claims of a token.
type Claims struct {
	Subject, ClientID, JTI, KID, Issuer string
	Scopes, Audience                    []string
	IssuedAt, ExpiresAt                 time.Time
	// CertThumbprint is the RFC 8705 x5t#S256 the token is bound to.
	CertThumbprint string
}

// hasScopes reports whether every required scope was granted.
func (c Claims) hasScopes(required []string) bool {
	for _, s := range required {
		if !slices.Contains(c.Scopes, s) {
			return false
		}
	}
	return true
}

// latestNumericDate is 9999-12-31T23:59:59Z; later dates only serve to
// overflow time arithmetic.
const latestNumericDate = 253402300799

var (
	errClaimType = errors.New("claim has the wrong JSON type")
	errClaimDate = errors.New("date claim is not an integer in range")
)

// payload is the claim set as it travels, with what was present.
type payload struct {
	iss, sub, jti, scope, clientID, cnf string
	aud                                 []string
	exp, nbf, iat                       int64
	hasNbf                              bool
}

// parsePayload reads the claims with exact member names and types. Every
// required claim must be present and nothing else may be: the only tokens
// to accept are Latchkey's, and it always writes the same members.
func parsePayload(b []byte) (payload, error) {
	if err := strictObject(b); err != nil {
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
			p.iss, err = stringMember(raw)
		case "sub":
			p.sub, err = stringMember(raw)
		case "jti":
			p.jti, err = stringMember(raw)
		case "client_id":
			p.clientID, err = stringMember(raw)
		case "scope":
			p.scope, err = stringMember(raw)
		case "aud":
			p.aud, err = audienceMember(raw)
		case "exp":
			p.exp, err = dateMember(raw)
		case "iat":
			p.iat, err = dateMember(raw)
		case "nbf":
			p.hasNbf = true
			p.nbf, err = dateMember(raw)
		case "cnf":
			p.cnf, err = cnfMember(raw)
		default:
			return payload{}, fmt.Errorf("%w: unexpected claim", errClaims)
		}
		if err != nil {
			return payload{}, fmt.Errorf("%w: %s: %w", errClaims, name, err)
		}
	}
	return p, nil
}

func stringMember(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", errClaimType
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errClaimType
	}
	return s, nil
}

// dateMember accepts only plain non-negative integers, as Latchkey writes
// them: no fractions, exponents, signs or strings.
func dateMember(raw json.RawMessage) (int64, error) {
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

// audienceMember accepts a string or an array of strings (RFC 7519 4.1.3).
func audienceMember(raw json.RawMessage) ([]string, error) {
	if len(raw) > 0 && raw[0] == '"' {
		s, err := stringMember(raw)
		return []string{s}, err
	}
	var members []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &members) != nil {
		return nil, errClaimType
	}
	out := make([]string, 0, len(members))
	for _, m := range members {
		s, err := stringMember(m)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// cnfMember accepts an object holding x5t#S256 and nothing else.
func cnfMember(raw json.RawMessage) (string, error) {
	var members map[string]json.RawMessage
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &members) != nil || len(members) != 1 {
		return "", errClaimType
	}
	v, ok := members["x5t#S256"]
	if !ok {
		return "", errClaimType
	}
	return stringMember(v)
}

// checkClaims applies the rules that need the configuration and the clock,
// and returns the claims in their exported shape.
func (v *Verifier) checkClaims(p payload, now time.Time) (Claims, error) {
	switch {
	case p.sub == "" || p.clientID == "" || p.jti == "":
		return Claims{}, fmt.Errorf("%w: sub, client_id and jti must not be empty", errClaims)
	case !validThumbprint(p.cnf):
		return Claims{}, fmt.Errorf("%w: cnf x5t#S256 is not a SHA-256 thumbprint", errClaims)
	case len(p.aud) == 0 || slices.Contains(p.aud, ""):
		return Claims{}, fmt.Errorf("%w: aud must hold non-empty strings", errClaims)
	}
	// The issuer is public, not secret: a plain comparison is fine.
	if p.iss != v.cfg.Issuer {
		return Claims{}, errIssuer
	}
	if !slices.Contains(p.aud, v.cfg.Audience) {
		return Claims{}, errAudience
	}
	iat, exp := time.Unix(p.iat, 0).UTC(), time.Unix(p.exp, 0).UTC()
	if life := exp.Sub(iat); life <= 0 || life > maxLifetime {
		return Claims{}, fmt.Errorf("%w: lifetime outside (0, %s]", errClaims, maxLifetime)
	}
	if err := checkTimes(now, v.cfg.Leeway, iat, exp, p); err != nil {
		return Claims{}, err
	}
	scopes, err := splitScope(p.scope)
	if err != nil {
		return Claims{}, err
	}
	return Claims{
		Subject: p.sub, ClientID: p.clientID, JTI: p.jti, Issuer: p.iss,
		Scopes: scopes, Audience: p.aud, IssuedAt: iat, ExpiresAt: exp,
		CertThumbprint: p.cnf,
	}, nil
}

// checkTimes allows leeway in the token's favour on each bound, and no more.
func checkTimes(now time.Time, leeway time.Duration, iat, exp time.Time, p payload) error {
	if !now.Before(exp.Add(leeway)) {
		return errExpired
	}
	if iat.After(now.Add(leeway)) {
		return fmt.Errorf("%w: issued in the future", errNotYetValid)
	}
	if p.hasNbf && time.Unix(p.nbf, 0).After(now.Add(leeway)) {
		return errNotYetValid
	}
	return nil
}

// splitScope splits the space-delimited scope into RFC 6749 section 3.3
// tokens; empty tokens or characters outside the grammar are refused, as
// Latchkey never writes them.
func splitScope(scope string) ([]string, error) {
	if scope == "" {
		return nil, nil
	}
	out := strings.Split(scope, " ")
	for _, s := range out {
		if !validScopeToken(s) {
			return nil, fmt.Errorf("%w: scope is not a list of RFC 6749 scope tokens", errClaims)
		}
	}
	return out, nil
}

func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func validThumbprint(s string) bool {
	b, err := b64.DecodeString(s)
	return err == nil && len(b) == sha256.Size
}

// checkBinding compares the token's thumbprint with the SHA-256 of the
// presented certificate in constant time (RFC 8705 section 3.1).
func checkBinding(thumbprint string, cert *x509.Certificate) error {
	sum := sha256.Sum256(cert.Raw)
	want := b64.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(thumbprint), []byte(want)) != 1 {
		return errBinding
	}
	return nil
}
