package verifier

import (
	"bytes"
	"errors"
	"unicode/utf8"
)

// maxJSONDepth bounds nesting, counting the top-level object as one.
// Latchkey's headers and claims nest two levels deep; the bound keeps the
// scanner's stack of open containers small and fixed.
const maxJSONDepth = 16

var errNotStrictJSON = errors.New("not a single JSON object in valid UTF-8 without duplicate members")

// manyMembers is the member count past which an object's names go into a map.
// Token objects stay well below it and are compared in place, without
// allocating; a hostile object with thousands of names would otherwise cost
// a quadratic number of comparisons.
const manyMembers = 32

// member is one member of a JSON object: its name as encoding/json would
// decode it and its value exactly as written, without surrounding space.
// Both alias the scanned bytes, except a name that held an escape.
type member struct {
	name, value []byte
}

// strictObject reports whether data is exactly one JSON object, in valid
// UTF-8, in which no object at any depth repeats a member name.
//
// encoding/json keeps the last of two duplicate members and replaces invalid
// UTF-8 silently; another parser may keep the first. Refusing both leaves one
// reading of the bytes that were signed.
func strictObject(data []byte) error {
	_, err := objectMembers(data, nil)
	return err
}

// objectMembers checks data as strictObject does and appends the members of
// its top-level object to dst, in order. Checking and splitting happen in the
// same walk, so a caller reads every member without decoding twice; nothing
// is returned unless the whole input passed.
func objectMembers(data []byte, dst []member) ([]member, error) {
	s := jsonScanner{data: data}
	if !utf8.Valid(data) || !s.open('{') {
		return nil, errNotStrictJSON
	}
	members, _, ok := s.walk(dst, nil)
	if !ok || !s.end() {
		return nil, errNotStrictJSON
	}
	return members, nil
}

// arrayElements checks that data is exactly one JSON array under the same
// rules and appends the raw values of its elements to dst, in order.
func arrayElements(data []byte, dst [][]byte) ([][]byte, error) {
	s := jsonScanner{data: data}
	if !utf8.Valid(data) || !s.open('[') {
		return nil, errNotStrictJSON
	}
	var names [8]member
	_, elems, ok := s.walk(names[:0], dst)
	if !ok || !s.end() {
		return nil, errNotStrictJSON
	}
	return elems, nil
}

// jsonScanner walks RFC 8259 JSON over input already known to be valid
// UTF-8. Its methods report success; what went wrong is never more than
// errNotStrictJSON, so there is nothing else to say.
type jsonScanner struct {
	data []byte
	i    int
}

// open skips leading space and reports whether the top-level value starts
// with c.
func (s *jsonScanner) open(c byte) bool {
	s.space()
	return s.at(c)
}

// end reports whether nothing but space follows.
func (s *jsonScanner) end() bool {
	s.space()
	return s.i == len(s.data)
}

func (s *jsonScanner) at(c byte) bool { return s.i < len(s.data) && s.data[s.i] == c }

func (s *jsonScanner) space() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// container is an object or array the walk is inside.
type container struct {
	close byte
	// first is where the object's members start in the walk's names.
	first int
	// seen holds the names once there are many of them.
	seen map[string]struct{}
	// name and start are the name and the offset of the member or element
	// being scanned.
	name  []byte
	start int
}

// walk scans the object or array at s.i. It appends the members of a
// top-level object to names and the elements of a top-level array to elems.
//
// It keeps its own stack of open containers, bounded by maxJSONDepth, rather
// than recursing: nesting cannot grow the goroutine stack, and the caller's
// buffers stay on the caller's stack. The names of every open object share
// the one names slice, outermost first; an inner object drops its own when
// it closes, so only the top-level object's remain at the end.
func (s *jsonScanner) walk(names []member, elems [][]byte) ([]member, [][]byte, bool) {
	var stack [maxJSONDepth]container
	depth := 0
	for {
		// s.i is at a value, space skipped.
		if depth > 0 {
			stack[depth-1].start = s.i
		}
		if c, ok := s.peek(); ok && (c == '{' || c == '[') {
			if depth == maxJSONDepth {
				return names, elems, false
			}
			top := &stack[depth]
			depth++
			*top = container{close: '}', first: len(names)}
			if c == '[' {
				top.close = ']'
			}
			s.i++
			s.space()
			if !s.at(top.close) {
				if c == '{' {
					if top.name, ok = s.name(names[top.first:], top.seen); !ok {
						return names, elems, false
					}
				}
				continue
			}
			s.i++
			depth--
		} else if !s.scalar() {
			return names, elems, false
		}
		// A value has ended: record it, then close every container that
		// ends with it, until one goes on with another value.
		for {
			if depth == 0 {
				return names, elems, true
			}
			top := &stack[depth-1]
			value := s.data[top.start:s.i]
			switch {
			case top.close == '}':
				names = append(names, member{name: top.name, value: value})
				top.seen = remember(names[top.first:], top.seen)
			case depth == 1:
				elems = append(elems, value)
			}
			s.space()
			if s.at(',') {
				s.i++
				s.space()
				if top.close == '}' {
					var ok bool
					if top.name, ok = s.name(names[top.first:], top.seen); !ok {
						return names, elems, false
					}
				}
				break
			}
			if !s.at(top.close) {
				return names, elems, false
			}
			s.i++
			if top.close == '}' && depth > 1 {
				names = names[:top.first]
			}
			depth--
		}
	}
}

func (s *jsonScanner) peek() (byte, bool) {
	if s.i >= len(s.data) {
		return 0, false
	}
	return s.data[s.i], true
}

// name scans a member name, the colon and the space after it, and refuses a
// name the object already has: siblings are its members so far, seen the
// same once there are many.
func (s *jsonScanner) name(siblings []member, seen map[string]struct{}) ([]byte, bool) {
	start := s.i
	if !s.at('"') {
		return nil, false
	}
	escaped, ok := s.str()
	if !ok {
		return nil, false
	}
	name := s.data[start+1 : s.i-1]
	if escaped {
		name = appendUnquoted(nil, name)
	}
	if seen != nil {
		if _, dup := seen[string(name)]; dup {
			return nil, false
		}
	} else {
		for _, m := range siblings {
			if bytes.Equal(m.name, name) {
				return nil, false
			}
		}
	}
	s.space()
	if !s.at(':') {
		return nil, false
	}
	s.i++
	s.space()
	return name, true
}

// remember adds the newest of an object's members to seen, creating seen
// once the object has manyMembers.
func remember(members []member, seen map[string]struct{}) map[string]struct{} {
	switch {
	case seen != nil:
		seen[string(members[len(members)-1].name)] = struct{}{}
	case len(members) == manyMembers:
		seen = make(map[string]struct{}, 2*manyMembers)
		for _, m := range members {
			seen[string(m.name)] = struct{}{}
		}
	}
	return seen
}

// scalar scans a string, number or literal at s.i.
func (s *jsonScanner) scalar() bool {
	c, ok := s.peek()
	switch {
	case !ok:
		return false
	case c == '"':
		_, ok := s.str()
		return ok
	case c == '-' || isDigit(c):
		return s.number()
	}
	return s.literal("true") || s.literal("false") || s.literal("null")
}

func (s *jsonScanner) literal(lit string) bool {
	if len(s.data)-s.i < len(lit) || string(s.data[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at s.i. What
// follows is the container's business: "01" fails there, on the '1'.
func (s *jsonScanner) number() bool {
	if s.at('-') {
		s.i++
	}
	switch {
	case s.at('0'):
		s.i++
	case s.i < len(s.data) && '1' <= s.data[s.i] && s.data[s.i] <= '9':
		s.digits()
	default:
		return false
	}
	if s.at('.') {
		s.i++
		if !s.digits() {
			return false
		}
	}
	if s.at('e') || s.at('E') {
		s.i++
		if s.at('+') || s.at('-') {
			s.i++
		}
		if !s.digits() {
			return false
		}
	}
	return true
}

// digits scans a run of decimal digits and reports whether it was not empty.
func (s *jsonScanner) digits() bool {
	start := s.i
	for s.i < len(s.data) && isDigit(s.data[s.i]) {
		s.i++
	}
	return s.i > start
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
