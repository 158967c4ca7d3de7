package policy

import (
	"fmt"
	"strings"
)

const (
	spiffeScheme = "spiffe://"
	// maxTrustDomainLen is the SPIFFE limit on a trust domain name.
	maxTrustDomainLen = 255
	// maxIdentityLen is the SPIFFE limit on a whole ID.
	maxIdentityLen = 2048
)

// ValidateSPIFFEID checks that id is a SPIFFE ID naming a workload:
// "spiffe://", a trust domain of lower-case letters, digits, ".", "-" and
// "_", then one or more path segments of letters, digits, ".", "-" and "_".
// Segments are never empty, "." or "..", and there is no trailing slash,
// port, user information, query, fragment or percent-encoding: each of these
// gives one ID several spellings, and a matcher that compares strings must
// see exactly one. An ID with no path names a trust domain, not a workload,
// and is refused too.
func ValidateSPIFFEID(id string) error {
	if len(id) > maxIdentityLen {
		return &valueError{ErrInvalidSPIFFEID, id, fmt.Sprintf("longer than %d bytes", maxIdentityLen)}
	}
	if reason := spiffeProblem(id, false); reason != "" {
		return &valueError{ErrInvalidSPIFFEID, id, reason}
	}
	return nil
}

// spiffeProblem explains why s is not a SPIFFE ID, or, when wildcard is set,
// not a SPIFFE ID pattern (whose last segment may also be "*" or "**"). It
// returns "" when s is fine.
func spiffeProblem(s string, wildcard bool) string {
	rest, ok := strings.CutPrefix(s, spiffeScheme)
	if !ok {
		return `must start with "spiffe://"`
	}
	td, path, _ := strings.Cut(rest, "/")
	switch {
	case td == "":
		return "trust domain is empty"
	case len(td) > maxTrustDomainLen:
		return fmt.Sprintf("trust domain longer than %d bytes", maxTrustDomainLen)
	}
	for i := 0; i < len(td); i++ {
		if c := td[i]; !isTrustDomainChar(c) {
			return charProblem(c, len(spiffeScheme)+i, "trust domain")
		}
	}
	if len(td) == len(rest) {
		return "path is empty: a SPIFFE ID without a path names a trust domain, not a workload"
	}
	at := len(spiffeScheme) + len(td) + 1
	for {
		seg, next, more := strings.Cut(path, "/")
		switch {
		case seg == "" && !more:
			return `must not end with "/"`
		case seg == "":
			return fmt.Sprintf("empty path segment at byte %d", at)
		case seg == "." || seg == "..":
			return fmt.Sprintf("path segment %q at byte %d is not allowed", seg, at)
		case wildcard && !more && (seg == "*" || seg == "**"):
			return ""
		}
		for i := 0; i < len(seg); i++ {
			if c := seg[i]; !isPathChar(c) {
				return charProblem(c, at+i, "path")
			}
		}
		if !more {
			return ""
		}
		path, at = next, at+len(seg)+1
	}
}

func isTrustDomainChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_'
}

func isPathChar(c byte) bool {
	return isTrustDomainChar(c) || c >= 'A' && c <= 'Z'
}

// charProblem names what a refused byte most likely means.
func charProblem(c byte, at int, where string) string {
	var what string
	switch {
	case c == '*':
		if where == "path" {
			return fmt.Sprintf(`wildcard at byte %d: "*" and "**" are allowed only as the whole last segment`, at)
		}
		return fmt.Sprintf("wildcard at byte %d: the trust domain must be written out", at)
	case c >= 'A' && c <= 'Z':
		return fmt.Sprintf("upper-case letter at byte %d: the trust domain must be lower-case", at)
	case c == ':' && where == "trust domain":
		what = "port"
	case c == '@' && where == "trust domain":
		what = "user information"
	case c == '?':
		what = "query"
	case c == '#':
		what = "fragment"
	case c == '%':
		what = "percent-encoding"
	default:
		return fmt.Sprintf("byte %d (%#02x) is not allowed in the %s", at, c, where)
	}
	return fmt.Sprintf("byte %d (%q): a SPIFFE ID has no %s", at, c, what)
}
