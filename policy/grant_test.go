package policy

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func testPolicy() *Policy {
	return &Policy{
		Issuer: "https://latchkey.example",
		Tokens: TokenRules{DefaultTTL: 10 * time.Minute, MaxTTL: time.Hour, Leeway: 30 * time.Second},
		Scopes: []Scope{{Name: "orders.read"}, {Name: "orders.write"}, {Name: "billing.read"}, {Name: "READ"}},
	}
}

// key returns a request carrying a typical key's allowances.
func key(mod func(*GrantRequest)) GrantRequest {
	r := GrantRequest{
		KeyScopes:    []string{"orders.write", "orders.read"},
		KeyAudiences: []string{"https://orders.example", "https://billing.example"},
	}
	if mod != nil {
		mod(&r)
	}
	return r
}

func manyScopes(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("s%d", i)
	}
	return out
}

func TestDecide(t *testing.T) {
	allKeyScopes := []string{"orders.read", "orders.write"}
	allKeyAudiences := []string{"https://billing.example", "https://orders.example"}
	tests := []struct {
		name     string
		policy   *Policy // nil means testPolicy()
		noPolicy bool
		req      GrantRequest
		want     Grant
		wantErr  string
		wantIs   error
	}{
		{
			name: "empty request gets the key's allowances and the default ttl",
			req:  key(nil),
			want: Grant{Scopes: allKeyScopes, Audiences: allKeyAudiences, TTL: 10 * time.Minute},
		},
		{
			name: "subset",
			req: key(func(r *GrantRequest) {
				r.Scopes = []string{"orders.read"}
				r.Audiences = []string{"https://orders.example"}
			}),
			want: Grant{Scopes: []string{"orders.read"}, Audiences: []string{"https://orders.example"}, TTL: 10 * time.Minute},
		},
		{
			name: "duplicates are removed and the result sorted",
			req: key(func(r *GrantRequest) {
				r.Scopes = []string{"orders.write", "orders.read", "orders.write"}
				r.Audiences = []string{"https://orders.example", "https://billing.example", "https://orders.example"}
				r.KeyScopes = []string{"orders.write", "orders.read", "orders.read"}
			}),
			want: Grant{Scopes: allKeyScopes, Audiences: allKeyAudiences, TTL: 10 * time.Minute},
		},
		{
			name:    "scope the key does not allow is named",
			req:     key(func(r *GrantRequest) { r.Scopes = []string{"orders.read", "billing.read"} }),
			wantErr: `scope "billing.read" is not allowed for this key`,
		},
		{
			name: "scope unknown to the catalog is named",
			req: key(func(r *GrantRequest) {
				r.Scopes = []string{"orders.delete"}
				r.KeyScopes = []string{"orders.read", "orders.delete"}
			}),
			wantErr: `scope "orders.delete" is not allowed for this key`,
		},
		{
			name:    "first offender in request order",
			req:     key(func(r *GrantRequest) { r.Scopes = []string{"zzz", "orders.read", "aaa"} }),
			wantErr: `scope "zzz" is not allowed for this key`,
		},
		{
			name:    "scope case differs",
			req:     key(func(r *GrantRequest) { r.Scopes = []string{"ORDERS.READ"} }),
			wantErr: `scope "ORDERS.READ" is not allowed for this key`,
		},
		{
			name:    "scope case differs from the key",
			req:     key(func(r *GrantRequest) { r.Scopes = []string{"read"}; r.KeyScopes = []string{"READ"} }),
			wantErr: `scope "read" is not allowed for this key`,
		},
		{
			name: "key scope dropped from the catalog is not granted by default",
			req:  key(func(r *GrantRequest) { r.KeyScopes = []string{"orders.read", "orders.retired"} }),
			want: Grant{Scopes: []string{"orders.read"}, Audiences: allKeyAudiences, TTL: 10 * time.Minute},
		},
		{
			name: "key scope dropped from the catalog is refused when asked",
			req: key(func(r *GrantRequest) {
				r.KeyScopes = []string{"orders.read", "orders.retired"}
				r.Scopes = []string{"orders.retired"}
			}),
			wantErr: `scope "orders.retired" is not allowed for this key`,
		},
		{
			name:    "key with no scopes",
			req:     key(func(r *GrantRequest) { r.KeyScopes = nil }),
			wantIs:  ErrKeyHasNoScopes,
			wantErr: "policy: this key allows no scopes",
		},
		{
			name:    "key with no scopes the catalog knows",
			req:     key(func(r *GrantRequest) { r.KeyScopes = []string{"retired", ""}; r.Scopes = []string{"retired"} }),
			wantIs:  ErrKeyHasNoScopes,
			wantErr: "policy: this key allows no scopes",
		},
		{
			name:    "key with no audiences",
			req:     key(func(r *GrantRequest) { r.KeyAudiences = []string{} }),
			wantIs:  ErrKeyHasNoAudiences,
			wantErr: "policy: this key allows no audiences",
		},
		{
			name:    "audience not allowed",
			req:     key(func(r *GrantRequest) { r.Audiences = []string{"https://orders.example", "https://evil.example"} }),
			wantErr: `audience "https://evil.example" is not allowed for this key`,
		},
		{
			name:    "audience is case-sensitive",
			req:     key(func(r *GrantRequest) { r.Audiences = []string{"https://Orders.example"} }),
			wantErr: `audience "https://Orders.example" is not allowed for this key`,
		},
		{
			name: "asked ttl below every cap",
			req:  key(func(r *GrantRequest) { r.TTL = 2 * time.Minute; r.KeyMaxTTL = 5 * time.Minute }),
			want: Grant{Scopes: allKeyScopes, Audiences: allKeyAudiences, TTL: 2 * time.Minute},
		},
		{
			name: "key cap below the asked ttl",
			req:  key(func(r *GrantRequest) { r.TTL = 30 * time.Minute; r.KeyMaxTTL = 5 * time.Minute }),
			want: Grant{Scopes: allKeyScopes, Audiences: allKeyAudiences, TTL: 5 * time.Minute},
		},
		{
			name: "key cap below the default ttl",
			req:  key(func(r *GrantRequest) { r.KeyMaxTTL = 3 * time.Minute }),
			want: Grant{Scopes: allKeyScopes, Audiences: allKeyAudiences, TTL: 3 * time.Minute},
		},
		{
			name: "policy cap below the asked ttl",
			req:  key(func(r *GrantRequest) { r.TTL = 5 * time.Hour }),
			want: Grant{Scopes: allKeyScopes, Audiences: allKeyAudiences, TTL: time.Hour},
		},
		{
			name: "policy cap below the key cap",
			req:  key(func(r *GrantRequest) { r.TTL = 5 * time.Hour; r.KeyMaxTTL = 2 * time.Hour }),
			want: Grant{Scopes: allKeyScopes, Audiences: allKeyAudiences, TTL: time.Hour},
		},
		{
			name: "asked ttl equal to the cap",
			req:  key(func(r *GrantRequest) { r.TTL = time.Hour }),
			want: Grant{Scopes: allKeyScopes, Audiences: allKeyAudiences, TTL: time.Hour},
		},
		{
			name:    "negative ttl",
			req:     key(func(r *GrantRequest) { r.TTL = -time.Second }),
			wantIs:  ErrInvalidRequest,
			wantErr: "policy: invalid request: ttl must not be negative",
		},
		{
			name:    "100 scopes is the limit",
			req:     key(func(r *GrantRequest) { r.Scopes = manyScopes(100) }),
			wantErr: `scope "s0" is not allowed for this key`,
		},
		{
			name:    "101 scopes",
			req:     key(func(r *GrantRequest) { r.Scopes = manyScopes(101) }),
			wantIs:  ErrInvalidRequest,
			wantErr: "policy: invalid request: more than 100 scopes",
		},
		{
			name:    "101 audiences",
			req:     key(func(r *GrantRequest) { r.Audiences = manyScopes(101) }),
			wantIs:  ErrInvalidRequest,
			wantErr: "policy: invalid request: more than 100 audiences",
		},
		{
			name:    "empty-string scope",
			req:     key(func(r *GrantRequest) { r.Scopes = []string{"orders.read", ""} }),
			wantIs:  ErrInvalidScope,
			wantErr: `policy: invalid request: invalid scope "": must not be empty`,
		},
		{
			name:    "scope with a space",
			req:     key(func(r *GrantRequest) { r.Scopes = []string{"orders.read orders.write"} }),
			wantIs:  ErrInvalidRequest,
			wantErr: `policy: invalid request: invalid scope "orders.read orders.write": byte 11 (0x20) is not allowed`,
		},
		{
			name:    "empty-string audience",
			req:     key(func(r *GrantRequest) { r.Audiences = []string{""} }),
			wantIs:  ErrInvalidAudience,
			wantErr: `policy: invalid request: invalid audience "": must not be empty`,
		},
		{
			name:    "invalid request wins over a key with no scopes",
			req:     key(func(r *GrantRequest) { r.KeyScopes = nil; r.Scopes = []string{""} }),
			wantIs:  ErrInvalidRequest,
			wantErr: `policy: invalid request: invalid scope "": must not be empty`,
		},
		{
			name:    "negative key cap",
			req:     key(func(r *GrantRequest) { r.KeyMaxTTL = -time.Minute }),
			wantIs:  ErrMisconfigured,
			wantErr: "policy: misconfigured policy or key: key max ttl is negative",
		},
		{
			name:    "policy without ttl rules",
			policy:  &Policy{Scopes: []Scope{{Name: "orders.read"}}},
			req:     key(nil),
			wantIs:  ErrMisconfigured,
			wantErr: "policy: misconfigured policy or key: token ttl is not positive",
		},
		{
			name:     "nil policy",
			noPolicy: true,
			req:      key(nil),
			wantIs:   ErrMisconfigured,
			wantErr:  "policy: misconfigured policy or key: no policy",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testPolicy()
			switch {
			case tt.noPolicy:
				p = nil
			case tt.policy != nil:
				p = tt.policy
			}
			got, err := p.Decide(tt.req)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Decide: %v", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("Decide = %+v, want %+v", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Decide = %+v, want error %q", got, tt.wantErr)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("error = %q, want %q", err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("errors.Is(err, %v) = false", tt.wantIs)
			}
			if !reflect.DeepEqual(got, Grant{}) {
				t.Errorf("Decide returned %+v with the error", got)
			}
		})
	}
}

func TestDecideErrorTypes(t *testing.T) {
	p := testPolicy()
	_, err := p.Decide(key(func(r *GrantRequest) { r.Scopes = []string{"billing.read"} }))
	var se *ScopeNotAllowedError
	if !errors.As(err, &se) || se.Scope != "billing.read" {
		t.Errorf("errors.As(%v, *ScopeNotAllowedError) = %+v", err, se)
	}
	if errors.Is(err, ErrInvalidRequest) {
		t.Errorf("a disallowed scope must not read as a malformed request")
	}

	_, err = p.Decide(key(func(r *GrantRequest) { r.Audiences = []string{"https://évil.example"} }))
	var ae *AudienceNotAllowedError
	if !errors.As(err, &ae) || ae.Audience != "https://évil.example" {
		t.Errorf("errors.As(%v, *AudienceNotAllowedError) = %+v", err, ae)
	}
	if got, want := err.Error(), `audience "https://\u00e9vil.example" is not allowed for this key`; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

// TestDecideDoesNotAlias checks that the grant does not share memory with the
// request, so the caller mutating one cannot change the other.
func TestDecideDoesNotAlias(t *testing.T) {
	req := key(nil)
	g, err := testPolicy().Decide(req)
	if err != nil {
		t.Fatal(err)
	}
	g.Scopes[0] = "mutated"
	g.Audiences[0] = "mutated"
	if req.KeyScopes[0] != "orders.write" || req.KeyScopes[1] != "orders.read" {
		t.Errorf("KeyScopes changed: %v", req.KeyScopes)
	}
	if req.KeyAudiences[0] != "https://orders.example" || req.KeyAudiences[1] != "https://billing.example" {
		t.Errorf("KeyAudiences changed: %v", req.KeyAudiences)
	}
}
