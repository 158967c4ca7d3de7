package badger

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/latchkeyhq/latchkey/store"
)

// A page token carries the last key ID of the previous page. It is opaque
// to callers but not secret: it only lets a caller resume a listing it was
// already allowed to make. The version prefix leaves room to change the
// format without misreading old tokens.
const pageTokenPrefix = "v1:"

var pageTokenEncoding = base64.RawURLEncoding.Strict()

// maxPageTokenLen rejects oversized input before decoding it.
var maxPageTokenLen = pageTokenEncoding.EncodedLen(len(pageTokenPrefix) + store.MaxIDLength)

func encodePageToken(lastID string) string {
	return pageTokenEncoding.EncodeToString([]byte(pageTokenPrefix + lastID))
}

// decodePageToken returns the last ID of the previous page. Every token it
// accepts is exactly what encodePageToken produces for that ID.
func decodePageToken(tok string) (string, error) {
	if len(tok) > maxPageTokenLen {
		return "", fmt.Errorf("%w: too long", store.ErrInvalidPageToken)
	}
	raw, err := pageTokenEncoding.DecodeString(tok)
	if err != nil {
		return "", fmt.Errorf("%w: not base64url", store.ErrInvalidPageToken)
	}
	id, ok := strings.CutPrefix(string(raw), pageTokenPrefix)
	if !ok {
		return "", fmt.Errorf("%w: unknown format", store.ErrInvalidPageToken)
	}
	if err := store.CheckID("key id", id); err != nil {
		return "", fmt.Errorf("%w: bad key id", store.ErrInvalidPageToken)
	}
	// The decoder skips CR and LF even in strict mode, so only a token
	// that re-encodes to itself is one this package issued.
	if encodePageToken(id) != tok {
		return "", fmt.Errorf("%w: not canonical", store.ErrInvalidPageToken)
	}
	return id, nil
}
