package policy

import (
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
)

// ValidateIdentityPattern checks a pattern of mTLS identities. It must be
// non-empty, at most MaxIdentityPatternLen bytes of visible UTF-8 without
// whitespace, and either:
//
//   - a SPIFFE ID pattern: a SPIFFE ID as ValidateSPIFFEID accepts, whose
//     last segment may instead be "*" (exactly one more segment) or "**"
//     (one or more more segments); or
//   - a DNS name or certificate common name, matched literally, with no "*".
//
// No other wildcard exists: a pattern such as "api-*" or one with "*" in the
// trust domain or mid-path would let a workload pick a name that falls
// inside someone else's grant.
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
	if strings.HasPrefix(p, spiffeScheme) {
		if reason := spiffeProblem(p, true); reason != "" {
			return &valueError{ErrInvalidPattern, p, reason}
		}
		return nil
	}
	// A scheme in another case, or with a slash missing, is a SPIFFE ID
	// written wrongly; as a literal it could never match, so say so.
	if len(p) >= len("spiffe:") && strings.EqualFold(p[:len("spiffe:")], "spiffe:") {
		return &valueError{ErrInvalidPattern, p, `a SPIFFE ID pattern must start with "spiffe://" in lower case`}
	}
	if i := strings.IndexByte(p, '*'); i >= 0 {
		return &valueError{ErrInvalidPattern, p, fmt.Sprintf(`wildcard at byte %d: only a spiffe:// pattern may end in "/*" or "/**"`, i)}
	}
	return nil
}

// MatchIdentity reports whether identity matches pattern (see
// ValidateIdentityPattern). A literal pattern matches the identical string:
// matching is case-sensitive, since SPIFFE paths are, and failing closed on
// a DNS name written in another case is the safe direction. A SPIFFE ID
// pattern matches only an identity that is itself a valid SPIFFE ID, so an
// identity spelt in an unusual way (a "..", a "//", percent-encoding) never
// matches anything.
//
// An invalid pattern never matches. MatchIdentity does not panic and runs in
// time linear in its inputs.
func MatchIdentity(pattern, identity string) bool {
	if !patternValid(pattern) {
		return false
	}
	if !strings.HasPrefix(pattern, spiffeScheme) {
		return pattern == identity
	}
	if ValidateSPIFFEID(identity) != nil {
		return false
	}
	// The identity is valid, so every segment after prefix is non-empty.
	switch prefix, last := splitLast(pattern); last {
	case "*":
		tail, ok := strings.CutPrefix(identity, prefix)
		return ok && tail != "" && !strings.Contains(tail, "/")
	case "**":
		tail, ok := strings.CutPrefix(identity, prefix)
		return ok && tail != ""
	}
	return pattern == identity
}

// splitLast splits p after its last "/".
func splitLast(p string) (prefix, last string) {
	i := strings.LastIndexByte(p, '/')
	return p[:i+1], p[i+1:]
}

// Every authorized call matches the caller against the policy's role
// patterns, and checking a pattern is a fair part of that: the patterns
// found valid are remembered. They come from the policy, so there are few;
// past maxValidPatterns, further ones are checked each time.
const maxValidPatterns = 4096

var (
	validPatterns   atomic.Pointer[map[string]struct{}]
	validPatternsMu sync.Mutex // serialises the copies that add to validPatterns
)

func patternValid(p string) bool {
	if m := validPatterns.Load(); m != nil {
		if _, ok := (*m)[p]; ok {
			return true
		}
	}
	if ValidateIdentityPattern(p) != nil {
		return false
	}
	validPatternsMu.Lock()
	defer validPatternsMu.Unlock()
	old := validPatterns.Load()
	if old != nil && len(*old) >= maxValidPatterns {
		return true
	}
	next := make(map[string]struct{}, 1+lenOf(old))
	if old != nil {
		maps.Copy(next, *old)
	}
	// A copy, so the set never keeps a larger string the pattern was cut from.
	next[strings.Clone(p)] = struct{}{}
	validPatterns.Store(&next)
	return true
}

func lenOf(m *map[string]struct{}) int {
	if m == nil {
		return 0
	}
	return len(*m)
}
