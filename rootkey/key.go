package rootkey

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"hash/crc32"
	"io"
)

// Prefix starts every root key, so scanners can find leaked keys and
// humans can tell what they are holding.
const Prefix = "lk_"

const (
	// IDLen is the length of a key id.
	IDLen       = 12
	secretLen   = 32
	checksumLen = 6

	sepPos      = len(Prefix) + IDLen
	secretPos   = sepPos + 1
	checksumPos = secretPos + secretLen

	// Len is the exact length of a root key's text.
	Len = checksumPos + checksumLen
)

// ErrMalformed is returned, possibly wrapped, for every input Parse rejects.
// No error from this package quotes the input.
var ErrMalformed = errors.New("rootkey: malformed key")

// The reasons are built once so that rejecting input never allocates and
// never depends on the input's content.
var (
	errLength    = wrapMalformed("wrong length")
	errPrefix    = wrapMalformed("wrong prefix")
	errSeparator = wrapMalformed("missing separator")
	errCharset   = wrapMalformed("character outside base62")
	errChecksum  = wrapMalformed("checksum mismatch")
)

type malformedError struct{ reason string }

func wrapMalformed(reason string) error { return &malformedError{reason: reason} }

func (e *malformedError) Error() string { return ErrMalformed.Error() + ": " + e.reason }
func (e *malformedError) Unwrap() error { return ErrMalformed }

// Key is a parsed or freshly generated root key. The zero Key is not a
// valid key.
//
// Key is not comparable with == because that would compare secrets in
// variable time; use Equal. The text sits behind a pointer so that printing
// a struct that holds a Key in an unexported field, where fmt cannot call
// Key's methods, shows an address rather than the secret.
type Key struct {
	_ [0]func()
	m *material
}

type material struct {
	text [Len]byte
}

// zeroSecret stands in for the zero Key's secret. It is not base62, so no
// real key hashes to the same value.
var zeroSecret [secretLen]byte

// Generate returns a new random key.
func Generate() (Key, error) {
	return generate(rand.Reader)
}

// GenerateFor returns a new random secret for an existing key id, as a
// rotation needs: the id, and so the key's record, stays the same.
func GenerateFor(id string) (Key, error) {
	if !ValidID(id) {
		return Key{}, errCharset
	}
	return generateWith(rand.Reader, id)
}

func generate(r io.Reader) (Key, error) { return generateWith(r, "") }

// generateWith fills the id from r unless one is given.
func generateWith(r io.Reader, id string) (Key, error) {
	m := &material{}
	t := m.text[:]
	copy(t, Prefix)
	if id != "" {
		copy(t[len(Prefix):sepPos], id)
	} else if err := fillBase62(r, t[len(Prefix):sepPos]); err != nil {
		return Key{}, err
	}
	t[sepPos] = '_'
	if err := fillBase62(r, t[secretPos:checksumPos]); err != nil {
		return Key{}, err
	}
	putChecksum(t[checksumPos:], crc32.ChecksumIEEE(t[:checksumPos]))
	return Key{m: m}, nil
}

// Parse checks s offline and returns the key it spells. The input must be
// exactly the key: surrounding whitespace is rejected, not trimmed.
func Parse(s string) (Key, error) {
	// The length check comes first so that no work or allocation depends
	// on the size of hostile input.
	if len(s) != Len {
		return Key{}, errLength
	}
	if s[:len(Prefix)] != Prefix {
		return Key{}, errPrefix
	}
	if s[sepPos] != '_' {
		return Key{}, errSeparator
	}
	if !isBase62(s[len(Prefix):sepPos]) || !isBase62(s[secretPos:]) {
		return Key{}, errCharset
	}
	m := &material{}
	copy(m.text[:], s)
	if uint64(crc32.ChecksumIEEE(m.text[:checksumPos])) != checksumValue(s[checksumPos:]) {
		return Key{}, errChecksum
	}
	return Key{m: m}, nil
}

// ValidID reports whether id has the shape of a key id. It says nothing
// about whether such a key exists.
func ValidID(id string) bool {
	return len(id) == IDLen && isBase62(id)
}

// ID returns the key's public id, or "" for the zero Key.
func (k Key) ID() string {
	if k.m == nil {
		return ""
	}
	return string(k.m.text[len(Prefix):sepPos])
}

// PublicPrefix returns "lk_<keyid>_", which identifies the key without
// revealing any of its secret; "" for the zero Key.
func (k Key) PublicPrefix() string {
	if k.m == nil {
		return ""
	}
	return string(k.m.text[:secretPos])
}

// Reveal returns the full key text. It exists for the single moment a new
// key is handed to its owner; everything else should use ID or
// PublicPrefix.
func (k Key) Reveal() string {
	if k.m == nil {
		return ""
	}
	return string(k.m.text[:])
}

// IsZero reports whether k is the zero Key.
func (k Key) IsZero() bool { return k.m == nil }

// Equal reports, in constant time, whether k and o are the same key.
func (k Key) Equal(o Key) bool {
	if k.m == nil || o.m == nil {
		return k.m == nil && o.m == nil
	}
	return subtle.ConstantTimeCompare(k.m.text[:], o.m.text[:]) == 1
}

func (k Key) secret() []byte {
	if k.m == nil {
		return zeroSecret[:]
	}
	return k.m.text[secretPos:checksumPos]
}
