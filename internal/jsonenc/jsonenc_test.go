package jsonenc

import (
	"bytes"
	"encoding/json"
	"testing"
)

var stringCases = []string{
	"", "plain", `quote " and backslash \`, "<script>&amp;</script>",
	"\x00\x01\x08\x0c\n\r\t\x1f\x7f", "caf\u00e9 \u65e5\u672c \U0001F512",
	"line\u2028para\u2029", "[fe80::1%eth0]:443", "[fe80::1%<z\"one>]:1", "bad \xff\xfe utf8 \xe2\x82", "\xed\xa0\x80 surrogate",
	"spiffe://prod.example/ns/orders/sa/api", "lk_9f8e7d6c_abc",
}

func TestStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range stringCases {
		t.Run(s, func(t *testing.T) {
			want, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			if got := String([]byte("x"), s); !bytes.Equal(got[1:], want) || got[0] != 'x' {
				t.Fatalf("String(%q) = %s, want x%s", s, got, want)
			}
			if got := StringBytes([]byte("x"), []byte(s)); !bytes.Equal(got[1:], want) || got[0] != 'x' {
				t.Fatalf("StringBytes(%q) = %s, want x%s", s, got, want)
			}
		})
	}
}

func TestStringsAndBytesMatchEncodingJSON(t *testing.T) {
	for _, ss := range [][]string{nil, {}, {"a"}, {"orders.read", "<b>", "\xff"}} {
		want, _ := json.Marshal(ss)
		if got := Strings(nil, ss); !bytes.Equal(got, want) {
			t.Errorf("Strings(%q) = %s, want %s", ss, got, want)
		}
	}
	for _, b := range [][]byte{nil, {}, {0}, {0xff, 0xfe, 0xfd, 0xfc}, bytes.Repeat([]byte{7}, 33)} {
		want, _ := json.Marshal(b)
		if got := Bytes(nil, b); !bytes.Equal(got, want) {
			t.Errorf("Bytes(%v) = %s, want %s", b, got, want)
		}
	}
}

func TestKeySeparatesMembers(t *testing.T) {
	b := Key([]byte("{"), "a")
	b = append(b, '1')
	b = Key(b, "b<")
	b = append(b, "2}"...)
	if got, want := string(b), `{"a":1,"b\u003c":2}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func FuzzString(f *testing.F) {
	for _, s := range stringCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := String(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("String(%q) = %s, want %s", s, got, want)
		}
		if got := StringBytes(nil, []byte(s)); !bytes.Equal(got, want) {
			t.Fatalf("StringBytes(%q) = %s, want %s", s, got, want)
		}
	})
}
