package issuer

import (
	"encoding/json"
	"errors"
	"testing"
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
