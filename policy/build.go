package policy

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

const maxIssuerLen = 1024

// build validates the decoded file and fills defaults. Errors carry the
// field path; parse adds the line.
func build(f *file) (*Policy, []*FieldError) {
	var errs []*FieldError
	add := func(path string, err error) {
		errs = append(errs, &FieldError{Path: path, Err: err})
	}

	if f.Issuer == "" {
		add("issuer", errors.New("required"))
	} else if err := validateIssuer(f.Issuer); err != nil {
		add("issuer", err)
	}

	tokens := buildTokens(f.Tokens, add)
	signing := buildSigning(f.Signing, add)

	roles := make(map[Role][]string, len(f.Roles))
	for _, name := range sortedKeys(f.Roles) {
		path := "roles." + name
		if !Role(name).Valid() {
			add(path, errors.New("unknown role (want admin, introspect or exchange)"))
			continue
		}
		for i, pattern := range f.Roles[name] {
			if err := ValidateIdentityPattern(pattern); err != nil {
				add(fmt.Sprintf("%s[%d]", path, i), err)
			}
		}
		roles[Role(name)] = slices.Clone(f.Roles[name])
	}

	scopes := make([]Scope, 0, len(f.Scopes))
	seen := map[string]int{}
	for i, s := range f.Scopes {
		path := fmt.Sprintf("scopes[%d].name", i)
		switch first, dup := seen[s.Name]; {
		case s.Name == "":
			add(path, errors.New("required"))
		case dup:
			add(path, fmt.Errorf("duplicate scope %s (also scopes[%d])", quote(s.Name), first))
		default:
			if err := ValidateScope(s.Name); err != nil {
				add(path, err)
			}
			seen[s.Name] = i
		}
		scopes = append(scopes, Scope(s))
	}

	keys, owners := buildKeyRules(f.Keys, f.Owners, func(e *FieldError) { errs = append(errs, e) })
	limits := buildLimits(f.Limits, add)
	alerts := buildAlerts(f.Alerts, add)

	if len(errs) > 0 {
		return nil, errs
	}
	return &Policy{
		Issuer:  f.Issuer,
		Tokens:  tokens,
		Signing: signing,
		Roles:   roles,
		Scopes:  scopes,
		Keys:    keys,
		Owners:  owners,
		Limits:  limits,
		Alerts:  alerts,
	}, nil
}

func buildTokens(f fileTokens, add func(string, error)) TokenRules {
	t := TokenRules{DefaultTTL: DefaultTokenTTL, MaxTTL: DefaultMaxTTL, Leeway: DefaultLeeway}
	t.MaxTTL = f.MaxTTL.get(t.MaxTTL)
	if f.DefaultTTL != nil {
		t.DefaultTTL = f.DefaultTTL.get(0)
	} else if t.MaxTTL >= minTokenTTL {
		// Setting only max_ttl below the default should not be an error.
		t.DefaultTTL = min(t.DefaultTTL, t.MaxTTL)
	}
	t.Leeway = f.Leeway.get(t.Leeway)

	switch {
	case t.MaxTTL < minTokenTTL:
		add("tokens.max_ttl", fmt.Errorf("must be at least %v", minTokenTTL))
	case t.MaxTTL > MaxTokenTTL:
		add("tokens.max_ttl", fmt.Errorf("must not exceed %v", MaxTokenTTL))
	}
	switch {
	case t.DefaultTTL < minTokenTTL:
		add("tokens.default_ttl", fmt.Errorf("must be at least %v", minTokenTTL))
	case t.DefaultTTL > t.MaxTTL:
		add("tokens.default_ttl", fmt.Errorf("%v exceeds tokens.max_ttl (%v)", t.DefaultTTL, t.MaxTTL))
	}
	switch {
	case t.Leeway < 0:
		add("tokens.leeway", errors.New("must not be negative"))
	case t.Leeway > MaxLeeway:
		add("tokens.leeway", fmt.Errorf("must not exceed %v", MaxLeeway))
	}
	return t
}

// validateIssuer accepts an absolute https URL with a host and no user
// information, query or fragment; plain http only for a loopback name, so
// that a dev setup works and a production one cannot be downgraded by typo.
// The value is used verbatim as "iss", so the scheme must already be lowercase.
func validateIssuer(s string) error {
	if len(s) > maxIssuerLen {
		return fmt.Errorf("longer than %d bytes", maxIssuerLen)
	}
	if reason := badText(s); reason != "" {
		return fmt.Errorf("%s: %s", quote(s), reason)
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%s is not a valid URL", quote(s))
	}
	switch {
	case strings.HasPrefix(s, "https://"):
	case strings.HasPrefix(s, "http://"):
		if h := u.Hostname(); h != "localhost" && h != "127.0.0.1" {
			return fmt.Errorf("%s: http is allowed only for localhost and 127.0.0.1; use https", quote(s))
		}
	default:
		return fmt.Errorf("%s must be an absolute URL starting with https://", quote(s))
	}
	switch {
	case u.Hostname() == "":
		return fmt.Errorf("%s has no host", quote(s))
	case u.User != nil:
		return fmt.Errorf("%s must not contain user information", quote(s))
	case u.RawQuery != "" || u.ForceQuery:
		return fmt.Errorf("%s must not have a query", quote(s))
	case u.Fragment != "" || strings.Contains(s, "#"):
		return fmt.Errorf("%s must not have a fragment", quote(s))
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
