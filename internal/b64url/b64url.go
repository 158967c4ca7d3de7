// Package b64url decodes the unpadded base64url of JOSE (RFC 7515, section
// 2) in its one canonical spelling.
package b64url

import (
	"encoding/base64"
	"errors"
)

var enc = base64.RawURLEncoding.Strict()

// ErrNotCanonical means the input decoded, but is not how its bytes are
// encoded: it holds characters the decoder skipped.
var ErrNotCanonical = errors.New("not canonical base64url")

// Decode decodes s, refusing padding, non-zero trailing bits and the
// carriage returns and line feeds that encoding/base64 skips even in strict
// mode. Accepting those would let one signature, or one key, travel under
// many spellings.
func Decode(s string) ([]byte, error) {
	b, err := enc.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if enc.EncodedLen(len(b)) != len(s) {
		return nil, ErrNotCanonical
	}
	return b, nil
}
