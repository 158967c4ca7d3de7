package verifier

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// nested is an object whose member a holds n nested arrays, or objects when
// objects is set: depth n+1 in all.
func nested(n int, objects bool) string {
	if objects {
		return strings.Repeat(`{"a":`, n+1) + "1" + strings.Repeat("}", n+1)
	}
	return `{"a":` + strings.Repeat("[", n) + strings.Repeat("]", n) + "}"
}

// manyNames is an object with n members k0..k(n-1), then extra.
func manyNames(n int, extra string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, `"k%d":%d,`, i, i)
	}
	b.WriteString(extra + "}")
	return b.String()
}

var strictCases = []struct {
	name string
	in   string
	ok   bool
}{
	{"header", `{"alg":"EdDSA","typ":"at+jwt","kid":"kid-1"}`, true},
	{"payload", `{"aud":["orders-api"],"cnf":{"x5t#S256":"AAAA"},"exp":1935818289,"scope":"a b"}`, true},
	{"empty object", `{}`, true},
	{"space everywhere", " \t\r\n{ \"a\" : [ 1 , { } ] , \"b\" : { } } \n", true},
	{"duplicate at depth 1", `{"a":1,"a":2}`, false},
	{"duplicate at depth 2", `{"a":{"b":1,"b":2}}`, false},
	{"duplicate in an object in an array", `{"a":[{"b":1},{"b":1,"b":2}]}`, false},
	{"same name in sibling objects", `{"a":{"b":1},"c":{"b":1}}`, true},
	{"same name at two depths", `{"a":{"a":{"a":1}},"b":[{"a":1}]}`, true},
	{"name repeated after a nested object closes", `{"a":{"b":1},"b":2}`, true},
	{"escaped duplicate", `{"a":1,"\u0061":2}`, false},
	{"escaped duplicate at depth 2", `{"x":{"\u0061":1,"a":2}}`, false},
	{"escaped solidus duplicate", `{"/":1,"\/":2}`, false},
	{"lone surrogates decode alike", `{"\ud800":1,"\udfff":2}`, false},
	{"lone surrogate and U+FFFD", `{"\ufffd":1,"\ud800":2}`, false},
	{"high surrogate before a letter", `{"\ud800\u0041":1,"\ufffdA":2}`, false},
	{"reversed pair", `{"\udc00\ud800":1,"\ufffd\ufffd":2}`, false},
	{"pair and raw UTF-8", `{"😀":1,"\ud83d\ude00":2}`, false},
	{"pair with capital hex", `{"😀":1,"\uD83D\uDE00":2}`, false},
	{"distinct pairs", `{"\ud83d\ude00":1,"\ud83d\ude01":2}`, true},
	{"names differing in case", `{"a":1,"A":2}`, true},
	{"empty name twice", `{"":1,"":2}`, false},
	{"invalid UTF-8 in a value", "{\"a\":\"\xff\"}", false},
	{"invalid UTF-8 in a name", "{\"\xc3\":1}", false},
	{"invalid UTF-8 after the object", "{}\xff", false},
	{"invalid UTF-8 between members", "{\"a\":1,\xa0\"b\":2}", false},
	{"overlong encoding", "{\"a\":\"\xc0\xaf\"}", false},
	{"encoded surrogate", "{\"a\":\"\xed\xa0\x80\"}", false},
	{"control character in a string", "{\"a\":\"\x01\"}", false},
	{"raw tab in a string", "{\"a\":\"\t\"}", false},
	{"DEL in a string", "{\"a\":\"\x7f\"}", true},
	{"every short escape", `{"a":"\"\\\/\b\f\n\r\t"}`, true},
	{"unknown escape", `{"a":"\x41"}`, false},
	{"single quote escape", `{"a":"\'"}`, false},
	{"short unicode escape", `{"a":"\u12"}`, false},
	{"non-hex unicode escape", `{"a":"\u12g4"}`, false},
	{"backslash at the end", `{"a":"\`, false},
	{"unterminated string", `{"a":"b}`, false},
	{"1e5", `{"a":1e5}`, true},
	{"-0", `{"a":-0}`, true},
	{"01", `{"a":01}`, false},
	{"1.", `{"a":1.}`, false},
	{".5", `{"a":.5}`, false},
	{"+1", `{"a":+1}`, false},
	{"-", `{"a":-}`, false},
	{"-a", `{"a":-a}`, false},
	{"1e", `{"a":1e}`, false},
	{"1e+", `{"a":1e+}`, false},
	{"1E-7", `{"a":1E-7}`, true},
	{"-0.0e+0", `{"a":-0.0e+0}`, true},
	{"1.5.3", `{"a":1.5.3}`, false},
	{"huge exponent", `{"a":1e999999}`, true},
	{"long integer", `{"a":123456789012345678901234567890}`, true},
	{"number as a name", `{1:2}`, false},
	{"literals", `{"a":true,"b":false,"c":null}`, true},
	{"cut literal", `{"a":tru}`, false},
	{"literal with a tail", `{"a":truex}`, false},
	{"capital literal", `{"a":True}`, false},
	{"trailing comma in an object", `{"a":1,}`, false},
	{"trailing comma in an array", `{"a":[1,]}`, false},
	{"leading comma in an array", `{"a":[,1]}`, false},
	{"leading comma in an object", `{,"a":1}`, false},
	{"missing comma", `{"a":1 "b":2}`, false},
	{"missing comma in an array", `{"a":[1 2]}`, false},
	{"missing colon", `{"a" 1}`, false},
	{"double colon", `{"a"::1}`, false},
	{"missing value", `{"a":}`, false},
	{"array closed by a brace", `{"a":[1}}`, false},
	{"object closed by a bracket", `{"a":{"b":1]}`, false},
	{"unclosed", `{"a":1`, false},
	{"unclosed array", `{"a":[`, false},
	{"two objects", `{}{}`, false},
	{"trailing letter", `{} x`, false},
	{"trailing comma", `{},`, false},
	{"NUL after", "{}\x00", false},
	{"byte order mark", "\xef\xbb\xbf{}", false},
	{"top-level array", `[]`, false},
	{"top-level string", `"a"`, false},
	{"top-level number", `1`, false},
	{"top-level null", `null`, false},
	{"empty", ``, false},
	{"only space", "  \n", false},
	{"depth 16 in arrays", nested(15, false), true},
	{"depth 17 in arrays", nested(16, false), false},
	{"depth 16 in objects", nested(15, true), true},
	{"depth 17 in objects", nested(16, true), false},
	{"depth 17 but unclosed", strings.Repeat("[", 40), false},
	{"many members", manyNames(3*manyMembers, `"z":0`), true},
	{"many members, early duplicate", manyNames(manyMembers/2, `"k3":0`), false},
	{"many members, duplicate past the map", manyNames(3*manyMembers, `"k0":0`), false},
	{"many members, last duplicate of the map", manyNames(manyMembers, `"k31":0`), false},
	{"many members, escaped duplicate past the map", manyNames(3*manyMembers, `"\u006b7":0`), false},
	{"many members nested", `{"a":` + manyNames(3*manyMembers, `"z":0`) + `,"k1":1}`, true},
	{"many members nested, duplicate", `{"a":` + manyNames(3*manyMembers, `"k40":0`) + `}`, false},
}

// The scanner accepts exactly what the decoder-based check accepted, on
// inputs chosen for each rule; both are held to the expected answer.
func TestStrictObject(t *testing.T) {
	for _, tc := range strictCases {
		t.Run(tc.name, func(t *testing.T) {
			got, ref := strictObject([]byte(tc.in)), strictObjectReference([]byte(tc.in))
			if (got == nil) != tc.ok || (ref == nil) != tc.ok {
				t.Fatalf("strictObject: %v, reference: %v, want accepted=%v", got, ref, tc.ok)
			}
			if got != nil && got != errNotStrictJSON {
				t.Fatalf("error %v, want errNotStrictJSON", got)
			}
		})
	}
}

// checkMembers holds the members objectMembers found in an accepted input
// to what json.Unmarshal reads: the same names, decoded the same way, each
// with its value's exact bytes, and string values unquoted the same way.
func checkMembers(t *testing.T, data []byte) {
	t.Helper()
	members, err := objectMembers(data, nil)
	if err != nil {
		t.Fatalf("objectMembers: %v", err)
	}
	var want map[string]json.RawMessage
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("json.Unmarshal: %v", err)
	}
	if len(members) != len(want) {
		t.Fatalf("%d members, json.Unmarshal reads %d", len(members), len(want))
	}
	for _, m := range members {
		raw, ok := want[string(m.name)]
		if !ok || !bytes.Equal(raw, m.value) {
			t.Fatalf("member %q = %q, json.Unmarshal reads %q (present %v)", m.name, m.value, raw, ok)
		}
		var ws string
		werr := json.Unmarshal(m.value, &ws)
		s, ok := unquote(m.value)
		if ok != (werr == nil && m.value[0] == '"') || s != ws {
			t.Fatalf("unquote(%q) = %q, %v; json.Unmarshal: %q, %v", m.value, s, ok, ws, werr)
		}
	}
}

func TestObjectMembers(t *testing.T) {
	for _, tc := range strictCases {
		if !tc.ok {
			continue
		}
		t.Run(tc.name, func(t *testing.T) { checkMembers(t, []byte(tc.in)) })
	}
	t.Run("in order, after what dst held", func(t *testing.T) {
		dst := []member{{name: []byte("kept")}}
		got, err := objectMembers([]byte(`{ "b" : [1, {"c":2}] ,"\u0061":"x"}`), dst)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"kept", "", "b", `[1, {"c":2}]`, "a", `"x"`}
		if len(got) != 3 {
			t.Fatalf("%d members, want 3", len(got))
		}
		for i, m := range got {
			if string(m.name) != want[2*i] || string(m.value) != want[2*i+1] {
				t.Fatalf("member %d = %q: %q, want %q: %q", i, m.name, m.value, want[2*i], want[2*i+1])
			}
		}
	})
}

func TestArrayElements(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string
		ok       bool
	}{
		{"strings", ` [ "a" , "b\u0062" ] `, []string{`"a"`, `"b\u0062"`}, true},
		{"empty", `[]`, nil, true},
		{"mixed", `[1,{"a":[2]},null]`, []string{"1", `{"a":[2]}`, "null"}, true},
		{"duplicate in an element", `[{"a":1,"a":2}]`, nil, false},
		{"depth 16", strings.Repeat("[", 16) + strings.Repeat("]", 16), []string{strings.Repeat("[", 15) + strings.Repeat("]", 15)}, true},
		{"depth 17", strings.Repeat("[", 17) + strings.Repeat("]", 17), nil, false},
		{"object", `{}`, nil, false},
		{"trailing data", `["a"]]`, nil, false},
		{"invalid UTF-8", "[\"\xff\"]", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := arrayElements([]byte(tc.in), nil)
			if (err == nil) != tc.ok {
				t.Fatalf("arrayElements: %v, want accepted=%v", err, tc.ok)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d elements, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if string(got[i]) != tc.want[i] {
					t.Fatalf("element %d = %q, want %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// unquote decodes strings as json.Unmarshal does, surrogates included, and
// refuses anything that is not exactly one string.
func TestUnquote(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{`""`, "", true},
		{`"orders.read"`, "orders.read", true},
		{`"\"\\\/\b\f\n\r\t"`, "\"\\/\b\f\n\r\t", true},
		{`"\u00e9t\u00C9"`, "étÉ", true},
		{`"\ud83d\ude00"`, "😀", true},
		{`"\ud800"`, "\ufffd", true},
		{`"\ud800\ud800"`, "\ufffd\ufffd", true},
		{`"\udc00\ud800"`, "\ufffd\ufffd", true},
		{`"\ud800x"`, "\ufffdx", true},
		{`"\ud800\u0041"`, "\ufffdA", true},
		{`"\ud83d\ude00\ud83d"`, "😀\ufffd", true},
		{`"\u0000"`, "\x00", true},
		{`"abc`, "", false},
		{`"a"b"`, "", false},
		{`"a" `, "", false},
		{`"\u12"`, "", false},
		{"\"\xff\"", "", false},
		{"\"\x1f\"", "", false},
		{`1`, "", false},
		{``, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := unquote([]byte(tc.in))
			if got != tc.want || ok != tc.ok {
				t.Fatalf("unquote = %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
			if !tc.ok {
				return
			}
			var ref string
			if err := json.Unmarshal([]byte(tc.in), &ref); err != nil || ref != got {
				t.Fatalf("json.Unmarshal = %q, %v", ref, err)
			}
		})
	}
}

// FuzzStrictObject holds the scanner to the decoder-based check on
// arbitrary bytes: the same answer on every input, and on accepted ones the
// members json.Unmarshal reads.
func FuzzStrictObject(f *testing.F) {
	for _, tc := range strictCases {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ref := strictObject(data), strictObjectReference(data)
		if (got == nil) != (ref == nil) {
			t.Fatalf("strictObject(%q) = %v, reference %v", data, got, ref)
		}
		if got == nil {
			checkMembers(t, data)
		}
	})
}
