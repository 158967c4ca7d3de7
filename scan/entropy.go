package scan

import (
	"bytes"
	"math"
)

// tokenByte marks the characters of base64, base64url and hex tokens. '='
// is left out so that "NAME=value" splits into two tokens.
var tokenByte = func() (t [256]bool) {
	for c := range 256 {
		t[c] = isBase62(byte(c)) || c == '+' || c == '/' || c == '-' || c == '_'
	}
	return t
}()

// Thresholds in bits per character. Random base62 text of 20 characters
// scores about 4.1, English identifiers stay below 4; random hex scores
// about 3.7 and counters or padding far less.
const (
	base64Threshold = 4.0
	hexThreshold    = 3.0
)

// trailingToken returns where the token run that ends buf starts, or
// len(buf) when buf does not end inside a token. It looks back no further
// than a maximal token.
func trailingToken(buf []byte) int {
	i := len(buf)
	for i > 0 && len(buf)-i <= maxToken && tokenByte[buf[i-1]] {
		i--
	}
	return i
}

// tokens reports high-entropy tokens that start before done.
func (s *stream) tokens(buf []byte, done int, eof bool) {
	i := 0
	for i < done {
		if !tokenByte[buf[i]] {
			i++
			continue
		}
		start := i
		for i < len(buf) && tokenByte[buf[i]] {
			i++
		}
		// A run that began in an earlier block was judged there, and a run
		// reaching the block's end before eof is longer than any token.
		if start == 0 && tokenByte[s.prev] || i == len(buf) && !eof {
			continue
		}
		tok := buf[start:i]
		if len(tok) < minToken || len(tok) > maxToken || bytes.Contains(tok, keyPrefix) {
			continue
		}
		if highEntropy(tok) {
			s.hits = append(s.hits, hit{start, Finding{Rule: RuleHighEntropy, Confidence: Low, Length: len(tok),
				Redacted: redactToken(tok)}})
		}
	}
}

func highEntropy(tok []byte) bool {
	var counts [256]int
	hex, digit, letter := true, false, false
	for _, c := range tok {
		counts[c]++
		switch {
		case c >= '0' && c <= '9':
			digit = true
		case c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F':
			letter = true
		default:
			hex = false
			letter = letter || isBase62(c)
		}
	}
	if !digit || !letter {
		return false
	}
	h := shannon(&counts, len(tok))
	if hex {
		return h >= hexThreshold
	}
	return h >= base64Threshold
}

// shannon returns the entropy in bits per byte of a text of n bytes with
// the given byte counts.
func shannon(counts *[256]int, n int) float64 {
	var h float64
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / float64(n)
			h -= p * math.Log2(p)
		}
	}
	return h
}
