package badger

import (
	"errors"
	"strings"
	"testing"

	"github.com/latchkeyhq/latchkey/store"
)

func TestPageTokenRoundTrip(t *testing.T) {
	for _, id := range []string{"a", "key-0001", "b/1", "ünï", strings.Repeat("z", store.MaxIDLength)} {
		t.Run(id[:min(len(id), 10)], func(t *testing.T) {
			tok := encodePageToken(id)
			got, err := decodePageToken(tok)
			if err != nil || got != id {
				t.Fatalf("decodePageToken(encodePageToken(%q)) = %q, %v", id, got, err)
			}
		})
	}
}

func TestPageTokenRejects(t *testing.T) {
	good := encodePageToken("abc")
	// "v1:abcd" is 7 bytes, so its last base64 character carries 4 unused
	// bits, which must be zero.
	odd := encodePageToken("abcd")
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	dirty := odd[:len(odd)-1] + string(alphabet[strings.IndexByte(alphabet, odd[len(odd)-1])+1])
	cases := map[string]string{
		"empty id":          encodePageToken(""),
		"oversized id":      encodePageToken(strings.Repeat("z", store.MaxIDLength+1)),
		"invalid utf8 id":   encodePageToken("\xff"),
		"other version":     pageTokenEncoding.EncodeToString([]byte("v2:abc")),
		"no version":        pageTokenEncoding.EncodeToString([]byte("abc")),
		"std alphabet":      "djE6YWJj+/",
		"padding":           good + "==",
		"non-zero tail bit": dirty,
		"whitespace":        " " + good,
		"embedded newline":  good[:3] + "\n" + good[3:],
		"embedded CR":       good[:3] + "\r" + good[3:],
		"too long":          strings.Repeat("A", maxPageTokenLen+1),
	}
	for name, tok := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := decodePageToken(tok); !errors.Is(err, store.ErrInvalidPageToken) {
				t.Fatalf("decodePageToken(%.40q) = %v, want ErrInvalidPageToken", tok, err)
			}
		})
	}
}

// FuzzPageToken checks that decoding arbitrary client input never panics,
// accepts only tokens the encoder would produce, and round-trips every
// valid ID.
func FuzzPageToken(f *testing.F) {
	f.Add(encodePageToken("key-0001"))
	f.Add("djE6")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if id, err := decodePageToken(s); err == nil {
			if store.CheckID("key id", id) != nil {
				t.Fatalf("accepted token %q carries invalid id %q", s, id)
			}
			if again := encodePageToken(id); again != s {
				t.Fatalf("accepted non-canonical token %q (canonical %q)", s, again)
			}
		} else if !errors.Is(err, store.ErrInvalidPageToken) {
			t.Fatalf("decodePageToken(%q) = %v, want ErrInvalidPageToken", s, err)
		}
		if store.CheckID("key id", s) == nil {
			if id, err := decodePageToken(encodePageToken(s)); err != nil || id != s {
				t.Fatalf("round trip of %q = %q, %v", s, id, err)
			}
		}
	})
}
