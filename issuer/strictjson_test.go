package issuer

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheckStrictObject(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want error
	}{
		{"empty object", `{}`, nil},
		{"flat", `{"a":1,"b":"x","c":true,"d":null}`, nil},
		{"same name in sibling objects", `{"a":{"x":1},"b":{"x":2}}`, nil},
		{"same name at two depths", `{"x":{"x":{"x":1}}}`, nil},
		{"arrays of objects", `{"a":[{"x":1},{"x":2}],"b":[[],[1,[2]]]}`, nil},
		{"strings that look like names", `{"a":["a","a"],"b":"a"}`, nil},
		{"whitespace", " \t\n{ \"a\" : 1 }\n ", nil},
		{"big number", `{"a":1e400}`, nil},
		{"duplicate", `{"a":1,"a":1}`, errJSONDuplicate},
		{"duplicate after nested", `{"a":{"b":1},"a":2}`, errJSONDuplicate},
		{"duplicate nested", `{"a":{"b":1,"b":2}}`, errJSONDuplicate},
		{"duplicate in array member", `{"a":[{"b":1,"b":2}]}`, errJSONDuplicate},
		{"duplicate by escape", `{"a":1,"\u0061":2}`, errJSONDuplicate},
		{"case variants are distinct", `{"a":1,"A":2}`, nil},
		{"invalid UTF-8", "{\"a\":\"\xc3\x28\"}", errJSONUTF8},
		{"null", `null`, errJSONNotObject},
		{"array", `[{}]`, errJSONNotObject},
		{"string", `"{}"`, errJSONNotObject},
		{"empty", ``, errJSONInvalid},
		{"unclosed", `{"a":1`, errJSONInvalid},
		{"trailing comma", `{"a":1,}`, errJSONInvalid},
		{"two objects", `{}{}`, errJSONInvalid},
		{"trailing garbage", `{} x`, errJSONInvalid},
		{"mismatched close", `{"a":[1}`, errJSONInvalid},
		{"missing value", `{"a"}`, errJSONInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := checkStrictObject([]byte(tc.in))
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err == nil {
				// Whatever the strict scan accepts, encoding/json reads
				// the same way as an object.
				var m map[string]json.RawMessage
				if jerr := json.Unmarshal([]byte(tc.in), &m); jerr != nil || m == nil {
					t.Fatalf("accepted input encoding/json rejects: %v", jerr)
				}
			}
		})
	}
}

// The scanner gives the reference decoder's answer, error for error.
func TestCheckStrictObjectMatchesDecoder(t *testing.T) {
	for _, in := range strictSeeds {
		if got, want := checkStrictObject([]byte(in)), checkStrictObjectDecoder([]byte(in)); got != want {
			t.Errorf("%q: scanner %v, decoder %v", in, got, want)
		}
	}
}

func FuzzCheckStrictObject(f *testing.F) {
	for _, in := range strictSeeds {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if got, want := checkStrictObject(in), checkStrictObjectDecoder(in); got != want {
			t.Fatalf("%q: scanner %v, decoder %v", in, got, want)
		}
	})
}

var strictSeeds = []string{
	`{}`, `{"a":1,"b":"x","c":true,"d":null,"e":false}`, `{"a":{"x":1},"b":{"x":2}}`,
	`{"a":[{"x":1},{"x":2}],"b":[[],[1,[2]]]}`, " \t\n{ \"a\" : 1 }\n ", `{"a":1e400}`,
	`{"a":-0.5E+3,"b":0,"c":-1,"d":1.25e-2}`, `{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`,
	`{"a":1,"a":1}`, `{"a":1,"\u0061":2}`, `{"\ud800":1,"\udc00":2}`, `{"a\"":1,"a\u0022":2}`,
	`{"a":"\u12"}`, `{"a":"\x"}`, "{\"a\":\"\x01\"}", `{"a":"\/\b\f\n\r\t\\"}`,
	`null`, `[{}]`, `"{}"`, ``, ` `, `{"a":1`, `{"a":1,}`, `{}{}`, `{} x`, `{"a":[1}`, `{"a"}`,
	`1`, `1x`, `1 x`, `true`, `truex`, `true x`, `tru`, `"a"x`, `"a" x`, `-`, `{"a":tru}`, `{"a":truex}`,
	`{"a" 1}`, `{a:1}`, `{"a":1 "b":2}`, `[`, `{"a":[,]}`, `{"a":[1,]}`, `{,}`, "{\"a\":1}\x00",
	strings.Repeat("[", 50) + strings.Repeat("]", 50), `{"a":` + strings.Repeat("[", 60) + strings.Repeat("]", 60) + `}`,
}

// decoderFrame is one open object or array while scanning.
type decoderFrame struct {
	object  bool
	wantKey bool
	keys    map[string]struct{}
}

// checkStrictObjectDecoder is the json.Decoder-based check the scanner
// replaced, kept as the reference the scanner must agree with.
// It reports whether data is exactly one JSON object in valid
// UTF-8 with no member name repeated in any object at any depth.
//
// encoding/json silently keeps the last of duplicate members and replaces bad
// UTF-8, so two parsers can read the same bytes differently; refusing such input
// leaves only one reading. The returned errors never quote the input.
func checkStrictObjectDecoder(data []byte) error {
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
	stack := []decoderFrame{{object: true, wantKey: true}}
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
			stack = append(stack, decoderFrame{object: true, wantKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, decoderFrame{})
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
