package verifier

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/latchkeyhq/latchkey/internal/b64url"
	"slices"
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

// requiredClaims must all be present; scope and nbf may be left out.
var requiredClaims = [...]string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "cnf"}

// parsePayload reads the claims with exact member names and types. Every
// required claim must be present and nothing else may be: the only tokens
// to accept are Latchkey's, and it always writes the same members.
func parsePayload(b []byte) (payload, error) {
	var buf [12]member
	members, err := objectMembers(b, buf[:0])
	if err != nil {
		return payload{}, fmt.Errorf("%w: payload: %w", errMalformed, err)
	}
	// A missing claim is reported before any other fault, the first in
	// requiredClaims' order.
	var present [len(requiredClaims)]bool
	for _, m := range members {
		for i, name := range requiredClaims {
			if string(m.name) == name {
				present[i] = true
			}
		}
	}
	for i, name := range requiredClaims {
		if !present[i] {
			return payload{}, fmt.Errorf("%w: %s is missing", errClaims, name)
		}
	}
	var p payload
	for _, m := range members {
		var err error
		switch string(m.name) {
		case "iss":
			p.iss, err = stringMember(m.value)
		case "sub":
			p.sub, err = stringMember(m.value)
		case "jti":
			p.jti, err = stringMember(m.value)
		case "client_id":
			p.clientID, err = stringMember(m.value)
		case "scope":
			p.scope, err = stringMember(m.value)
		case "aud":
			p.aud, err = audienceMember(m.value)
		case "exp":
			p.exp, err = dateMember(m.value)
		case "iat":
			p.iat, err = dateMember(m.value)
		case "nbf":
			p.hasNbf = true
			p.nbf, err = dateMember(m.value)
		case "cnf":
			p.cnf, err = cnfMember(m.value)
		default:
			return payload{}, fmt.Errorf("%w: unexpected claim", errClaims)
		}
		if err != nil {
			return payload{}, fmt.Errorf("%w: %s: %w", errClaims, m.name, err)
		}
	}
	return p, nil
}

// stringMember reads a member that must be a JSON string; raw is nil when
// the member is absent.
func stringMember(raw []byte) (string, error) {
	s, ok := unquote(raw)
	if !ok {
		return "", errClaimType
	}
	return s, nil
}

// dateMember accepts only plain non-negative integers, as Latchkey writes
// them: no fractions, exponents, signs or strings.
func dateMember(raw []byte) (int64, error) {
	if len(raw) == 0 || len(raw) > 12 {
		return 0, errClaimDate
	}
	// Twelve digits cannot overflow an int64.
	var v int64
	for _, c := range raw {
		if c < '0' || c > '9' {
			return 0, errClaimDate
		}
		v = v*10 + int64(c-'0')
	}
	if v > latestNumericDate {
		return 0, errClaimDate
	}
	return v, nil
}

// audienceMember accepts a string or an array of strings (RFC 7519 4.1.3).
func audienceMember(raw []byte) ([]string, error) {
	if len(raw) > 0 && raw[0] == '"' {
		s, err := stringMember(raw)
		return []string{s}, err
	}
	if len(raw) == 0 || raw[0] != '[' {
		return nil, errClaimType
	}
	var buf [4][]byte
	elems, err := arrayElements(raw, buf[:0])
	if err != nil {
		return nil, errClaimType
	}
	out := make([]string, 0, len(elems))
	for _, e := range elems {
		s, err := stringMember(e)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// cnfMember accepts an object holding x5t#S256 and nothing else.
func cnfMember(raw []byte) (string, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return "", errClaimType
	}
	var buf [2]member
	members, err := objectMembers(raw, buf[:0])
	if err != nil || len(members) != 1 || string(members[0].name) != "x5t#S256" {
		return "", errClaimType
	}
	return stringMember(members[0].value)
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
	b, err := b64url.Decode(s)
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
