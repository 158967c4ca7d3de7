package rootkey

import (
	"hash/crc32"
	"math/big"
	"strings"
	"testing"
)

// fixedKey is a valid key computed outside Go (Python zlib.crc32), so the
// tests do not only check the checksum code against itself.
const (
	fixedBody   = "lk_AbCdEf012345_0123456789abcdefghijABCDEFGHIJxy"
	fixedKey    = fixedBody + "0VWoVZ"
	fixedID     = "AbCdEf012345"
	fixedSecret = "0123456789abcdefghijABCDEFGHIJxy"
)

// refChecksum encodes the CRC32 of body with math/big, whose base-62 digits
// are 0-9a-zA-Z; swapping letter case gives this package's 0-9A-Za-z order.
func refChecksum(body string) string {
	v := big.NewInt(int64(crc32.ChecksumIEEE([]byte(body))))
	return refBase62(v)
}

func refBase62(v *big.Int) string {
	s := swapCase(v.Text(62))
	if len(s) < checksumLen {
		s = strings.Repeat("0", checksumLen-len(s)) + s
	}
	return s
}

func swapCase(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		}
		return r
	}, s)
}

// withChecksum appends the correct checksum to a 48-byte body, so a test can
// make a key that is wrong in exactly one way other than its checksum.
func withChecksum(t testing.TB, body string) string {
	t.Helper()
	if len(body) != checksumPos {
		t.Fatalf("body length %d, want %d", len(body), checksumPos)
	}
	return body + refChecksum(body)
}

func mustGenerate(t testing.TB) Key {
	t.Helper()
	k, err := Generate()
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return k
}

func mustParse(t testing.TB, s string) Key {
	t.Helper()
	k, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return k
}
