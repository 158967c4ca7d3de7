package policy

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateSPIFFEID(t *testing.T) {
	longTD := strings.Repeat("a", maxTrustDomainLen)
	longest := "spiffe://example.org/" + strings.Repeat("a", maxIdentityLen-len("spiffe://example.org/"))
	tests := []struct {
		name string
		id   string
		want string // "" means valid
	}{
		{"workload", "spiffe://example.org/ns/prod/sa/api", ""},
		{"one segment", "spiffe://example.org/a", ""},
		{"every allowed byte", "spiffe://a-z.0_9/AZaz09._-", ""},
		{"dots inside a segment", "spiffe://example.org/.../a..b/.x", ""},
		{"longest trust domain", "spiffe://" + longTD + "/a", ""},
		{"longest id", longest, ""},
		{"too long", longest + "a", `invalid SPIFFE ID "spiffe://example.org/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"...: longer than 2048 bytes`},
		{"trust domain too long", "spiffe://" + longTD + "a/b", `invalid SPIFFE ID "spiffe://` + strings.Repeat("a", 55) + `"...: trust domain longer than 255 bytes`},
		{"empty", "", `invalid SPIFFE ID "": must start with "spiffe://"`},
		{"other scheme", "https://example.org/a", `invalid SPIFFE ID "https://example.org/a": must start with "spiffe://"`},
		{"upper-case scheme", "SPIFFE://example.org/a", `invalid SPIFFE ID "SPIFFE://example.org/a": must start with "spiffe://"`},
		{"dns name", "example.org", `invalid SPIFFE ID "example.org": must start with "spiffe://"`},
		{"empty trust domain", "spiffe:///a", `invalid SPIFFE ID "spiffe:///a": trust domain is empty`},
		{"upper-case trust domain", "spiffe://example.ORG/a", `invalid SPIFFE ID "spiffe://example.ORG/a": upper-case letter at byte 17: the trust domain must be lower-case`},
		{"port", "spiffe://example.org:443/a", `invalid SPIFFE ID "spiffe://example.org:443/a": byte 20 (':'): a SPIFFE ID has no port`},
		{"user information", "spiffe://me@example.org/a", `invalid SPIFFE ID "spiffe://me@example.org/a": byte 11 ('@'): a SPIFFE ID has no user information`},
		{"query on trust domain", "spiffe://example.org?a", `invalid SPIFFE ID "spiffe://example.org?a": byte 20 ('?'): a SPIFFE ID has no query`},
		{"percent in trust domain", "spiffe://ex%41mple.org/a", `invalid SPIFFE ID "spiffe://ex%41mple.org/a": byte 11 ('%'): a SPIFFE ID has no percent-encoding`},
		{"other byte in trust domain", "spiffe://exa+mple.org/a", `invalid SPIFFE ID "spiffe://exa+mple.org/a": byte 12 (0x2b) is not allowed in the trust domain`},
		{"no path", "spiffe://example.org", `invalid SPIFFE ID "spiffe://example.org": path is empty: a SPIFFE ID without a path names a trust domain, not a workload`},
		{"root path", "spiffe://example.org/", `invalid SPIFFE ID "spiffe://example.org/": must not end with "/"`},
		{"trailing slash", "spiffe://example.org/a/", `invalid SPIFFE ID "spiffe://example.org/a/": must not end with "/"`},
		{"double slash", "spiffe://example.org/a//b", `invalid SPIFFE ID "spiffe://example.org/a//b": empty path segment at byte 23`},
		{"leading double slash", "spiffe://example.org//a", `invalid SPIFFE ID "spiffe://example.org//a": empty path segment at byte 21`},
		{"dot segment", "spiffe://example.org/a/./b", `invalid SPIFFE ID "spiffe://example.org/a/./b": path segment "." at byte 23 is not allowed`},
		{"dot-dot segment", "spiffe://example.org/a/../b", `invalid SPIFFE ID "spiffe://example.org/a/../b": path segment ".." at byte 23 is not allowed`},
		{"last dot segment", "spiffe://example.org/a/.", `invalid SPIFFE ID "spiffe://example.org/a/.": path segment "." at byte 23 is not allowed`},
		{"percent-encoded slash", "spiffe://example.org/a%2Fb", `invalid SPIFFE ID "spiffe://example.org/a%2Fb": byte 22 ('%'): a SPIFFE ID has no percent-encoding`},
		{"query", "spiffe://example.org/a?b=c", `invalid SPIFFE ID "spiffe://example.org/a?b=c": byte 22 ('?'): a SPIFFE ID has no query`},
		{"fragment", "spiffe://example.org/a#b", `invalid SPIFFE ID "spiffe://example.org/a#b": byte 22 ('#'): a SPIFFE ID has no fragment`},
		{"colon in path", "spiffe://example.org/a:b", `invalid SPIFFE ID "spiffe://example.org/a:b": byte 22 (0x3a) is not allowed in the path`},
		{"wildcard segment", "spiffe://example.org/*", `invalid SPIFFE ID "spiffe://example.org/*": wildcard at byte 21: "*" and "**" are allowed only as the whole last segment`},
		{"double wildcard segment", "spiffe://example.org/a/**", `invalid SPIFFE ID "spiffe://example.org/a/**": wildcard at byte 23: "*" and "**" are allowed only as the whole last segment`},
		{"wildcard trust domain", "spiffe://*/a", `invalid SPIFFE ID "spiffe://*/a": wildcard at byte 9: the trust domain must be written out`},
		{"space", "spiffe://example.org/a b", `invalid SPIFFE ID "spiffe://example.org/a b": byte 22 (0x20) is not allowed in the path`},
		{"non-ascii", "spiffe://example.org/caf\u00e9", `invalid SPIFFE ID "spiffe://example.org/caf\u00e9": byte 24 (0xc3) is not allowed in the path`},
		{"control byte", "spiffe://example.org/a\x00", `invalid SPIFFE ID "spiffe://example.org/a\x00": byte 22 (0x00) is not allowed in the path`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateSPIFFEID(tt.id)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ValidateSPIFFEID = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("ValidateSPIFFEID = %v, want %s", err, tt.want)
			}
			if !errors.Is(err, ErrInvalidSPIFFEID) {
				t.Errorf("errors.Is(err, ErrInvalidSPIFFEID) = false")
			}
		})
	}
}
