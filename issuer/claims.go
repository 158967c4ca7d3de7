package issuer

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// maxNumericDate is 9999-12-31T23:59:59Z. Anything later is either an attack
// on time arithmetic (1e19 does not fit int64 nanoseconds) or a bug.
const maxNumericDate = 253402300799

var (
	errClaimType    = errors.New("claim has the wrong JSON type")
	errClaimDate    = errors.New("date claim is not an integer in range")
	errClaimAud     = errors.New("aud must be a string or an array of strings")
	errClaimCnf     = errors.New("cnf must be an object holding only x5t#S256")
	errClaimPayload = errors.New("claims are not a JSON object")
)

// Bits of wireClaims.present.
const (
	hasIss = 1 << iota
	hasSub
	hasAud
	hasExp
	hasNbf
	hasIat
	hasJTI
	hasScope
	hasClientID
	hasCnf
	hasUnknown
)

// wireClaims is the payload exactly as it travels. Marshalling uses the struct
// tags; unmarshalling is hand-written so that member names match exactly (the
// default decoder matches them case-insensitively), null never passes as a
// value, and dates are integers only.
type wireClaims struct {
	Issuer    string       `json:"iss"`
	Subject   string       `json:"sub"`
	Audience  []string     `json:"aud"`
	ExpiresAt int64        `json:"exp"`
	NotBefore int64        `json:"nbf"`
	IssuedAt  int64        `json:"iat"`
	JTI       string       `json:"jti"`
	Scope     string       `json:"scope,omitempty"`
	ClientID  string       `json:"client_id"`
	Cnf       confirmation `json:"cnf"`

	present int
}

type confirmation struct {
	X5TS256 string `json:"x5t#S256"`
}

var _ jwt.Claims = (*wireClaims)(nil)

// UnmarshalJSON implements json.Unmarshaler with decode, so that a payload
// read through encoding/json is read exactly as Verify reads it.
func (c *wireClaims) UnmarshalJSON(data []byte) error {
	err := c.decode(data)
	switch {
	case errors.Is(err, errJSONNotObject), errors.Is(err, errJSONInvalid), errors.Is(err, errJSONUTF8), errors.Is(err, errJSONDuplicate):
		return errClaimPayload
	}
	return err
}

// decode records what is present and rejects wrong types in one pass of the
// strict scanner, which also refuses everything checkStrictObject refuses.
// Whether required claims are present is decided after the signature has been
// checked.
func (c *wireClaims) decode(data []byte) error {
	*c = wireClaims{}
	return forEachMember(data, func(name, raw []byte) error {
		var err error
		switch string(name) {
		case "iss":
			c.present |= hasIss
			c.Issuer, err = jsonString(raw)
		case "sub":
			c.present |= hasSub
			c.Subject, err = jsonString(raw)
		case "aud":
			c.present |= hasAud
			c.Audience, err = audience(raw)
		case "exp":
			c.present |= hasExp
			c.ExpiresAt, err = numericDate(raw)
		case "nbf":
			c.present |= hasNbf
			c.NotBefore, err = numericDate(raw)
		case "iat":
			c.present |= hasIat
			c.IssuedAt, err = numericDate(raw)
		case "jti":
			c.present |= hasJTI
			c.JTI, err = jsonString(raw)
		case "scope":
			c.present |= hasScope
			c.Scope, err = jsonString(raw)
		case "client_id":
			c.present |= hasClientID
			c.ClientID, err = jsonString(raw)
		case "cnf":
			c.present |= hasCnf
			c.Cnf, err = cnf(raw)
		default:
			c.present |= hasUnknown
		}
		return err
	})
}

func jsonString(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", errClaimType
	}
	// Members come from forEachMember, which checked the string and the
	// UTF-8: one without an escape is its bytes.
	if len(raw) >= 2 && raw[len(raw)-1] == '"' && bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errClaimType
	}
	return s, nil
}

// numericDate accepts only the plain non-negative integers Mint writes.
func numericDate(raw json.RawMessage) (int64, error) {
	if len(raw) == 0 || len(raw) > 12 {
		return 0, errClaimDate
	}
	for _, b := range raw {
		if b < '0' || b > '9' {
			return 0, errClaimDate
		}
	}
	v, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil || v > maxNumericDate {
		return 0, errClaimDate
	}
	return v, nil
}

// audience accepts the RFC 7519 single-string form as well as arrays, but
// never null or non-string members.
func audience(raw json.RawMessage) ([]string, error) {
	if len(raw) > 0 && raw[0] == '"' {
		s, err := jsonString(raw)
		return []string{s}, err
	}
	if len(raw) == 0 || raw[0] != '[' {
		return nil, errClaimAud
	}
	// Tokens name one audience or a few.
	out := make([]string, 0, 2)
	err := forEachElement(raw, func(m []byte) error {
		s, err := jsonString(m)
		out = append(out, s)
		return err
	})
	if err != nil {
		return nil, errClaimAud
	}
	return out, nil
}

func cnf(raw json.RawMessage) (confirmation, error) {
	var out confirmation
	n := 0
	err := forEachMember(raw, func(name, v []byte) error {
		n++
		if string(name) != "x5t#S256" {
			return errClaimCnf
		}
		s, err := jsonString(v)
		out.X5TS256 = s
		return err
	})
	if err != nil || n != 1 {
		return confirmation{}, errClaimCnf
	}
	return out, nil
}

func (c *wireClaims) date(bit int, v int64) (*jwt.NumericDate, error) {
	if c.present&bit == 0 {
		return nil, nil
	}
	return jwt.NewNumericDate(time.Unix(v, 0)), nil
}

// GetExpirationTime implements jwt.Claims.
func (c *wireClaims) GetExpirationTime() (*jwt.NumericDate, error) {
	return c.date(hasExp, c.ExpiresAt)
}

// GetNotBefore implements jwt.Claims.
func (c *wireClaims) GetNotBefore() (*jwt.NumericDate, error) { return c.date(hasNbf, c.NotBefore) }

// GetIssuedAt implements jwt.Claims.
func (c *wireClaims) GetIssuedAt() (*jwt.NumericDate, error) { return c.date(hasIat, c.IssuedAt) }

// GetIssuer implements jwt.Claims.
func (c *wireClaims) GetIssuer() (string, error) { return c.Issuer, nil }

// GetSubject implements jwt.Claims.
func (c *wireClaims) GetSubject() (string, error) { return c.Subject, nil }

// GetAudience implements jwt.Claims.
func (c *wireClaims) GetAudience() (jwt.ClaimStrings, error) { return c.Audience, nil }
