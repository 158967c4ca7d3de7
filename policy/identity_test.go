package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestValidateIdentityPattern(t *testing.T) {
	long := "spiffe://example.org/" + strings.Repeat("a", MaxIdentityPatternLen-len("spiffe://example.org/"))
	tests := []struct {
		pattern string
		want    string // "" means valid
	}{
		{"spiffe://example.org/ns/prod/sa/api", ""},
		{"spiffe://example.org/rs/*", ""},
		{"spiffe://example.org/workload/**", ""},
		{"spiffe://example.org/*", ""},
		{"spiffe://example.org/**", ""},
		{"spiffe://my_td-1.example.org/A.b-c_d/0", ""},
		{"api.internal.example", ""},
		{"orders-api", ""},
		{long, ""},
		{long + "a", `invalid identity pattern "spiffe://example.org/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"...: longer than 512 bytes`},
		{"", `invalid identity pattern "": must not be empty`},
		{"CN with spaces", `invalid identity pattern "CN with spaces": whitespace at byte 2`},
		{"spiffe://a/\tb", `invalid identity pattern "spiffe://a/\tb": whitespace at byte 11`},
		{"spiffe://a/\x00", `invalid identity pattern "spiffe://a/\x00": control or formatting character at byte 11`},
		{"spiffe://a/\u202eb", `invalid identity pattern "spiffe://a/\u202eb": control or formatting character at byte 11`},
		{"spiffe://a/\xff", `invalid identity pattern "spiffe://a/\xff": invalid UTF-8 at byte 11`},
		// Wildcards other than a whole last segment of a SPIFFE pattern.
		{"*", `invalid identity pattern "*": wildcard at byte 0: only a spiffe:// pattern may end in "/*" or "/**"`},
		{"**", `invalid identity pattern "**": wildcard at byte 0: only a spiffe:// pattern may end in "/*" or "/**"`},
		{"api-*.example.org", `invalid identity pattern "api-*.example.org": wildcard at byte 4: only a spiffe:// pattern may end in "/*" or "/**"`},
		{"*.example.org", `invalid identity pattern "*.example.org": wildcard at byte 0: only a spiffe:// pattern may end in "/*" or "/**"`},
		{"spiffe://example.org/sa/api-*", `invalid identity pattern "spiffe://example.org/sa/api-*": wildcard at byte 28: "*" and "**" are allowed only as the whole last segment`},
		{"spiffe://example.org/*/api", `invalid identity pattern "spiffe://example.org/*/api": wildcard at byte 21: "*" and "**" are allowed only as the whole last segment`},
		{"spiffe://example.org/**/api", `invalid identity pattern "spiffe://example.org/**/api": wildcard at byte 21: "*" and "**" are allowed only as the whole last segment`},
		{"spiffe://example.org/a/***", `invalid identity pattern "spiffe://example.org/a/***": wildcard at byte 23: "*" and "**" are allowed only as the whole last segment`},
		{"spiffe://*/rs", `invalid identity pattern "spiffe://*/rs": wildcard at byte 9: the trust domain must be written out`},
		{"spiffe://*.example.org/rs", `invalid identity pattern "spiffe://*.example.org/rs": wildcard at byte 9: the trust domain must be written out`},
		// A wildcard stands for a segment; it cannot stand for the whole path.
		{"spiffe://example.org*", `invalid identity pattern "spiffe://example.org*": wildcard at byte 20: the trust domain must be written out`},
		// Malformed SPIFFE IDs are malformed patterns.
		{"spiffe://Example.org/a", `invalid identity pattern "spiffe://Example.org/a": upper-case letter at byte 9: the trust domain must be lower-case`},
		{"spiffe://example.org", `invalid identity pattern "spiffe://example.org": path is empty: a SPIFFE ID without a path names a trust domain, not a workload`},
		{"spiffe://example.org/", `invalid identity pattern "spiffe://example.org/": must not end with "/"`},
		{"spiffe://example.org/rs/", `invalid identity pattern "spiffe://example.org/rs/": must not end with "/"`},
		{"spiffe://example.org//rs", `invalid identity pattern "spiffe://example.org//rs": empty path segment at byte 21`},
		{"spiffe://example.org/a/./b", `invalid identity pattern "spiffe://example.org/a/./b": path segment "." at byte 23 is not allowed`},
		{"spiffe://example.org/a/../*", `invalid identity pattern "spiffe://example.org/a/../*": path segment ".." at byte 23 is not allowed`},
		{"spiffe://example.org/a%2Fb", `invalid identity pattern "spiffe://example.org/a%2Fb": byte 22 ('%'): a SPIFFE ID has no percent-encoding`},
		{"spiffe://example.org:8443/a", `invalid identity pattern "spiffe://example.org:8443/a": byte 20 (':'): a SPIFFE ID has no port`},
		{"spiffe://u@example.org/a", `invalid identity pattern "spiffe://u@example.org/a": byte 10 ('@'): a SPIFFE ID has no user information`},
		{"spiffe://example.org/a?x=1", `invalid identity pattern "spiffe://example.org/a?x=1": byte 22 ('?'): a SPIFFE ID has no query`},
		{"spiffe://example.org/a#f", `invalid identity pattern "spiffe://example.org/a#f": byte 22 ('#'): a SPIFFE ID has no fragment`},
		{"spiffe://", `invalid identity pattern "spiffe://": trust domain is empty`},
		{"spiffe:///a", `invalid identity pattern "spiffe:///a": trust domain is empty`},
		{"SPIFFE://example.org/a", `invalid identity pattern "SPIFFE://example.org/a": a SPIFFE ID pattern must start with "spiffe://" in lower case`},
		{"spiffe:/example.org/a", `invalid identity pattern "spiffe:/example.org/a": a SPIFFE ID pattern must start with "spiffe://" in lower case`},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			err := ValidateIdentityPattern(tt.pattern)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ValidateIdentityPattern = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("ValidateIdentityPattern = %v, want %s", err, tt.want)
			}
			if !errors.Is(err, ErrInvalidPattern) {
				t.Errorf("errors.Is(err, ErrInvalidPattern) = false")
			}
		})
	}
}

func TestMatchIdentity(t *testing.T) {
	const td = "spiffe://example.org"
	tests := []struct {
		name              string
		pattern, identity string
		want              bool
	}{
		{"exact", td + "/ns/prod/sa/api", td + "/ns/prod/sa/api", true},
		{"exact differs", td + "/ns/prod/sa/api", td + "/ns/prod/sa/web", false},
		{"exact is not a prefix", td + "/ns/prod", td + "/ns/prod/sa/api", false},
		{"exact is not a suffix", td + "/ns/prod/sa/api", td + "/ns/prod", false},
		{"exact dns name", "api.internal.example", "api.internal.example", true},
		{"exact common name", "orders-api", "orders-api", true},
		{"dns name is not a prefix", "api.internal.example", "api.internal.example.evil", false},
		{"case differs in path", td + "/ns/prod", td + "/ns/Prod", false},
		{"case differs in dns name", "api.internal.example", "API.internal.example", false},
		{"upper-case trust domain identity", td + "/x", "spiffe://Example.org/x", false},
		{"upper-case trust domain identity under **", td + "/**", "spiffe://EXAMPLE.ORG/x", false},
		{"upper-case path is fine", td + "/*", td + "/API", true},
		{"star matches one segment", td + "/rs/*", td + "/rs/orders", true},
		{"star is not two segments", td + "/rs/*", td + "/rs/orders/v2", false},
		{"star needs a segment", td + "/rs/*", td + "/rs", false},
		{"star directly under the trust domain", td + "/*", td + "/a", true},
		{"star under the trust domain is one segment", td + "/*", td + "/a/b", false},
		{"star other prefix", td + "/rs/*", td + "/rsx/orders", false},
		{"double star one segment", td + "/workload/**", td + "/workload/a", true},
		{"double star many segments", td + "/workload/**", td + "/workload/a/b/c", true},
		{"double star needs a segment", td + "/workload/**", td + "/workload", false},
		{"double star other prefix", td + "/workload/**", td + "/workloads/a", false},
		{"double star other trust domain", td + "/workload/**", "spiffe://example.com/workload/a", false},
		{"double star trust domain suffix", td + "/**", "spiffe://example.org.evil/a", false},
		{"double star whole trust domain", td + "/**", td + "/a/b", true},
		// Malformed identities never match, even the pattern spelt the same.
		{"identity trailing slash", td + "/rs/*", td + "/rs/", false},
		{"identity trailing slash after segment", td + "/workload/**", td + "/workload/a/", false},
		{"identity empty segment", td + "/workload/**", td + "/workload/a//b", false},
		{"identity empty segment at star", td + "/ns/**", td + "/ns//sa", false},
		{"identity dot segment", td + "/workload/**", td + "/workload/./a", false},
		{"identity dot-dot escapes the prefix", td + "/workload/**", td + "/workload/../admin", false},
		{"identity dot-dot under star", td + "/rs/*", td + "/rs/..", false},
		{"identity percent-encoded slash", td + "/rs/*", td + "/rs/a%2Fb", false},
		{"identity with query", td + "/rs/*", td + "/rs/a?b", false},
		{"identity with fragment", td + "/rs/*", td + "/rs/a#b", false},
		{"identity with port", td + "/**", "spiffe://example.org:443/a", false},
		{"identity with user information", td + "/**", "spiffe://u@example.org/a", false},
		{"identity with empty path", td + "/**", td, false},
		{"identity with only a slash", td + "/**", td + "/", false},
		{"identity with a wildcard", td + "/rs/*", td + "/rs/*", false},
		{"identity with a double wildcard", td + "/**", td + "/**", false},
		{"identity with control byte", td + "/rs/*", td + "/rs/a\x00", false},
		{"identity with space", td + "/rs/*", td + "/rs/a b", false},
		{"identity with invalid utf-8", td + "/rs/*", td + "/rs/\xff", false},
		{"identity in another scheme", td + "/**", "https://example.org/a", false},
		{"dns name against a spiffe pattern", td + "/**", "example.org", false},
		{"identity too long", td + "/**", td + "/" + strings.Repeat("a", maxIdentityLen-len(td)), false},
		{"longest identity", td + "/**", td + "/" + strings.Repeat("a", maxIdentityLen-len(td)-1), true},
		// Invalid patterns never match, whatever the identity.
		{"wildcard in the middle", td + "/ns/*/sa/api", td + "/ns/dev/sa/api", false},
		{"double star in the middle", td + "/a/**/b", td + "/a/x/b", false},
		{"wildcard inside a segment", td + "/sa/api-*", td + "/sa/api-v2", false},
		{"wildcard in the trust domain", "spiffe://*/rs/orders", "spiffe://other.org/rs/orders", false},
		{"wildcard in a dns name", "api-*.internal.example", "api-7.internal.example", false},
		{"star alone", "*", "api", false},
		{"double star alone", "**", "api.internal.example", false},
		{"malformed pattern spelt as the identity", td + "/rs/", td + "/rs/", false},
		{"dot-dot pattern spelt as the identity", td + "/a/../b", td + "/a/../b", false},
		{"empty pattern", "", "", false},
		{"empty pattern, any identity", "", "x", false},
		{"empty identity", td + "/**", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Twice: the second call finds a valid pattern remembered.
			for range 2 {
				if got := MatchIdentity(tt.pattern, tt.identity); got != tt.want {
					t.Errorf("MatchIdentity(%q, %q) = %v, want %v", tt.pattern, tt.identity, got, tt.want)
				}
			}
		})
	}
}

// Only valid patterns are remembered, and no more than maxValidPatterns of
// them; past that, patterns are still checked, each time.
func TestValidPatternsRemembered(t *testing.T) {
	for _, p := range []string{"", "*", "spiffe://x.org/a/**/b", "api-*.internal", "spiffe://X.org/a"} {
		for range 2 {
			if patternValid(p) {
				t.Fatalf("invalid pattern %q accepted", p)
			}
		}
		if m := validPatterns.Load(); m != nil {
			if _, ok := (*m)[p]; ok {
				t.Fatalf("invalid pattern %q remembered", p)
			}
		}
	}
	for i := range maxValidPatterns + 50 {
		if p := fmt.Sprintf("spiffe://bound.test/w/%d/*", i); !patternValid(p) {
			t.Fatalf("valid pattern %q refused", p)
		}
	}
	if n := len(*validPatterns.Load()); n > maxValidPatterns {
		t.Errorf("%d patterns remembered, at most %d", n, maxValidPatterns)
	}
	if !MatchIdentity(fmt.Sprintf("spiffe://bound.test/w/%d/*", maxValidPatterns+49), fmt.Sprintf("spiffe://bound.test/w/%d/x", maxValidPatterns+49)) {
		t.Error("a pattern past the bound does not match")
	}
	if MatchIdentity("spiffe://bound.test/w/**/x", "spiffe://bound.test/w/1/x") {
		t.Error("an invalid pattern past the bound matched")
	}
}

// TestMatchIdentityWorstCase guards against super-linear matching on the
// longest inputs a caller can send.
func TestMatchIdentityWorstCase(t *testing.T) {
	const td = "spiffe://example.org"
	manySegments := td + strings.Repeat("/a", (maxIdentityLen-len(td))/2)
	tests := []struct {
		name              string
		pattern, identity string
		want              bool
	}{
		{"double star over many segments", td + "/**", manySegments, true},
		{"star over many segments", td + "/a/*", manySegments, false},
		{"long literal", td + "/" + strings.Repeat("a", MaxIdentityPatternLen-len(td)-1), td + "/" + strings.Repeat("a", maxIdentityLen-len(td)-1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ValidateIdentityPattern(tt.pattern); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			for range 1000 {
				if got := MatchIdentity(tt.pattern, tt.identity); got != tt.want {
					t.Fatalf("MatchIdentity = %v, want %v", got, tt.want)
				}
			}
			// About 10 ms for 1000 calls when linear. The bound is loose for
			// slow, raced builds.
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("1000 matches took %v", d)
			}
		})
	}
}

func TestHasRole(t *testing.T) {
	p := &Policy{Roles: map[Role][]string{
		RoleAdmin:      {"spiffe://example.org/ops/admin"},
		RoleIntrospect: {"spiffe://example.org/rs/*", "orders-api.internal.example"},
		RoleExchange:   {"spiffe://example.org/workload/**"},
		Role("root"):   {"spiffe://example.org/**"},
	}}
	tests := []struct {
		name     string
		policy   *Policy
		identity string
		role     Role
		want     bool
	}{
		{"admin exact", p, "spiffe://example.org/ops/admin", RoleAdmin, true},
		{"admin is not introspect", p, "spiffe://example.org/ops/admin", RoleIntrospect, false},
		{"introspect first pattern", p, "spiffe://example.org/rs/orders", RoleIntrospect, true},
		{"introspect second pattern", p, "orders-api.internal.example", RoleIntrospect, true},
		{"exchange nested", p, "spiffe://example.org/workload/ns/prod/api", RoleExchange, true},
		{"exchange via dot-dot", p, "spiffe://example.org/workload/../ops/admin", RoleExchange, false},
		{"workload is not admin", p, "spiffe://example.org/workload/ns/prod/api", RoleAdmin, false},
		{"empty identity", p, "", RoleExchange, false},
		{"undefined role grants nothing", p, "spiffe://example.org/x", Role("root"), false},
		{"empty role name", p, "spiffe://example.org/ops/admin", Role(""), false},
		{"nil policy", nil, "spiffe://example.org/ops/admin", RoleAdmin, false},
		{"role not configured", &Policy{}, "spiffe://example.org/ops/admin", RoleAdmin, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.policy.HasRole(tt.identity, tt.role); got != tt.want {
				t.Errorf("HasRole(%q, %q) = %v, want %v", tt.identity, tt.role, got, tt.want)
			}
		})
	}
}

// BenchmarkMatchIdentity is the role check of one authorized call.
func BenchmarkMatchIdentity(b *testing.B) {
	const pattern, identity = "spiffe://example.org/ns/prod/**", "spiffe://example.org/ns/prod/sa/orders-api"
	for b.Loop() {
		if !MatchIdentity(pattern, identity) {
			b.Fatal("no match")
		}
	}
}
