package rootkey

import (
	"fmt"
	"io"
)

// alphabet is ordered so that a base62 number and its characters sort alike.
const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// rejectFrom is the largest multiple of 62 that fits in a byte; bytes at or
// above it are dropped so that b%62 is uniform.
const rejectFrom = 256 - 256%len(alphabet)

// digitValue maps a byte to its base62 value, or -1 when it is not a digit.
var digitValue = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := range len(alphabet) {
		t[alphabet[i]] = int8(i)
	}
	return t
}()

func isBase62(s string) bool {
	for i := range len(s) {
		if digitValue[s[i]] < 0 {
			return false
		}
	}
	return true
}

// fillBase62 fills dst with uniformly random base62 characters read from r.
func fillBase62(r io.Reader, dst []byte) error {
	var buf [64]byte
	defer clear(buf[:])
	n := 0
	for n < len(dst) {
		if _, err := io.ReadFull(r, buf[:]); err != nil {
			return fmt.Errorf("rootkey: reading randomness: %w", err)
		}
		for _, b := range buf {
			if int(b) >= rejectFrom {
				continue
			}
			dst[n] = alphabet[int(b)%len(alphabet)]
			n++
			if n == len(dst) {
				break
			}
		}
	}
	return nil
}

// putChecksum writes v as checksumLen base62 digits, most significant first.
// 62^6 exceeds 2^32, so every CRC32 fits.
func putChecksum(dst []byte, v uint32) {
	n := uint64(v)
	for i := checksumLen - 1; i >= 0; i-- {
		dst[i] = alphabet[n%uint64(len(alphabet))]
		n /= uint64(len(alphabet))
	}
}

// checksumValue decodes checksumLen base62 digits. It returns a uint64 so
// that a value of 2^32 or more stays distinct from every CRC32 instead of
// wrapping onto one. The caller has already checked the charset.
func checksumValue(s string) uint64 {
	var n uint64
	for i := range checksumLen {
		n = n*uint64(len(alphabet)) + uint64(digitValue[s[i]])
	}
	return n
}
