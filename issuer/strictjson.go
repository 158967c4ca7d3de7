package issuer

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"unicode/utf8"
)

var (
	errJSONNotObject = errors.New("not a JSON object")
	errJSONDuplicate = errors.New("duplicate JSON member")
	errJSONInvalid   = errors.New("invalid JSON")
	errJSONUTF8      = errors.New("invalid UTF-8")
)

// scanFrame is one open object or array while scanning.
type scanFrame struct {
	object  bool
	wantKey bool
	keys    map[string]struct{}
}

// checkStrictObject reports whether data is exactly one JSON object in valid
// UTF-8 with no member name repeated in any object at any depth.
//
// encoding/json silently keeps the last of duplicate members and replaces bad
// UTF-8, so two parsers can read the same bytes differently; refusing such input
// leaves only one reading. The returned errors never quote the input.
func checkStrictObject(data []byte) error {
	if !utf8.Valid(data) {
		return errJSONUTF8
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return errJSONInvalid
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errJSONNotObject
	}
	stack := []scanFrame{{object: true, wantKey: true}}
	for len(stack) > 0 {
		tok, err := dec.Token()
		if err != nil {
			return errJSONInvalid
		}
		top := &stack[len(stack)-1]
		if key, ok := tok.(string); ok && top.object && top.wantKey {
			if _, dup := top.keys[key]; dup {
				return errJSONDuplicate
			}
			if top.keys == nil {
				top.keys = make(map[string]struct{})
			}
			top.keys[key] = struct{}{}
			top.wantKey = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, scanFrame{object: true, wantKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, scanFrame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			// The decoder has already checked that the closing
			// delimiter matches and does not follow a dangling key.
			stack = stack[:len(stack)-1]
		}
		// A value (scalar or just-closed container) has ended.
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].wantKey = true
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return errJSONInvalid
	}
	return nil
}
