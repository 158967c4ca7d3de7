package policy

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const validPolicy = `issuer: https://latchkey.example
tokens:
  default_ttl: 5m
  max_ttl: 2h
  leeway: 10s
roles:
  admin: ["spiffe://example.org/ops/admin"]
  introspect: ["spiffe://example.org/rs/*"]
  exchange:
    - spiffe://example.org/workload/**
    - orders-api.example.org
scopes:
  - name: orders.read
    description: Read orders
  - name: orders.write
keys:
  require_binding: true
  max_lifetime: 720h
`

func TestParseValid(t *testing.T) {
	got, err := Parse([]byte(validPolicy))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := &Policy{
		Issuer:  "https://latchkey.example",
		Tokens:  TokenRules{DefaultTTL: 5 * time.Minute, MaxTTL: 2 * time.Hour, Leeway: 10 * time.Second},
		Signing: DefaultSigningRules(),
		Roles: map[Role][]string{
			RoleAdmin:      {"spiffe://example.org/ops/admin"},
			RoleIntrospect: {"spiffe://example.org/rs/*"},
			RoleExchange:   {"spiffe://example.org/workload/**", "orders-api.example.org"},
		},
		Scopes: []Scope{{Name: "orders.read", Description: "Read orders"}, {Name: "orders.write"}},
		Keys:   withKeys(func(k *KeyRules) { k.RequireBinding, k.MaxLifetime = true, 720*time.Hour }),
		Limits: DefaultLimitRules(),
		Alerts: DefaultAlertRules(),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseDefaults(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want TokenRules
		keys KeyRules
	}{
		{
			name: "only issuer",
			yaml: "issuer: https://latchkey.example\n",
			want: TokenRules{DefaultTTL: 10 * time.Minute, MaxTTL: time.Hour, Leeway: 30 * time.Second},
		},
		{
			name: "empty sections",
			yaml: "issuer: https://latchkey.example\ntokens:\nroles:\nscopes:\nkeys:\n",
			want: TokenRules{DefaultTTL: 10 * time.Minute, MaxTTL: time.Hour, Leeway: 30 * time.Second},
		},
		{
			name: "max below the default ttl lowers the default",
			yaml: "issuer: https://latchkey.example\ntokens:\n  max_ttl: 5m\n",
			want: TokenRules{DefaultTTL: 5 * time.Minute, MaxTTL: 5 * time.Minute, Leeway: 30 * time.Second},
		},
		{
			name: "explicit zero leeway is kept",
			yaml: "issuer: https://latchkey.example\ntokens:\n  leeway: 0s\n",
			want: TokenRules{DefaultTTL: 10 * time.Minute, MaxTTL: time.Hour, Leeway: 0},
		},
		{
			name: "upper bounds are inclusive",
			yaml: "issuer: https://latchkey.example\ntokens:\n  default_ttl: 24h\n  max_ttl: 24h\n  leeway: 60s\n",
			want: TokenRules{DefaultTTL: 24 * time.Hour, MaxTTL: 24 * time.Hour, Leeway: time.Minute},
		},
		{
			name: "http on localhost",
			yaml: "issuer: http://localhost:8443/latchkey\nkeys:\n  max_lifetime: 0s\n",
			want: TokenRules{DefaultTTL: 10 * time.Minute, MaxTTL: time.Hour, Leeway: 30 * time.Second},
		},
		{
			name: "days in token durations",
			yaml: "issuer: https://latchkey.example\ntokens:\n  max_ttl: 1d\n  default_ttl: 0d1h\n",
			want: TokenRules{DefaultTTL: time.Hour, MaxTTL: 24 * time.Hour, Leeway: 30 * time.Second},
		},
		{
			name: "http on 127.0.0.1",
			yaml: "issuer: http://127.0.0.1:8443\nkeys:\n  max_lifetime: 1h\n",
			want: TokenRules{DefaultTTL: 10 * time.Minute, MaxTTL: time.Hour, Leeway: 30 * time.Second},
			keys: withKeys(func(k *KeyRules) { k.MaxLifetime = time.Hour }),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if p.Tokens != tt.want {
				t.Errorf("Tokens = %+v, want %+v", p.Tokens, tt.want)
			}
			if tt.keys == (KeyRules{}) {
				tt.keys = DefaultKeyRules()
			}
			if p.Keys != tt.keys {
				t.Errorf("Keys = %+v, want %+v", p.Keys, tt.keys)
			}
			if p.Signing != DefaultSigningRules() {
				t.Errorf("Signing = %+v, want %+v", p.Signing, DefaultSigningRules())
			}
			if p.Limits != DefaultLimitRules() {
				t.Errorf("Limits = %+v, want %+v", p.Limits, DefaultLimitRules())
			}
			if !reflect.DeepEqual(p.Alerts, DefaultAlertRules()) {
				t.Errorf("Alerts = %+v, want %+v", p.Alerts, DefaultAlertRules())
			}
			if len(p.Roles) != 0 || len(p.Scopes) != 0 || p.Owners != nil {
				t.Errorf("Roles = %v, Scopes = %v, Owners = %v, want none", p.Roles, p.Scopes, p.Owners)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	const iss = "issuer: https://latchkey.example\n"
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"bad yaml", iss + "roles: [a\n", "policy: line 2: invalid YAML: did not find expected ',' or ']'"},
		// yaml.v3 points at the end of the input when the construct opened on line 1.
		{"bad yaml on the first line", "issuer: [a\n", "policy: line 2: invalid YAML: did not find expected ',' or ']'"},
		{"unclosed mapping", iss + "tokens: {max_ttl: 1h\n", "policy: line 2: invalid YAML: did not find expected ',' or '}'"},
		{"bad indentation", iss + "tokens:\n  max_ttl: 1h\n bad: x\n", "policy: line 4: invalid YAML: did not find expected key"},
		{"tab indentation", iss + "tokens:\n\tmax_ttl: 1h\n", "policy: line 3: invalid YAML: found character that cannot start any token"},
		{"empty file", "", "policy: empty document"},
		{"only comments", "# nothing\n", "policy: empty document"},
		{"null document", "~\n", "policy: line 1: empty document"},
		{"two documents", iss + "---\n" + iss, "policy: line 2: more than one YAML document"},
		{"top level list", "- issuer\n", "policy: line 1: the top level must be a mapping"},
		{"unknown top field", iss + "algorithm: ES256\n", `policy: line 2: unknown field "algorithm" (want one of issuer, tokens, signing, roles, scopes, keys, owners, limits, alerts)`},
		{"unknown token field", iss + "tokens:\n  default_tl: 5m\n", `policy: line 3: tokens: unknown field "default_tl" (want one of default_ttl, max_ttl, leeway)`},
		{"unknown scope field", iss + "scopes:\n  - name: a\n    descripton: x\n", `policy: line 4: scopes[0]: unknown field "descripton" (want one of name, description)`},
		{"unknown key field", iss + "keys:\n  rotation: 30d\n", `policy: line 3: keys: unknown field "rotation" (want one of ` + keyFields + `)`},
		{"field name is case-sensitive", "Issuer: https://latchkey.example\n", `policy: line 1: unknown field "Issuer" (want one of issuer, tokens, signing, roles, scopes, keys, owners, limits, alerts)`},
		{"unknown role", iss + "roles:\n  superuser: [x]\n", "policy: line 3: roles.superuser: unknown role (want admin, introspect or exchange)"},
		{"role in another case", iss + "roles:\n  Admin: [x]\n", "policy: line 3: roles.Admin: unknown role (want admin, introspect or exchange)"},
		{"missing issuer", "tokens:\n  max_ttl: 1h\n", "policy: issuer: required"},
		{"missing issuer listed last", "tokens:\n  leeway: 1m1s\n", "policy: line 2: tokens.leeway: must not exceed 1m0s\npolicy: issuer: required"},
		{"null issuer", "issuer: ~\n", "policy: line 1: issuer: required"},
		{"issuer not a URL", "issuer: latchkey.example\n", `policy: line 1: issuer: "latchkey.example" must be an absolute URL starting with https://`},
		{"issuer http", "issuer: http://latchkey.example\n", `policy: line 1: issuer: "http://latchkey.example": http is allowed only for localhost and 127.0.0.1; use https`},
		{"issuer upper-case scheme", "issuer: HTTPS://latchkey.example\n", `policy: line 1: issuer: "HTTPS://latchkey.example" must be an absolute URL starting with https://`},
		{"issuer without host", "issuer: https:///path\n", `policy: line 1: issuer: "https:///path" has no host`},
		{"issuer with user", "issuer: https://u:p@latchkey.example\n", `policy: line 1: issuer: "https://u:p@latchkey.example" must not contain user information`},
		{"issuer with query", "issuer: https://latchkey.example/?a=b\n", `policy: line 1: issuer: "https://latchkey.example/?a=b" must not have a query`},
		{"issuer with fragment", "issuer: https://latchkey.example/#x\n", `policy: line 1: issuer: "https://latchkey.example/#x" must not have a fragment`},
		{"issuer with space", "issuer: 'https://latchkey.example /x'\n", `policy: line 1: issuer: "https://latchkey.example /x": whitespace at byte 24`},
		{"issuer is a list", "issuer: [a]\n", "policy: line 1: issuer: expected a string, got a list"},
		{"bare integer duration", iss + "tokens:\n  default_ttl: 600\n", `policy: line 3: tokens.default_ttl: invalid duration "600": write a number with a unit, such as "10m", "30s", "7d" or "0s"`},
		{"bare zero duration", iss + "keys:\n  max_lifetime: 0\n", `policy: line 3: keys.max_lifetime: invalid duration "0": write a number with a unit, such as "10m", "30s", "7d" or "0s"`},
		{"word duration", iss + "tokens:\n  max_ttl: one hour\n", `policy: line 3: tokens.max_ttl: invalid duration "one hour": write a number with a unit, such as "10m", "30s", "7d" or "0s"`},
		{"days after hours", iss + "keys:\n  max_lifetime: 12h1d\n", `policy: line 3: keys.max_lifetime: invalid duration "12h1d": write a number with a unit, such as "10m", "30s", "7d" or "0s"`},
		{"fractional days", iss + "tokens:\n  max_ttl: 0.5d\n", `policy: line 3: tokens.max_ttl: invalid duration "0.5d": write a number with a unit, such as "10m", "30s", "7d" or "0s"`},
		{"negative days", iss + "keys:\n  max_lifetime: -1d\n", "policy: line 3: keys.max_lifetime: must not be negative"},
		{"duration is a mapping", iss + "tokens:\n  leeway: {s: 1}\n", `policy: line 3: tokens.leeway: expected a duration such as "10m", got a mapping`},
		{"zero default ttl", iss + "tokens:\n  default_ttl: 0s\n", "policy: line 3: tokens.default_ttl: must be at least 1s"},
		{"negative default ttl", iss + "tokens:\n  default_ttl: -5m\n", "policy: line 3: tokens.default_ttl: must be at least 1s"},
		{"default above max", iss + "tokens:\n  default_ttl: 2h\n", "policy: line 3: tokens.default_ttl: 2h0m0s exceeds tokens.max_ttl (1h0m0s)"},
		{"max above a day", iss + "tokens:\n  max_ttl: 25h\n  default_ttl: 1h\n", "policy: line 3: tokens.max_ttl: must not exceed 24h0m0s"},
		{"sub-second max", iss + "tokens:\n  max_ttl: 500ms\n", "policy: line 2: tokens.default_ttl: 10m0s exceeds tokens.max_ttl (500ms)\npolicy: line 3: tokens.max_ttl: must be at least 1s"},
		{"negative leeway", iss + "tokens:\n  leeway: -1s\n", "policy: line 3: tokens.leeway: must not be negative"},
		{"leeway above 60s", iss + "tokens:\n  leeway: 61s\n", "policy: line 3: tokens.leeway: must not exceed 1m0s"},
		{"negative key lifetime", iss + "keys:\n  max_lifetime: -1h\n", "policy: line 3: keys.max_lifetime: must not be negative"},
		{"yes is not a bool", iss + "keys:\n  require_binding: yes\n", `policy: line 3: keys.require_binding: expected true or false, got "yes"`},
		{"quoted bool", iss + "keys:\n  require_binding: \"true\"\n", `policy: line 3: keys.require_binding: expected true or false, got "true"`},
		{"roles as a list", iss + "roles: [admin]\n", "policy: line 2: roles: expected a mapping, got a list"},
		{"role as a string", iss + "roles:\n  admin: spiffe://x/y\n", `policy: line 3: roles.admin: expected a list, got "spiffe://x/y"`},
		{"pattern ** not last", iss + "roles:\n  exchange:\n    - spiffe://a/b\n    - spiffe://a/**/b\n", `policy: line 5: roles.exchange[1]: invalid identity pattern "spiffe://a/**/b": wildcard at byte 11: "*" and "**" are allowed only as the whole last segment`},
		{"wildcard inside a segment", iss + "roles:\n  exchange:\n    - spiffe://example.org/ns/prod/sa/batch-*\n", `policy: line 4: roles.exchange[0]: invalid identity pattern "spiffe://example.org/ns/prod/sa/batch-*": wildcard at byte 38: "*" and "**" are allowed only as the whole last segment`},
		{"wildcard dns name", iss + "roles:\n  introspect: ['*.internal.example']\n", `policy: line 3: roles.introspect[0]: invalid identity pattern "*.internal.example": wildcard at byte 0: only a spiffe:// pattern may end in "/*" or "/**"`},
		{"malformed spiffe pattern", iss + "roles:\n  admin: ['spiffe://example.org/ops/../admin']\n", `policy: line 3: roles.admin[0]: invalid identity pattern "spiffe://example.org/ops/../admin": path segment ".." at byte 25 is not allowed`},
		{"empty pattern", iss + "roles:\n  admin: [\"\"]\n", `policy: line 3: roles.admin[0]: invalid identity pattern "": must not be empty`},
		{"null pattern", iss + "roles:\n  admin:\n    - ~\n", "policy: line 4: roles.admin[0]: empty list item"},
		{"pattern with space", iss + "roles:\n  admin: [\"spiffe://a/b c\"]\n", `policy: line 3: roles.admin[0]: invalid identity pattern "spiffe://a/b c": whitespace at byte 12`},
		{"pattern too long", iss + "roles:\n  admin: [" + strings.Repeat("a", 513) + "]\n", `policy: line 3: roles.admin[0]: invalid identity pattern "` + strings.Repeat("a", 64) + `"...: longer than 512 bytes`},
		{"scope without name", iss + "scopes:\n  - description: x\n", "policy: line 3: scopes[0].name: required"},
		{"null scope", iss + "scopes:\n  - name: a\n  - ~\n", "policy: line 4: scopes[1]: empty list item"},
		{"invalid scope", iss + "scopes:\n  - name: 'orders read'\n", `policy: line 3: scopes[0].name: invalid scope "orders read": byte 6 (0x20) is not allowed`},
		{"scope with backslash", iss + "scopes:\n  - name: 'a\\b'\n", `policy: line 3: scopes[0].name: invalid scope "a\\b": byte 1 (0x5c) is not allowed`},
		{"duplicate scope", iss + "scopes:\n  - name: a\n  - name: b\n  - name: a\n", `policy: line 5: scopes[2].name: duplicate scope "a" (also scopes[0])`},
		{"scopes as a mapping", iss + "scopes:\n  a: b\n", "policy: line 3: scopes: expected a list, got a mapping"},
		{"duplicate key", iss + "issuer: https://other.example\n", "policy: line 2: issuer: duplicate key (first at line 1)"},
		{"duplicate role", iss + "roles:\n  admin: [a]\n  admin: [b]\n", "policy: line 4: roles.admin: duplicate key (first at line 3)"},
		{"alias", iss + "roles:\n  admin: &ops [a]\n  exchange: *ops\n", "policy: line 3: roles.admin: anchors, aliases and merge keys are not allowed\npolicy: line 4: roles.exchange: anchors, aliases and merge keys are not allowed"},
		{"merge key", iss + "keys:\n  <<: {require_binding: true}\n", "policy: line 3: keys: anchors, aliases and merge keys are not allowed"},
		{"null role name", iss + "roles:\n  null: [a]\n", `policy: line 3: roles: null key "null" (quote it if it is a name)`},
		{"mapping key", iss + "roles:\n  ? [a]\n  : [b]\n", "policy: line 3: roles: keys must be plain strings"},
		{"too large", iss + "# " + strings.Repeat("x", maxFileBytes) + "\n", "policy: larger than 1048576 bytes"},
		{"problems sorted by line", "tokens:\n  leeway: 2m\nscopes:\n  - name: ''\nissuer: ftp://x\n",
			"policy: line 2: tokens.leeway: must not exceed 1m0s\npolicy: line 4: scopes[0].name: required\npolicy: line 5: issuer: \"ftp://x\" must be an absolute URL starting with https://"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", p)
			}
			if p != nil {
				t.Errorf("Parse returned a policy with the error")
			}
			if err.Error() != tt.want {
				t.Errorf("error =\n%s\nwant\n%s", err, tt.want)
			}
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Errorf("errors.Is(err, ErrInvalidPolicy) = false")
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("errors.As(err, *FieldError) = false")
			}
		})
	}
}

func TestParseTooManyProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString("issuer: https://latchkey.example\nscopes:\n")
	for range 25 {
		b.WriteString("  - name: ''\n")
	}
	_, err := Parse([]byte(b.String()))
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != maxReported+1 {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), maxReported+1, err)
	}
	if got, want := lines[0], "policy: line 3: scopes[0].name: required"; got != want {
		t.Errorf("first line = %q, want %q", got, want)
	}
	if got, want := lines[maxReported], "policy: 5 more problems not shown"; got != want {
		t.Errorf("last line = %q, want %q", got, want)
	}
}

func TestParseErrorWrapsCause(t *testing.T) {
	_, err := Parse([]byte("issuer: https://x.example\nroles:\n  admin: ['a/**/b']\nscopes:\n  - name: 'a b'\n"))
	if !errors.Is(err, ErrInvalidPattern) {
		t.Errorf("errors.Is(err, ErrInvalidPattern) = false for %v", err)
	}
	if !errors.Is(err, ErrInvalidScope) {
		t.Errorf("errors.Is(err, ErrInvalidScope) = false for %v", err)
	}
}

func TestExampleFile(t *testing.T) {
	p, err := Load(filepath.Join("testdata", "example.yaml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &Policy{
		Issuer: "https://latchkey.example",
		Tokens: TokenRules{DefaultTTL: 10 * time.Minute, MaxTTL: time.Hour, Leeway: 30 * time.Second},
		Signing: SigningRules{
			Algorithm:      "EdDSA",
			RotationPeriod: 30 * 24 * time.Hour,
			PublishLead:    2 * time.Hour,
			JWKSMaxAge:     10 * time.Minute,
		},
		Roles: map[Role][]string{
			RoleAdmin:      {"spiffe://example.org/ops/admin"},
			RoleIntrospect: {"spiffe://example.org/rs/*", "orders-api.internal.example"},
			RoleExchange:   {"spiffe://example.org/workload/**", "spiffe://example.org/ns/prod/sa/*"},
		},
		Scopes: []Scope{
			{Name: "orders.read", Description: "Read orders"},
			{Name: "orders.write", Description: "Create and update orders"},
			{Name: "billing.read", Description: "Read invoices"},
		},
		Keys: KeyRules{
			RequireBinding:       true,
			MaxLifetime:          90 * 24 * time.Hour,
			RotationPeriod:       30 * 24 * time.Hour,
			UnusedDisableAfter:   60 * 24 * time.Hour,
			AttestationPeriod:    90 * 24 * time.Hour,
			DefaultRotationGrace: 24 * time.Hour,
			MaxRotationGrace:     7 * 24 * time.Hour,
			DefaultRateLimit:     RateLimit{PerSecond: 10, Burst: 20},
		},
		Owners: map[string]KeyRules{
			"payments-team": {
				RequireBinding:       true,
				MaxLifetime:          90 * 24 * time.Hour,
				RotationPeriod:       7 * 24 * time.Hour,
				UnusedDisableAfter:   60 * 24 * time.Hour,
				AttestationPeriod:    90 * 24 * time.Hour,
				DefaultRotationGrace: 2 * time.Hour,
				MaxRotationGrace:     7 * 24 * time.Hour,
				DefaultRateLimit:     RateLimit{PerSecond: 50, Burst: 20},
			},
			"batch jobs": {
				RequireBinding:       false,
				MaxLifetime:          0,
				RotationPeriod:       30 * 24 * time.Hour,
				UnusedDisableAfter:   60 * 24 * time.Hour,
				AttestationPeriod:    90 * 24 * time.Hour,
				DefaultRotationGrace: 24 * time.Hour,
				MaxRotationGrace:     7 * 24 * time.Hour,
				DefaultRateLimit:     RateLimit{PerSecond: 10, Burst: 20},
			},
		},
		// The example writes out every default but two.
		Limits: DefaultLimitRules(),
		Alerts: func() AlertRules {
			a := DefaultAlertRules()
			a.Quarantine, a.Cooldown = []string{"flagged_key_use", "scope_probe"}, 30*time.Minute
			return a
		}(),
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("Load =\n%+v\nwant\n%+v", p, want)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		// Chmod, since WriteFile's mode is filtered by the umask.
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		return path
	}
	bad := write("bad.yaml", "issuer: https://latchkey.example\ntokens:\n  leeway: 2m\n", 0o644)
	open := write("open.yaml", "issuer: https://latchkey.example\n", 0o666)
	empty := write("empty.yaml", "", 0o600)
	missing := filepath.Join(dir, "missing.yaml")

	tests := []struct {
		name   string
		path   string
		want   string
		wantIs error
	}{
		{"invalid content", bad, "policy: " + bad + ":3: tokens.leeway: must not exceed 1m0s", ErrInvalidPolicy},
		{"empty", empty, "policy: " + empty + ": empty document", ErrInvalidPolicy},
		{"missing", missing, "policy: open " + missing + ": no such file or directory", fs.ErrNotExist},
		{"world-writable", open, "policy: " + open + ": file is writable by everyone (mode -rw-rw-rw-)", nil},
		{"directory", dir, "policy: " + dir + ": not a regular file", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Load(tt.path)
			if err == nil {
				t.Fatalf("Load succeeded: %+v", p)
			}
			if err.Error() != tt.want {
				t.Errorf("error = %q, want %q", err, tt.want)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(err, %v) = false", tt.wantIs)
			}
		})
	}
}

func TestFieldErrorFormat(t *testing.T) {
	cause := errors.New("boom")
	tests := []struct {
		name string
		err  FieldError
		want string
	}{
		{"everything", FieldError{File: "p.yaml", Line: 3, Path: "tokens.max_ttl", Err: cause}, "policy: p.yaml:3: tokens.max_ttl: boom"},
		{"file only", FieldError{File: "p.yaml", Err: cause}, "policy: p.yaml: boom"},
		{"line only", FieldError{Line: 7, Err: cause}, "policy: line 7: boom"},
		{"path only", FieldError{Path: "issuer", Err: cause}, "policy: issuer: boom"},
		{"nothing", FieldError{Err: cause}, "policy: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
			if !errors.Is(&tt.err, cause) || !errors.Is(&tt.err, ErrInvalidPolicy) {
				t.Errorf("FieldError does not match its cause and ErrInvalidPolicy")
			}
		})
	}
}
