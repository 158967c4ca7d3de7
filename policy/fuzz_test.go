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

// FuzzMatchIdentity checks that MatchIdentity never panics, never lets an
// invalid pattern match, and agrees with a regular-expression model of the
// pattern language.
//
// Seeds live in testdata/fuzz/FuzzMatchIdentity.
func FuzzMatchIdentity(f *testing.F) {
	f.Fuzz(func(t *testing.T, pattern, identity string) {
		got := MatchIdentity(pattern, identity)
		if ValidateIdentityPattern(pattern) != nil {
			if got {
				t.Fatalf("invalid pattern %q matched %q", pattern, identity)
			}
			return
		}
		if !strings.HasPrefix(pattern, "spiffe://") {
			if strings.Contains(pattern, "*") {
				t.Fatalf("literal pattern %q with a wildcard was accepted", pattern)
			}
			if got != (pattern == identity) {
				t.Fatalf("literal pattern %q vs %q: got %v", pattern, identity, got)
			}
			return
		}
		// Every accepted SPIFFE pattern names SPIFFE IDs once its wildcard is
		// filled in.
		prefix, last := splitLast(pattern)
		if example := pattern; last == "*" || last == "**" {
			if example = prefix + "x"; !modelSPIFFEID(example) {
				t.Fatalf("pattern %q accepted but %q is not a SPIFFE ID", pattern, example)
			}
		} else if !modelSPIFFEID(example) {
			t.Fatalf("pattern %q accepted but is not a SPIFFE ID", pattern)
		}
		if want := modelSPIFFEID(identity) && modelMatch(pattern, identity); got != want {
			t.Fatalf("MatchIdentity(%q, %q) = %v, model says %v", pattern, identity, got, want)
		}
	})
}

// FuzzSPIFFEID checks ValidateSPIFFEID against a regular-expression model of
// the SPIFFE ID grammar, and that a valid ID matches itself and the one- and
// many-segment wildcards below it, while an invalid one matches nothing.
//
// Seeds live in testdata/fuzz/FuzzSPIFFEID.
func FuzzSPIFFEID(f *testing.F) {
	f.Fuzz(func(t *testing.T, id string) {
		err := ValidateSPIFFEID(id)
		if want := modelSPIFFEID(id); (err == nil) != want {
			t.Fatalf("ValidateSPIFFEID(%q) = %v, model says valid=%v", id, err, want)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidSPIFFEID) {
				t.Fatalf("error %v is not ErrInvalidSPIFFEID", err)
			}
			// A string that is not a SPIFFE ID may still be a literal DNS
			// name pattern; only SPIFFE patterns must refuse it.
			for _, p := range []string{"spiffe://example.org/**", "spiffe://example.org/*", id, id + "/*", id + "/**"} {
				if strings.HasPrefix(p, "spiffe://") && MatchIdentity(p, id) {
					t.Fatalf("invalid ID %q matched %q", id, p)
				}
			}
			return
		}
		if len(id) <= MaxIdentityPatternLen && !MatchIdentity(id, id) {
			t.Fatalf("%q does not match itself", id)
		}
		if len(id)+len("/**") > MaxIdentityPatternLen {
			return
		}
		checks := []struct {
			pattern, identity string
			want              bool
		}{
			{id + "/*", id + "/x", true},
			{id + "/**", id + "/x", true},
			{id + "/**", id + "/x/y", true},
			{id + "/*", id + "/x/y", false},
			{id + "/*", id, false},
			{id + "/**", id, false},
			{id, id + "/x", false},
		}
		for _, c := range checks {
			if got := MatchIdentity(c.pattern, c.identity); got != c.want {
				t.Fatalf("MatchIdentity(%q, %q) = %v, want %v", c.pattern, c.identity, got, c.want)
			}
		}
	})
}

// spiffeIDModel is an independent statement of the SPIFFE ID grammar as an
// RE2 expression (linear time); dot segments and lengths are checked apart.
var spiffeIDModel = regexp.MustCompile(`\Aspiffe://[a-z0-9._-]+(?:/[a-zA-Z0-9._-]+)+\z`)

func modelSPIFFEID(s string) bool {
	if len(s) > 2048 || !spiffeIDModel.MatchString(s) {
		return false
	}
	segs := strings.Split(strings.TrimPrefix(s, "spiffe://"), "/")
	if len(segs[0]) > 255 {
		return false
	}
	for _, seg := range segs[1:] {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// modelMatch states SPIFFE pattern matching as an RE2 expression over an
// identity already known to be a SPIFFE ID.
func modelMatch(pattern, identity string) bool {
	expr := regexp.QuoteMeta(pattern)
	switch {
	case strings.HasSuffix(pattern, "/**"):
		expr = regexp.QuoteMeta(strings.TrimSuffix(pattern, "**")) + `.+`
	case strings.HasSuffix(pattern, "/*"):
		expr = regexp.QuoteMeta(strings.TrimSuffix(pattern, "*")) + `[^/]+`
	}
	return regexp.MustCompile(`\A` + expr + `\z`).MatchString(identity)
}
