package policy

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateScope(t *testing.T) {
	tests := []struct {
		name  string
		scope string
		want  string // "" means valid
	}{
		{"dotted", "orders.read", ""},
		{"lowest allowed byte", "!", ""},
		{"after quote", "#", ""},
		{"before backslash", "[", ""},
		{"after backslash", "]", ""},
		{"highest allowed byte", "~", ""},
		{"urn", "urn:example:scope/read", ""},
		{"max length", strings.Repeat("s", 128), ""},
		{"empty", "", `invalid scope "": must not be empty`},
		{"too long", strings.Repeat("s", 129), `invalid scope "` + strings.Repeat("s", 64) + `"...: longer than 128 bytes`},
		{"space", "orders read", `invalid scope "orders read": byte 6 (0x20) is not allowed`},
		{"double quote", `a"b`, `invalid scope "a\"b": byte 1 (0x22) is not allowed`},
		{"backslash", `a\b`, `invalid scope "a\\b": byte 1 (0x5c) is not allowed`},
		{"delete", "a\x7f", `invalid scope "a\x7f": byte 1 (0x7f) is not allowed`},
		{"nul", "a\x00", `invalid scope "a\x00": byte 1 (0x00) is not allowed`},
		{"non-ascii", "orders.lecture\u0301", `invalid scope "orders.lecture\u0301": byte 14 (0xcc) is not allowed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateScope(tt.scope)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ValidateScope = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("ValidateScope = %v, want %s", err, tt.want)
			}
			if !errors.Is(err, ErrInvalidScope) {
				t.Errorf("errors.Is(err, ErrInvalidScope) = false")
			}
		})
	}
}

func TestValidateAudience(t *testing.T) {
	tests := []struct {
		name string
		aud  string
		want string // "" means valid
	}{
		{"url", "https://orders.example/api", ""},
		{"name", "orders", ""},
		{"unicode", "café", ""},
		{"max length", strings.Repeat("a", 256), ""},
		{"empty", "", `invalid audience "": must not be empty`},
		{"too long", strings.Repeat("a", 257), `invalid audience "` + strings.Repeat("a", 64) + `"...: longer than 256 bytes`},
		{"space", "orders api", `invalid audience "orders api": whitespace at byte 6`},
		{"newline", "orders\n", `invalid audience "orders\n": whitespace at byte 6`},
		{"control", "orders\x1b[31m", `invalid audience "orders\x1b[31m": control or formatting character at byte 6`},
		{"zero width space", "orders\u200b", `invalid audience "orders\u200b": control or formatting character at byte 6`},
		{"invalid utf-8", "orders\xc3", `invalid audience "orders\xc3": invalid UTF-8 at byte 6`},
		{"replacement character", "orders\ufffd", `invalid audience "orders\ufffd": invalid UTF-8 at byte 6`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateAudience(tt.aud)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ValidateAudience = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("ValidateAudience = %v, want %s", err, tt.want)
			}
			if !errors.Is(err, ErrInvalidAudience) {
				t.Errorf("errors.Is(err, ErrInvalidAudience) = false")
			}
		})
	}
}

func TestKnownScope(t *testing.T) {
	p := &Policy{Scopes: []Scope{{Name: "orders.read"}, {Name: "READ"}}}
	tests := []struct {
		name   string
		policy *Policy
		scope  string
		want   bool
	}{
		{"in catalog", p, "orders.read", true},
		{"upper case in catalog", p, "READ", true},
		{"case differs", p, "Orders.Read", false},
		{"lower case of upper", p, "read", false},
		{"prefix", p, "orders", false},
		{"not in catalog", p, "orders.write", false},
		{"empty", p, "", false},
		{"empty catalog", &Policy{}, "orders.read", false},
		{"invalid name in a hand-built catalog", &Policy{Scopes: []Scope{{Name: "a b"}}}, "a b", false},
		{"nil policy", nil, "orders.read", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.policy.KnownScope(tt.scope); got != tt.want {
				t.Errorf("KnownScope(%q) = %v, want %v", tt.scope, got, tt.want)
			}
		})
	}
}

func TestRoleValid(t *testing.T) {
	for _, r := range Roles() {
		if !r.Valid() {
			t.Errorf("%q.Valid() = false", r)
		}
	}
	for _, r := range []Role{"", "Admin", "ADMIN", "root", "admin "} {
		if r.Valid() {
			t.Errorf("%q.Valid() = true", r)
		}
	}
}
