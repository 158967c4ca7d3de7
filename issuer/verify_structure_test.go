package issuer

import (
	"errors"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// padTo3 appends JSON whitespace until len(b) is not a multiple of three, so
// that the last base64url character of its encoding carries unused bits.
func padTo3(b []byte) []byte {
	for len(b)%3 == 0 {
		b = append(b, ' ')
	}
	return b
}

// flipTrailingBits changes the lowest bit of the last character: the decoded
// bytes stay the same, only the encoding stops being canonical.
func flipTrailingBits(seg string) string {
	last := strings.IndexByte(b64Alphabet, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(b64Alphabet[last^1])
}

func pad(seg string) string {
	if n := len(seg) % 4; n != 0 {
		return seg + strings.Repeat("=", 4-n)
	}
	return seg
}

// J8: each segment must be canonical unpadded base64url.
func TestVerifyRejectsNonCanonicalBase64(t *testing.T) {
	key := fixedKey("active")
	iss := newTestIssuer(t, testConfig(), key)
	hdr := padTo3(mustJSON(t, validHeader(key)))
	payload := padTo3(mustJSON(t, validClaims()))
	good := signRaw(t, hdr, payload, jwt.SigningMethodEdDSA, key.priv, nil)
	if _, err := iss.Verify(good, VerifyOptions{}); err != nil {
		t.Fatalf("control token rejected: %v", err)
	}
	segs := strings.Split(good, ".")
	for n, name := range []string{"header", "payload", "signature"} {
		mutations := map[string]string{
			"trailing bits": flipTrailingBits(segs[n]),
			"padding":       pad(segs[n]),
			"std alphabet":  strings.NewReplacer("-", "+", "_", "/").Replace(segs[n]) + "+",
			// encoding/base64 skips line breaks, even in strict mode.
			"line feed": segs[n][:4] + "\n" + segs[n][4:],
			"CR LF":     segs[n] + "\r\n",
		}
		for mname, seg := range mutations {
			t.Run(name+"/"+mname, func(t *testing.T) {
				mutated := append([]string(nil), segs...)
				mutated[n] = seg
				_, err := iss.Verify(strings.Join(mutated, "."), VerifyOptions{})
				wantReason(t, err, ErrMalformed)
			})
		}
	}
}

// J9: oversized, mis-segmented and nested tokens are refused before parsing.
func TestVerifyRejectsMalformedStructure(t *testing.T) {
	key := fixedKey("active")
	iss := newTestIssuer(t, testConfig(), key)
	good := signEd(t, validHeader(key), validClaims(), key)
	segs := strings.Split(good, ".")
	nested := signRaw(t, mustJSON(t, with(validHeader(key), "cty", "JWT")), []byte(good),
		jwt.SigningMethodEdDSA, key.priv, nil)
	cases := []struct {
		name string
		raw  string
		want error
	}{
		{"1 MiB", strings.Repeat("A", 1<<20), errTooLarge},
		{"Bearer and 1 MiB of dots", "Bearer " + strings.Repeat(".", 1<<20), errTooLarge},
		{"empty", "", ErrMalformed},
		{"1 segment", segs[0], ErrMalformed},
		{"2 segments", segs[0] + "." + segs[1], ErrMalformed},
		{"4 segments", good + "." + segs[2], ErrMalformed},
		{"5 segments", good + "." + segs[1] + "." + segs[2], ErrMalformed},
		{"trailing dot", good + ".", ErrMalformed},
		{"leading dot", "." + good, ErrMalformed},
		{"empty payload", segs[0] + ".." + segs[2], ErrMalformed},
		{"empty signature", segs[0] + "." + segs[1] + ".", ErrMalformed},
		{"Bearer prefix", "Bearer " + good, ErrMalformed},
		{"nested with cty", nested, ErrHeader},
		{"nested without cty", signRaw(t, mustJSON(t, validHeader(key)), []byte(good),
			jwt.SigningMethodEdDSA, key.priv, nil), ErrMalformed},
		{"nested as JSON string", signRaw(t, mustJSON(t, validHeader(key)), mustJSON(t, good),
			jwt.SigningMethodEdDSA, key.priv, nil), ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := iss.Verify(tc.raw, VerifyOptions{})
			wantReason(t, err, tc.want)
		})
	}
}

// J9: the size cap comes first and costs the same whatever the input size.
func TestVerifyOversizeIsConstantCost(t *testing.T) {
	iss := newTestIssuer(t, testConfig(), fixedKey("active"))
	for _, size := range []int{DefaultMaxTokenBytes + 1, 1 << 20, 16 << 20} {
		huge := strings.Repeat(".", size)
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := iss.Verify(huge, VerifyOptions{}); !errors.Is(err, errTooLarge) {
				t.Fatalf("size %d: got %v", size, err)
			}
		})
		if allocs != 0 {
			t.Errorf("size %d: %v allocations per rejection, want 0", size, allocs)
		}
	}
}

// The cap is MaxTokenBytes exactly, and it applies before anything else.
func TestVerifySizeCapBoundary(t *testing.T) {
	key := fixedKey("active")
	good := signEd(t, validHeader(key), validClaims(), key)
	cases := []struct {
		name string
		max  int
		want error
	}{
		{"cap equals length", len(good), nil},
		{"cap one below length", len(good) - 1, errTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxTokenBytes = tc.max
			_, err := newTestIssuer(t, cfg, key).Verify(good, VerifyOptions{})
			wantReason(t, err, tc.want)
		})
	}
	t.Run("default cap", func(t *testing.T) {
		iss := newTestIssuer(t, testConfig(), key)
		_, err := iss.Verify(strings.Repeat("A", DefaultMaxTokenBytes), VerifyOptions{})
		if errors.Is(err, errTooLarge) || !errors.Is(err, ErrMalformed) {
			t.Fatalf("input of exactly the default cap: got %v, want malformed but not too large", err)
		}
		_, err = iss.Verify(strings.Repeat("A", DefaultMaxTokenBytes+1), VerifyOptions{})
		wantReason(t, err, errTooLarge)
	})
}
