package issuer

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

var (
	errJSONNotObject = errors.New("not a JSON object")
	errJSONDuplicate = errors.New("duplicate JSON member")
	errJSONInvalid   = errors.New("invalid JSON")
	errJSONUTF8      = errors.New("invalid UTF-8")
)

// checkStrictObject reports whether data is exactly one JSON object in valid
// UTF-8 with no member name repeated in any object at any depth.
//
// encoding/json silently keeps the last of duplicate members and replaces bad
// UTF-8, so two parsers can read the same bytes differently; refusing such input
// leaves only one reading. The returned errors never quote the input.
//
// It is a hand-written scanner of RFC 8259's grammar, because every
// verification runs it and json.Decoder's token stream cost a tenth of an
// introspection; its tests hold it to the decoder's answers.
func checkStrictObject(data []byte) error { return forEachMember(data, nil) }

// maxStrictDepth matches encoding/json's nesting limit.
const maxStrictDepth = 10000

type strictScanner struct {
	data []byte
	i    int
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (s *strictScanner) space() {
	for s.i < len(s.data) && isSpace(s.data[s.i]) {
		s.i++
	}
}

// value scans one value at s.i (space already skipped).
func (s *strictScanner) value(depth int) error {
	if s.i >= len(s.data) {
		return errJSONInvalid
	}
	switch s.data[s.i] {
	case '{':
		return s.object(depth + 1)
	case '[':
		return s.array(depth+1, nil)
	}
	return s.scalar()
}

func (s *strictScanner) object(depth int) error { return s.members(depth, nil) }

// members scans the object at s.i, refusing a repeated member name, and
// calls fn (when set) with each member's unescaped name and raw value.
func (s *strictScanner) members(depth int, fn func(name, raw []byte) error) error {
	if depth > maxStrictDepth {
		return errJSONInvalid
	}
	s.i++ // {
	s.space()
	if s.i < len(s.data) && s.data[s.i] == '}' {
		s.i++
		return nil
	}
	// Objects in tokens are small: names are compared in a short slice,
	// unescaped only when they hold an escape. The slice starts on the
	// stack, which holds every object a valid token has.
	var buf [16][]byte
	names := buf[:0]
	for {
		if s.i >= len(s.data) || s.data[s.i] != '"' {
			return errJSONInvalid
		}
		start := s.i
		escaped, err := s.str()
		if err != nil {
			return err
		}
		name := s.data[start+1 : s.i-1]
		if escaped {
			var u string
			if json.Unmarshal(s.data[start:s.i], &u) != nil {
				return errJSONInvalid
			}
			name = []byte(u)
		}
		for _, n := range names {
			if bytes.Equal(n, name) {
				return errJSONDuplicate
			}
		}
		names = append(names, name)
		s.space()
		if s.i >= len(s.data) || s.data[s.i] != ':' {
			return errJSONInvalid
		}
		s.i++
		s.space()
		vstart := s.i
		if err := s.value(depth); err != nil {
			return err
		}
		if fn != nil {
			if err := fn(name, s.data[vstart:s.i]); err != nil {
				return err
			}
		}
		if end, err := s.separator('}'); end || err != nil {
			return err
		}
	}
}

// separator reads what follows a member or an element: a comma, or the
// closing byte, after which the container is done.
func (s *strictScanner) separator(closing byte) (end bool, err error) {
	s.space()
	if s.i >= len(s.data) {
		return false, errJSONInvalid
	}
	switch s.data[s.i] {
	case ',':
		s.i++
		s.space()
		return false, nil
	case closing:
		s.i++
		return true, nil
	}
	return false, errJSONInvalid
}

// array scans the array at s.i and calls fn (when set) with each element's
// raw value.
func (s *strictScanner) array(depth int, fn func(raw []byte) error) error {
	if depth > maxStrictDepth {
		return errJSONInvalid
	}
	s.i++ // [
	s.space()
	if s.i < len(s.data) && s.data[s.i] == ']' {
		s.i++
		return nil
	}
	for {
		start := s.i
		if err := s.value(depth); err != nil {
			return err
		}
		if fn != nil {
			if err := fn(s.data[start:s.i]); err != nil {
				return err
			}
		}
		if end, err := s.separator(']'); end || err != nil {
			return err
		}
	}
}

// scalar scans a string, number or literal at s.i.
func (s *strictScanner) scalar() error {
	if s.i >= len(s.data) {
		return errJSONInvalid
	}
	switch c := s.data[s.i]; {
	case c == '"':
		_, err := s.str()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number()
	}
	for _, lit := range []string{"true", "false", "null"} {
		if bytes.HasPrefix(s.data[s.i:], []byte(lit)) {
			s.i += len(lit)
			return nil
		}
	}
	return errJSONInvalid
}

// str scans a string at s.i, leaving s.i after its closing quote, and
// reports whether it holds an escape. The input is valid UTF-8 already.
func (s *strictScanner) str() (escaped bool, err error) {
	s.i++ // "
	for s.i < len(s.data) {
		c := s.data[s.i]
		switch {
		case c == '"':
			s.i++
			return escaped, nil
		case c < 0x20:
			return false, errJSONInvalid
		case c == '\\':
			escaped = true
			if s.i+1 >= len(s.data) {
				return false, errJSONInvalid
			}
			switch s.data[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.data) {
					return false, errJSONInvalid
				}
				for _, h := range s.data[s.i+2 : s.i+6] {
					if !isHex(h) {
						return false, errJSONInvalid
					}
				}
				s.i += 6
			default:
				return false, errJSONInvalid
			}
		default:
			s.i++
		}
	}
	return false, errJSONInvalid
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// number scans -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? at s.i.
func (s *strictScanner) number() error {
	d := s.data
	if d[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(d) && d[s.i] == '0':
		s.i++
	case s.i < len(d) && d[s.i] >= '1' && d[s.i] <= '9':
		s.digits()
	default:
		return errJSONInvalid
	}
	if s.i < len(d) && d[s.i] == '.' {
		s.i++
		if !s.digits() {
			return errJSONInvalid
		}
	}
	if s.i < len(d) && (d[s.i] == 'e' || d[s.i] == 'E') {
		s.i++
		if s.i < len(d) && (d[s.i] == '+' || d[s.i] == '-') {
			s.i++
		}
		if !s.digits() {
			return errJSONInvalid
		}
	}
	return nil
}

// digits scans one or more decimal digits and reports whether there was one.
func (s *strictScanner) digits() bool {
	start := s.i
	for s.i < len(s.data) && s.data[s.i] >= '0' && s.data[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

// forEachMember calls fn with each member of the JSON object in data, in
// order: its name (unescaped) and its raw value, both slices that fn must not
// keep beyond data's life or modify. Names are bytes so that callers can switch
// on them without allocating a string per member.
//
// data must hold exactly one object in valid UTF-8 with no member name
// repeated at any depth; anything else is the error checkStrictObject
// reports, so a caller that walks the members needs no separate check. An
// error from fn stops the walk and is returned as is.
func forEachMember(data []byte, fn func(name, raw []byte) error) error {
	if !utf8.Valid(data) {
		return errJSONUTF8
	}
	sc := strictScanner{data: data}
	sc.space()
	if sc.i == len(data) {
		return errJSONInvalid
	}
	if data[sc.i] != '{' {
		// As a decoder reports it: not an object once it has read a
		// first token that is not '{' (an array's opening bracket, or a
		// whole scalar), invalid if it could not read one.
		if data[sc.i] == '[' || sc.scalar() == nil {
			return errJSONNotObject
		}
		return errJSONInvalid
	}
	if err := sc.members(1, fn); err != nil {
		return err
	}
	sc.space()
	if sc.i != len(data) {
		return errJSONInvalid
	}
	return nil
}

// forEachElement calls fn with the raw value of each element of the JSON array
// in data, in order. data must hold exactly one array in valid UTF-8 with no
// member name repeated in any object inside it.
func forEachElement(data []byte, fn func(raw []byte) error) error {
	if !utf8.Valid(data) {
		return errJSONUTF8
	}
	sc := strictScanner{data: data}
	sc.space()
	if sc.i == len(data) || data[sc.i] != '[' {
		return errJSONInvalid
	}
	if err := sc.array(1, fn); err != nil {
		return err
	}
	sc.space()
	if sc.i != len(data) {
		return errJSONInvalid
	}
	return nil
}
