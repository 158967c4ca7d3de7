package issuer

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"sync"

	"github.com/latchkeyhq/latchkey/internal/jsonenc"
)

// enc64Max is room for the base64url of a signature of any supported
// algorithm (RS256 with a 4096-bit key, 512 bytes), on the stack.
const enc64Max = 688

// claimsBuffers holds scratch space for encoding claims before base64.
var claimsBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// encodeHeader is the base64url JOSE header of every token k signs. The
// members are in encoding/json's order for a map (sorted).
func encodeHeader(k *SigningKey) string {
	h, _ := json.Marshal(map[string]string{"alg": k.alg, "kid": k.kid, "typ": tokenType}) // strings only: cannot fail
	return base64.RawURLEncoding.EncodeToString(h)
}

// encodeIssuer is the claims' opening up to the issuer, the same in every
// token: `{"iss":"<issuer>"`.
func encodeIssuer(iss string) string {
	return string(jsonenc.String([]byte(`{"iss":`), iss))
}

// appendClaims appends c's JSON: byte for byte what json.Marshal writes
// for it (the tests hold it to that), without reflection. opening is
// encodeIssuer(c.Issuer), made once per Issuer.
func appendClaims(dst []byte, opening string, c *wireClaims) []byte {
	dst = append(dst, opening...)
	dst = jsonenc.String(append(dst, `,"sub":`...), c.Subject)
	dst = jsonenc.Strings(append(dst, `,"aud":`...), c.Audience)
	dst = strconv.AppendInt(append(dst, `,"exp":`...), c.ExpiresAt, 10)
	dst = strconv.AppendInt(append(dst, `,"nbf":`...), c.NotBefore, 10)
	dst = strconv.AppendInt(append(dst, `,"iat":`...), c.IssuedAt, 10)
	dst = jsonenc.String(append(dst, `,"jti":`...), c.JTI)
	if c.Scope != "" {
		dst = jsonenc.String(append(dst, `,"scope":`...), c.Scope)
	}
	dst = jsonenc.String(append(dst, `,"client_id":`...), c.ClientID)
	dst = jsonenc.String(append(dst, `,"cnf":{"x5t#S256":`...), c.Cnf.X5TS256)
	return append(dst, "}}"...)
}
