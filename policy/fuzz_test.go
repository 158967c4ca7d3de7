package policy

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzDecideScopes splits the input on spaces into requested scopes (as a
// scope claim is split) and checks that a grant never exceeds the key or the
// catalog, and that asking again for exactly the granted scopes is a no-op.
//
// Seeds live in testdata/fuzz/FuzzDecideScopes.
func FuzzDecideScopes(f *testing.F) {
	p := testPolicy()
	keyScopes := []string{"orders.read", "orders.write", "READ", "retired.scope"}
	keyAllowed := []string{"READ", "orders.read", "orders.write"} // key ∩ catalog, sorted
	f.Fuzz(func(t *testing.T, in string) {
		var asked []string
		if in != "" {
			asked = strings.Split(in, " ")
		}
		req := GrantRequest{
			Scopes:       asked,
			TTL:          time.Duration(len(in)) * time.Minute,
			KeyScopes:    keyScopes,
			KeyAudiences: []string{"https://orders.example"},
		}
		g, err := p.Decide(req)
		if err != nil {
			var se *ScopeNotAllowedError
			switch {
			case errors.As(err, &se):
				if !slices.Contains(asked, se.Scope) || slices.Contains(keyAllowed, se.Scope) {
					t.Fatalf("refused %q, which was not asked or is allowed", se.Scope)
				}
			case errors.Is(err, ErrInvalidRequest):
			default:
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if len(g.Scopes) == 0 {
			t.Fatal("granted no scopes")
		}
		if !slices.IsSorted(g.Scopes) || len(slices.Compact(slices.Clone(g.Scopes))) != len(g.Scopes) {
			t.Fatalf("scopes not sorted and unique: %q", g.Scopes)
		}
		for _, s := range g.Scopes {
			if !slices.Contains(keyAllowed, s) || !p.KnownScope(s) {
				t.Fatalf("granted %q beyond the key or the catalog", s)
			}
			if len(asked) > 0 && !slices.Contains(asked, s) {
				t.Fatalf("granted %q, which was not asked", s)
			}
		}
		if g.TTL <= 0 || g.TTL > p.Tokens.MaxTTL {
			t.Fatalf("ttl %v outside (0, %v]", g.TTL, p.Tokens.MaxTTL)
		}
		req.Scopes = g.Scopes
		again, err := p.Decide(req)
		if err != nil {
			t.Fatalf("deciding the granted scopes again: %v", err)
		}
		if !slices.Equal(again.Scopes, g.Scopes) || !slices.Equal(again.Audiences, g.Audiences) || again.TTL != g.TTL {
			t.Fatalf("not idempotent: %+v then %+v", g, again)
		}
	})
}

// FuzzMatchIdentity checks that MatchIdentity never panics, agrees with a
// regular-expression model of the pattern language, and matches a literal
// pattern exactly when the strings are equal.
//
// Seeds live in testdata/fuzz/FuzzMatchIdentity.
func FuzzMatchIdentity(f *testing.F) {
	f.Fuzz(func(t *testing.T, pattern, identity string) {
		got := MatchIdentity(pattern, identity)
		valid := ValidateIdentityPattern(pattern) == nil
		if !valid {
			if got {
				t.Fatalf("invalid pattern %q matched %q", pattern, identity)
			}
			return
		}
		if !strings.Contains(pattern, "*") {
			if !MatchIdentity(pattern, pattern) {
				t.Fatalf("literal pattern %q does not match itself", pattern)
			}
			if got != (pattern == identity) {
				t.Fatalf("literal pattern %q vs %q: got %v", pattern, identity, got)
			}
		}
		if want := validIdentity(identity) && modelMatch(pattern, identity); got != want {
			t.Fatalf("MatchIdentity(%q, %q) = %v, model says %v", pattern, identity, got, want)
		}
	})
}

// modelMatch is an independent statement of the pattern language as an RE2
// expression (linear time, no backtracking).
func modelMatch(pattern, identity string) bool {
	segs := strings.Split(pattern, "/")
	var b strings.Builder
	b.WriteString(`\A`)
	for i, seg := range segs {
		if i > 0 {
			b.WriteString("/")
		}
		switch {
		case seg == "**" && i == len(segs)-1:
			b.WriteString(`[^/]+(?:/[^/]+)*`)
		case seg == "*":
			b.WriteString(`[^/]+`)
		default:
			parts := strings.Split(seg, "*")
			for j, part := range parts {
				if j > 0 {
					b.WriteString(`[^/]*`)
				}
				b.WriteString(regexp.QuoteMeta(part))
			}
		}
	}
	b.WriteString(`\z`)
	return regexp.MustCompile(b.String()).MatchString(identity)
}
