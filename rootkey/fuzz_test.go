package rootkey

import (
	"errors"
	"testing"
)

// parseReasons are the only errors Parse may return; each is a fixed value,
// so no error text can depend on the input.
var parseReasons = []error{errLength, errPrefix, errSeparator, errCharset, errChecksum}

func FuzzParse(f *testing.F) {
	for range 4 {
		k := mustGenerate(f)
		text := k.Reveal()
		f.Add(text)
		f.Add(text[:Len-1] + "0")
		f.Add(text[:checksumPos] + "zzzzzz")
		f.Add(text + " ")
	}
	f.Add(fixedKey)
	f.Add("")
	f.Add(Prefix)

	f.Fuzz(func(t *testing.T, in string) {
		k, err := Parse(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, not ErrMalformed", err)
			}
			known := false
			for _, r := range parseReasons {
				known = known || err == r
			}
			if !known {
				t.Fatalf("err = %v, not one of the fixed reasons", err)
			}
			if !k.IsZero() {
				t.Fatalf("rejected input gave a non-zero key")
			}
			return
		}
		if k.Reveal() != in {
			t.Fatalf("Reveal() differs from the parsed input")
		}
		if !keyShape.MatchString(in) {
			t.Fatalf("accepted input has the wrong shape")
		}
		if want := refChecksum(in[:checksumPos]); in[checksumPos:] != want {
			t.Fatalf("accepted a checksum the reference encoder disagrees with")
		}
		if k.ID() != in[len(Prefix):sepPos] || !ValidID(k.ID()) {
			t.Fatalf("ID() is not the id part of the input")
		}
		if k.PublicPrefix() != in[:secretPos] {
			t.Fatalf("PublicPrefix() is not the start of the input")
		}
		again, err := Parse(k.Reveal())
		if err != nil || !again.Equal(k) {
			t.Fatalf("re-parse: err = %v, equal = %v", err, again.Equal(k))
		}
	})
}
