package policy

import (
	"fmt"
	"strings"
)

// ValidateIdentityPattern checks a pattern of mTLS identities: non-empty, at
// most MaxIdentityPatternLen bytes, visible UTF-8 without whitespace, and
// "**" only as the whole last segment.
func ValidateIdentityPattern(p string) error {
	switch {
	case p == "":
		return &valueError{ErrInvalidPattern, p, "must not be empty"}
	case len(p) > MaxIdentityPatternLen:
		return &valueError{ErrInvalidPattern, p, fmt.Sprintf("longer than %d bytes", MaxIdentityPatternLen)}
	}
	if reason := badText(p); reason != "" {
		return &valueError{ErrInvalidPattern, p, reason}
	}
	for rest, more := p, true; more; {
		var seg string
		seg, rest, more = strings.Cut(rest, "/")
		if !strings.Contains(seg, "**") {
			continue
		}
		if seg != "**" {
			return &valueError{ErrInvalidPattern, p, `"**" must be a whole segment`}
		}
		if more {
			return &valueError{ErrInvalidPattern, p, `"**" must be the last segment`}
		}
	}
	return nil
}

// MatchIdentity reports whether identity matches pattern. Segments are split
// on "/": a segment "*" matches one non-empty segment, a final "**" matches
// one or more non-empty segments, and "*" inside a segment matches any run of
// characters within it. Everything else matches exactly and case-sensitively:
// SPIFFE paths are case-sensitive, and failing closed on a DNS name written
// in another case is the safe direction.
//
// An invalid pattern, and an empty, oversized or non-printable identity,
// never match. Matching is linear in the input: there is no backtracking
// across segments, and within a segment each literal is found once, left to
// right.
func MatchIdentity(pattern, identity string) bool {
	if ValidateIdentityPattern(pattern) != nil || !validIdentity(identity) {
		return false
	}
	if !strings.Contains(pattern, "*") {
		return pattern == identity
	}
	for {
		pseg, prest, pmore := strings.Cut(pattern, "/")
		if pseg == "**" && !pmore {
			return !hasEmptySegment(identity)
		}
		iseg, irest, imore := strings.Cut(identity, "/")
		if pmore != imore || !matchSegment(pseg, iseg) {
			return false
		}
		if !pmore {
			return true
		}
		pattern, identity = prest, irest
	}
}

func validIdentity(id string) bool {
	return id != "" && len(id) <= maxIdentityLen && badText(id) == ""
}

// hasEmptySegment reports whether s, split on "/", has an empty segment.
func hasEmptySegment(s string) bool {
	return s == "" || s[0] == '/' || s[len(s)-1] == '/' || strings.Contains(s, "//")
}

// matchSegment matches one segment. Since "*" never crosses a "/", the
// leftmost occurrence of each literal between stars is always a safe choice,
// which keeps this linear.
func matchSegment(p, s string) bool {
	if p == "*" {
		return s != ""
	}
	first, rest, found := strings.Cut(p, "*")
	if !found {
		return p == s
	}
	if !strings.HasPrefix(s, first) {
		return false
	}
	s = s[len(first):]
	middle, last := "", rest
	if i := strings.LastIndexByte(rest, '*'); i >= 0 {
		middle, last = rest[:i], rest[i+1:]
	}
	if !strings.HasSuffix(s, last) {
		return false
	}
	s = s[:len(s)-len(last)]
	for middle != "" {
		var lit string
		lit, middle, _ = strings.Cut(middle, "*")
		if lit == "" {
			continue
		}
		i := strings.Index(s, lit)
		if i < 0 {
			return false
		}
		s = s[i+len(lit):]
	}
	return true
}
