package verifier

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"unicode/utf8"
)

// maxJSONDepth bounds nesting. Latchkey's headers and claims nest two levels
// deep; the bound keeps a hostile payload from recursing far.
const maxJSONDepth = 16

var errNotStrictJSON = errors.New("not a single JSON object in valid UTF-8 without duplicate members")

// strictObject reports whether data is exactly one JSON object, in valid
// UTF-8, in which no object at any depth repeats a member name.
//
// encoding/json keeps the last of two duplicate members and replaces invalid
// UTF-8 silently; another parser may keep the first. Refusing both leaves one
// reading of the bytes that were signed.
func strictObject(data []byte) error {
	if !utf8.Valid(data) {
		return errNotStrictJSON
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return errNotStrictJSON
	}
	if err := scanObject(dec, 1); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errNotStrictJSON
	}
	return nil
}

// scanObject reads the members of an object whose '{' was consumed.
func scanObject(dec *json.Decoder, depth int) error {
	seen := map[string]bool{}
	for {
		tok, err := dec.Token()
		if err != nil {
			return errNotStrictJSON
		}
		if tok == json.Delim('}') {
			return nil
		}
		name, ok := tok.(string)
		if !ok || seen[name] {
			return errNotStrictJSON
		}
		seen[name] = true
		if err := scanValue(dec, depth); err != nil {
			return err
		}
	}
}

// scanArray reads the elements of an array whose '[' was consumed.
func scanArray(dec *json.Decoder, depth int) error {
	for dec.More() {
		if err := scanValue(dec, depth); err != nil {
			return err
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim(']') {
		return errNotStrictJSON
	}
	return nil
}

func scanValue(dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return errNotStrictJSON
	}
	switch tok {
	case json.Delim('{'), json.Delim('['):
		if depth >= maxJSONDepth {
			return errNotStrictJSON
		}
		if tok == json.Delim('{') {
			return scanObject(dec, depth+1)
		}
		return scanArray(dec, depth+1)
	case json.Delim('}'), json.Delim(']'):
		return errNotStrictJSON
	}
	return nil
}
