package verifier

import (
	"unicode/utf16"
	"unicode/utf8"
)

// str scans the string whose opening quote is at s.i, leaves s.i after the
// closing quote, and reports whether the string holds an escape. Bytes at or
// above 0x80 pass as they are: the whole input is valid UTF-8 already.
func (s *jsonScanner) str() (escaped, ok bool) {
	s.i++
	for s.i < len(s.data) {
		switch c := s.data[s.i]; {
		case c == '"':
			s.i++
			return escaped, true
		case c == '\\':
			escaped = true
			if !s.escape() {
				return false, false
			}
		case c < 0x20:
			return false, false
		default:
			s.i++
		}
	}
	return false, false
}

// escape scans the escape sequence whose backslash is at s.i.
func (s *jsonScanner) escape() bool {
	if s.i+1 >= len(s.data) {
		return false
	}
	switch s.data[s.i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.i += 2
		return true
	case 'u':
		if len(s.data)-s.i < 6 || hex4(s.data[s.i+2:s.i+6]) < 0 {
			return false
		}
		s.i += 6
		return true
	}
	return false
}

// hex4 decodes four hexadecimal digits, or returns -1.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// appendUnquoted appends the decoded form of body, the inside of a string
// that str accepted, to dst.
//
// It decodes as encoding/json does, because names are compared in that form:
// a surrogate that is not half of a valid pair becomes U+FFFD, so "\ud800"
// and "\udfff" name the same member and are refused as a duplicate, as they
// would otherwise both be read as one name.
func appendUnquoted(dst, body []byte) []byte {
	for i := 0; i < len(body); {
		if body[i] != '\\' {
			dst = append(dst, body[i])
			i++
			continue
		}
		switch c := body[i+1]; c {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(body[i+2:])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(body) && body[i] == '\\' && body[i+1] == 'u' {
					if pair := utf16.DecodeRune(r, hex4(body[i+2:])); pair != utf8.RuneError {
						dst = utf8.AppendRune(dst, pair)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, c)
		}
		i += 2
	}
	return dst
}

// unquote returns the string raw holds, or false when raw is not exactly one
// JSON string.
func unquote(raw []byte) (string, bool) {
	b, ok := unquoteBytes(raw)
	return string(b), ok
}

// unquoteBytes is unquote for a caller that only looks at the string.
// Latchkey never escapes a character it does not have to, so the usual case
// is the bytes between the quotes, not a copy.
func unquoteBytes(raw []byte) ([]byte, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return nil, false
	}
	s := jsonScanner{data: raw}
	escaped, ok := s.str()
	if !ok || s.i != len(raw) || !utf8.Valid(raw) {
		return nil, false
	}
	body := raw[1 : len(raw)-1]
	if !escaped {
		return body, true
	}
	return appendUnquoted(make([]byte, 0, len(body)), body), true
}
