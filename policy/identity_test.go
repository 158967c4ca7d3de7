package policy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidateIdentityPattern(t *testing.T) {
	tests := []struct {
		pattern string
		want    string // "" means valid
	}{
		{"spiffe://example.org/ns/prod/sa/api", ""},
		{"spiffe://example.org/*/prod", ""},
		{"spiffe://example.org/workload/**", ""},
		{"api-*.example.org", ""},
		{"*", ""},
		{"**", ""},
		{"CN with-dashes_and.dots", `invalid identity pattern "CN with-dashes_and.dots": whitespace at byte 2`},
		{"", `invalid identity pattern "": must not be empty`},
		{"spiffe://a/**/b", `invalid identity pattern "spiffe://a/**/b": "**" must be the last segment`},
		{"**/a", `invalid identity pattern "**/a": "**" must be the last segment`},
		{"spiffe://a/b**", `invalid identity pattern "spiffe://a/b**": "**" must be a whole segment`},
		{"spiffe://a/***", `invalid identity pattern "spiffe://a/***": "**" must be a whole segment`},
		{"spiffe://a/\tb", `invalid identity pattern "spiffe://a/\tb": whitespace at byte 11`},
		{"spiffe://a/b\n", `invalid identity pattern "spiffe://a/b\n": whitespace at byte 12`},
		{"spiffe://a/\x00", `invalid identity pattern "spiffe://a/\x00": control or formatting character at byte 11`},
		{"spiffe://a/\u202eb", `invalid identity pattern "spiffe://a/\u202eb": control or formatting character at byte 11`},
		{"spiffe://a/\xff", `invalid identity pattern "spiffe://a/\xff": invalid UTF-8 at byte 11`},
		{strings.Repeat("a", 512), ""},
		{strings.Repeat("a", 513), `invalid identity pattern "` + strings.Repeat("a", 64) + `"...: longer than 512 bytes`},
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
		{"exact dns name", "api.internal.example", "api.internal.example", true},
		{"case differs in path", td + "/ns/prod", td + "/ns/Prod", false},
		{"case differs in dns name", "api.internal.example", "API.internal.example", false},
		{"case differs in trust domain", td + "/x", "spiffe://Example.org/x", false},
		{"star matches one segment", td + "/ns/*/sa/api", td + "/ns/dev/sa/api", true},
		{"star is not two segments", td + "/ns/*/sa/api", td + "/ns/a/b/sa/api", false},
		{"star is not an empty segment", td + "/ns/*/sa/api", td + "/ns//sa/api", false},
		{"star as last segment", td + "/rs/*", td + "/rs/orders", true},
		{"star as last segment needs one", td + "/rs/*", td + "/rs", false},
		{"star as last segment, trailing slash", td + "/rs/*", td + "/rs/", false},
		{"star as last segment, one too many", td + "/rs/*", td + "/rs/orders/v2", false},
		{"star matches trust domain", "spiffe://*/rs/orders", "spiffe://other.org/rs/orders", true},
		{"double star one segment", td + "/workload/**", td + "/workload/a", true},
		{"double star many segments", td + "/workload/**", td + "/workload/a/b/c", true},
		{"double star needs one segment", td + "/workload/**", td + "/workload", false},
		{"double star trailing slash", td + "/workload/**", td + "/workload/", false},
		{"double star trailing slash after segment", td + "/workload/**", td + "/workload/a/", false},
		{"double star empty inner segment", td + "/workload/**", td + "/workload/a//b", false},
		{"double star other prefix", td + "/workload/**", td + "/workloads/a", false},
		{"double star other trust domain", td + "/workload/**", "spiffe://example.com/workload/a", false},
		{"double star alone", "**", "api.internal.example", true},
		{"star alone is one segment", "*", "api.internal.example", true},
		{"star alone is not a path", "*", "spiffe://example.org/a", false},
		{"star in segment", td + "/sa/api-*", td + "/sa/api-v2", true},
		{"star in segment matches empty run", td + "/sa/api-*", td + "/sa/api-", true},
		{"star in segment stays in segment", td + "/sa/api-*", td + "/sa/api-v2/x", false},
		{"star in segment prefix differs", td + "/sa/api-*", td + "/sa/web-v2", false},
		{"star in dns name", "api-*.internal.example", "api-7.internal.example", true},
		{"star in dns name crosses dots", "api-*.internal.example", "api-7.evil.example.internal.example", true},
		{"star in dns name wrong suffix", "api-*.internal.example", "api-7.internal.example.evil", false},
		{"stars in segment", td + "/a*b*c", td + "/aXbYc", true},
		{"stars in segment need order", td + "/a*b*c", td + "/acb", false},
		{"prefix and suffix overlap", td + "/ab*ba", td + "/aba", false},
		{"prefix and suffix adjacent", td + "/ab*ba", td + "/abba", true},
		{"trailing slash pattern is exact", td + "/rs/", td + "/rs/", true},
		{"trailing slash identity", td + "/rs", td + "/rs/", false},
		{"empty identity", "*", "", false},
		{"empty pattern", "", "", false},
		{"empty pattern, any identity", "", "x", false},
		{"invalid pattern never matches", "spiffe://a/**/b", "spiffe://a/**/b", false},
		{"identity with control byte", td + "/rs/*", td + "/rs/a\x00", false},
		{"identity with space", td + "/rs/*", td + "/rs/a b", false},
		{"identity with invalid utf-8", td + "/rs/*", td + "/rs/\xff", false},
		{"identity too long", "**", strings.Repeat("a", maxIdentityLen+1), false},
		{"longest identity", "**", strings.Repeat("a", maxIdentityLen), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MatchIdentity(tt.pattern, tt.identity); got != tt.want {
				t.Errorf("MatchIdentity(%q, %q) = %v, want %v", tt.pattern, tt.identity, got, tt.want)
			}
		})
	}
}

// TestMatchIdentityWorstCase guards against backtracking: these inputs take
// exponential or quadratic-per-star time in a naive glob matcher.
func TestMatchIdentityWorstCase(t *testing.T) {
	tests := []struct {
		name              string
		pattern, identity string
	}{
		{"many stars in a segment", strings.Repeat("a*", 250) + "b", strings.Repeat("a", maxIdentityLen)},
		{"many star segments", strings.Repeat("*/", 255) + "b", strings.Repeat("a/", maxIdentityLen/2-1) + "a"},
		{"double star over many segments", "a/**", "a/" + strings.Repeat("b/", maxIdentityLen/2-2) + "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ValidateIdentityPattern(tt.pattern); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			for range 1000 {
				MatchIdentity(tt.pattern, tt.identity)
			}
			// About 1 ms for 1000 calls when linear; a backtracking matcher
			// does not finish. The bound is loose for slow, raced builds.
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
		Role("root"):   {"**"},
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
		{"workload is not admin", p, "spiffe://example.org/workload/ns/prod/api", RoleAdmin, false},
		{"empty identity", p, "", RoleExchange, false},
		{"undefined role grants nothing", p, "anything", Role("root"), false},
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
