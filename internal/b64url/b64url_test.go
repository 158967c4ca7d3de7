package b64url

import (
	"bytes"
	"encoding/base64"
	"testing"
)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []byte // nil: refused
	}{
		{"", []byte{}},
		{"AQID", []byte{1, 2, 3}},
		{"AQI", []byte{1, 2}},
		{"_-8", []byte{0xff, 0xef}},
		{"AQ", []byte{1}},
		{"AQ==", nil},   // padding
		{"AR", nil},     // non-zero trailing bits
		{"A", nil},      // impossible length
		{"AQ\nID", nil}, // a line feed the standard decoder skips
		{"AQID\r", nil}, // a carriage return
		{"\nAQID", nil},
		{"AQ\r\nID", nil},
		{"AQ+D", nil}, // standard, not URL, alphabet
		{"AQ/D", nil},
		{"AQ ID", nil},
	} {
		got, err := Decode(tc.in)
		if tc.want == nil {
			if err == nil {
				t.Errorf("Decode(%q) = %v, want it refused", tc.in, got)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("Decode(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// Whatever decodes is exactly the encoding of what it decodes to.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"AQID", "AQ\nID", "AR", "_-8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := Decode(s)
		if err != nil {
			return
		}
		if again := base64.RawURLEncoding.EncodeToString(b); again != s {
			t.Fatalf("Decode(%q) accepted a spelling of %q", s, again)
		}
	})
}
