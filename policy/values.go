package policy

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Size limits of single values.
const (
	MaxScopeLen           = 128
	MaxAudienceLen        = 256
	MaxIdentityPatternLen = 512
)

// ValidateScope checks a scope token against RFC 6749 §3.3
// (%x21 / %x23-5B / %x5D-7E) and a length of 1 to MaxScopeLen bytes.
func ValidateScope(name string) error {
	switch {
	case name == "":
		return &valueError{ErrInvalidScope, name, "must not be empty"}
	case len(name) > MaxScopeLen:
		return &valueError{ErrInvalidScope, name, fmt.Sprintf("longer than %d bytes", MaxScopeLen)}
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isScopeChar(c) {
			return &valueError{ErrInvalidScope, name, fmt.Sprintf("byte %d (%#02x) is not allowed", i, c)}
		}
	}
	return nil
}

func isScopeChar(c byte) bool {
	return c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E)
}

// ValidateAudience checks an audience value: 1 to MaxAudienceLen bytes of
// valid UTF-8 with no whitespace, control or invisible formatting characters.
func ValidateAudience(aud string) error {
	switch {
	case aud == "":
		return &valueError{ErrInvalidAudience, aud, "must not be empty"}
	case len(aud) > MaxAudienceLen:
		return &valueError{ErrInvalidAudience, aud, fmt.Sprintf("longer than %d bytes", MaxAudienceLen)}
	}
	if reason := badText(aud); reason != "" {
		return &valueError{ErrInvalidAudience, aud, reason}
	}
	return nil
}

// badText explains why s is not printable, visible UTF-8, or returns "".
// Invisible characters are refused so that two values that look identical
// in a review or a log are identical.
func badText(s string) string {
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			// Also refuses a literal U+FFFD: it only appears after lossy decoding.
			return fmt.Sprintf("invalid UTF-8 at byte %d", i)
		case unicode.IsSpace(r):
			return fmt.Sprintf("whitespace at byte %d", i)
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r):
			return fmt.Sprintf("control or formatting character at byte %d", i)
		}
	}
	return ""
}
