package policy

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

// keyFields lists the fields of keys and of an owner override, in order.
const keyFields = "require_binding, max_lifetime, rotation_period, unused_disable_after, attestation_period, default_rotation_grace, max_rotation_grace, default_rate_limit"

// withKeys returns the default key rules changed by mod.
func withKeys(mod func(*KeyRules)) KeyRules {
	k := DefaultKeyRules()
	mod(&k)
	return k
}

func TestDefaultKeyRules(t *testing.T) {
	want := KeyRules{
		DefaultRotationGrace: 24 * time.Hour,
		MaxRotationGrace:     720 * time.Hour,
		DefaultRateLimit:     RateLimit{PerSecond: 10, Burst: 20},
	}
	if got := DefaultKeyRules(); got != want {
		t.Fatalf("DefaultKeyRules = %+v, want %+v", got, want)
	}
}

func TestParseKeyRules(t *testing.T) {
	const iss = "issuer: https://latchkey.example\n"
	tests := []struct {
		name   string
		yaml   string
		keys   KeyRules
		owners map[string]KeyRules
	}{
		{"absent", iss, DefaultKeyRules(), nil},
		{"null section", iss + "keys: ~\nowners: ~\n", DefaultKeyRules(), nil},
		{"every field", iss + `keys:
  require_binding: true
  max_lifetime: 2160h
  rotation_period: 720h
  unused_disable_after: 1440h
  attestation_period: 2160h
  default_rotation_grace: 2h
  max_rotation_grace: 48h
  default_rate_limit:
    per_second: 2.5
    burst: 5
`, KeyRules{
			RequireBinding:       true,
			MaxLifetime:          2160 * time.Hour,
			RotationPeriod:       720 * time.Hour,
			UnusedDisableAfter:   1440 * time.Hour,
			AttestationPeriod:    2160 * time.Hour,
			DefaultRotationGrace: 2 * time.Hour,
			MaxRotationGrace:     48 * time.Hour,
			DefaultRateLimit:     RateLimit{PerSecond: 2.5, Burst: 5},
		}, nil},
		{"days", iss + "keys:\n  max_lifetime: 90d\n  rotation_period: 1d12h\n  unused_disable_after: +2d30m\n  attestation_period: 0d\n",
			withKeys(func(k *KeyRules) {
				k.MaxLifetime, k.RotationPeriod, k.UnusedDisableAfter = 90*day, 36*time.Hour, 48*time.Hour+30*time.Minute
			}), nil},
		{"explicit zeros switch rules off", iss + "keys:\n  max_lifetime: 0s\n  rotation_period: 0s\n  default_rotation_grace: 0s\n  max_rotation_grace: 0s\n",
			withKeys(func(k *KeyRules) { k.DefaultRotationGrace, k.MaxRotationGrace = 0, 0 }), nil},
		{"upper bounds are inclusive", iss + "keys:\n  default_rotation_grace: 8760h\n  max_rotation_grace: 365d\n  default_rate_limit: {per_second: 1e6, burst: 1000000}\n",
			withKeys(func(k *KeyRules) {
				k.DefaultRotationGrace, k.MaxRotationGrace = 8760*time.Hour, 8760*time.Hour
				k.DefaultRateLimit = RateLimit{PerSecond: 1e6, Burst: 1e6}
			}), nil},
		{"lower bounds are inclusive", iss + "keys:\n  default_rate_limit: {per_second: 0.001, burst: 1}\n",
			withKeys(func(k *KeyRules) { k.DefaultRateLimit = RateLimit{PerSecond: 0.001, Burst: 1} }), nil},
		{"integer rate", iss + "keys:\n  default_rate_limit: {per_second: 3}\n",
			withKeys(func(k *KeyRules) { k.DefaultRateLimit.PerSecond = 3 }), nil},
		{"partial rate limit keeps the default burst", iss + "keys:\n  default_rate_limit:\n    per_second: 1\n",
			withKeys(func(k *KeyRules) { k.DefaultRateLimit = RateLimit{PerSecond: 1, Burst: 20} }), nil},
		{"default grace raised with the maximum", iss + "keys:\n  default_rotation_grace: 1000h\n  max_rotation_grace: 1000h\n",
			withKeys(func(k *KeyRules) { k.DefaultRotationGrace, k.MaxRotationGrace = 1000*time.Hour, 1000*time.Hour }), nil},
		{"partial override keeps the base values", iss + `keys:
  require_binding: false
  max_lifetime: 90d
  rotation_period: 30d
  default_rate_limit: {per_second: 5, burst: 10}
owners:
  payments-team:
    rotation_period: 720h
    require_binding: true
`, withKeys(func(k *KeyRules) {
			k.MaxLifetime, k.RotationPeriod, k.DefaultRateLimit = 90*day, 30*day, RateLimit{PerSecond: 5, Burst: 10}
		}), map[string]KeyRules{
			"payments-team": withKeys(func(k *KeyRules) {
				k.RequireBinding, k.MaxLifetime, k.RotationPeriod, k.DefaultRateLimit = true, 90*day, 720*time.Hour, RateLimit{PerSecond: 5, Burst: 10}
			}),
		}},
		{"override of every field", iss + `keys:
  require_binding: true
  max_lifetime: 90d
owners:
  team:
    require_binding: false
    max_lifetime: 0s
    rotation_period: 1d
    unused_disable_after: 2d
    attestation_period: 3d
    default_rotation_grace: 1h
    max_rotation_grace: 2h
    default_rate_limit: {per_second: 1, burst: 1}
`, withKeys(func(k *KeyRules) { k.RequireBinding, k.MaxLifetime = true, 90*day }), map[string]KeyRules{
			"team": {
				RotationPeriod: day, UnusedDisableAfter: 2 * day, AttestationPeriod: 3 * day,
				DefaultRotationGrace: time.Hour, MaxRotationGrace: 2 * time.Hour,
				DefaultRateLimit: RateLimit{PerSecond: 1, Burst: 1},
			},
		}},
		{"override of part of the rate limit", iss + "owners:\n  team:\n    default_rate_limit:\n      burst: 3\n",
			DefaultKeyRules(), map[string]KeyRules{"team": withKeys(func(k *KeyRules) { k.DefaultRateLimit.Burst = 3 })}},
		{"empty override equals the base", iss + "keys:\n  rotation_period: 1d\nowners:\n  team: {}\n  other: ~\n",
			withKeys(func(k *KeyRules) { k.RotationPeriod = day }), map[string]KeyRules{
				"team":  withKeys(func(k *KeyRules) { k.RotationPeriod = day }),
				"other": withKeys(func(k *KeyRules) { k.RotationPeriod = day }),
			}},
		{"owner names with spaces and unicode", iss + "owners:\n  'Payments Team': {rotation_period: 1d}\n  équipe: {rotation_period: 2d}\n",
			DefaultKeyRules(), map[string]KeyRules{
				"Payments Team": withKeys(func(k *KeyRules) { k.RotationPeriod = day }),
				"équipe":        withKeys(func(k *KeyRules) { k.RotationPeriod = 2 * day }),
			}},
		{"owner raises the maximum grace above the base default", iss + "keys:\n  default_rotation_grace: 1h\n  max_rotation_grace: 1h\nowners:\n  team: {default_rotation_grace: 10d, max_rotation_grace: 10d}\n",
			withKeys(func(k *KeyRules) { k.DefaultRotationGrace, k.MaxRotationGrace = time.Hour, time.Hour }),
			map[string]KeyRules{"team": withKeys(func(k *KeyRules) { k.DefaultRotationGrace, k.MaxRotationGrace = 10*day, 10*day })}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if p.Keys != tt.keys {
				t.Errorf("Keys =\n%+v\nwant\n%+v", p.Keys, tt.keys)
			}
			if !reflect.DeepEqual(p.Owners, tt.owners) {
				t.Errorf("Owners =\n%+v\nwant\n%+v", p.Owners, tt.owners)
			}
		})
	}
}

func TestParseKeyRuleErrors(t *testing.T) {
	const iss = "issuer: https://latchkey.example\n"
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"negative max lifetime", iss + "keys:\n  max_lifetime: -1s\n", "policy: line 3: keys.max_lifetime: must not be negative"},
		{"negative rotation period", iss + "keys:\n  rotation_period: -1h\n", "policy: line 3: keys.rotation_period: must not be negative"},
		{"negative unused period", iss + "keys:\n  unused_disable_after: -1d\n", "policy: line 3: keys.unused_disable_after: must not be negative"},
		{"negative attestation period", iss + "keys:\n  attestation_period: -1m\n", "policy: line 3: keys.attestation_period: must not be negative"},
		{"negative default grace", iss + "keys:\n  default_rotation_grace: -1h\n", "policy: line 3: keys.default_rotation_grace: must not be negative"},
		{"negative max grace", iss + "keys:\n  max_rotation_grace: -1h\n", "policy: line 3: keys.max_rotation_grace: must not be negative"},
		{"max grace above a year", iss + "keys:\n  max_rotation_grace: 8761h\n", "policy: line 3: keys.max_rotation_grace: must not exceed 8760h0m0s"},
		{"max grace in days above a year", iss + "keys:\n  default_rotation_grace: 1h\n  max_rotation_grace: 366d\n", "policy: line 4: keys.max_rotation_grace: must not exceed 8760h0m0s"},
		{"default grace above the default maximum", iss + "keys:\n  default_rotation_grace: 721h\n", "policy: line 3: keys.default_rotation_grace: 721h0m0s exceeds keys.max_rotation_grace (720h0m0s)"},
		{"default grace above the maximum", iss + "keys:\n  max_rotation_grace: 2h\n  default_rotation_grace: 3h\n", "policy: line 4: keys.default_rotation_grace: 3h0m0s exceeds keys.max_rotation_grace (2h0m0s)"},
		{"maximum below the default grace", iss + "keys:\n  max_rotation_grace: 1h\n", "policy: line 3: keys.max_rotation_grace: 1h0m0s is less than keys.default_rotation_grace (24h0m0s)"},
		{"zero rate", iss + "keys:\n  default_rate_limit: {per_second: 0}\n", "policy: line 3: keys.default_rate_limit.per_second: must be greater than 0 and at most 1000000"},
		{"negative rate", iss + "keys:\n  default_rate_limit:\n    per_second: -1\n", "policy: line 4: keys.default_rate_limit.per_second: must be greater than 0 and at most 1000000"},
		{"rate too high", iss + "keys:\n  default_rate_limit:\n    per_second: 1000000.5\n", "policy: line 4: keys.default_rate_limit.per_second: must be greater than 0 and at most 1000000"},
		{"infinite rate", iss + "keys:\n  default_rate_limit:\n    per_second: .inf\n", "policy: line 4: keys.default_rate_limit.per_second: must be greater than 0 and at most 1000000"},
		{"NaN rate", iss + "keys:\n  default_rate_limit:\n    per_second: .nan\n", "policy: line 4: keys.default_rate_limit.per_second: must be greater than 0 and at most 1000000"},
		{"rate as a string", iss + "keys:\n  default_rate_limit:\n    per_second: '10'\n", `policy: line 4: keys.default_rate_limit.per_second: expected a number, got "10"`},
		{"zero burst", iss + "keys:\n  default_rate_limit:\n    burst: 0\n", "policy: line 4: keys.default_rate_limit.burst: must be between 1 and 1000000"},
		{"burst too high", iss + "keys:\n  default_rate_limit:\n    burst: 1000001\n", "policy: line 4: keys.default_rate_limit.burst: must be between 1 and 1000000"},
		{"fractional burst", iss + "keys:\n  default_rate_limit:\n    burst: 1.5\n", `policy: line 4: keys.default_rate_limit.burst: expected an integer, got "1.5"`},
		{"huge burst", iss + "keys:\n  default_rate_limit:\n    burst: 99999999999999999999\n", `policy: line 4: keys.default_rate_limit.burst: expected an integer, got "99999999999999999999"`},
		{"rate limit as a number", iss + "keys:\n  default_rate_limit: 10\n", `policy: line 3: keys.default_rate_limit: expected a mapping, got "10"`},
		{"unknown rate limit field", iss + "keys:\n  default_rate_limit:\n    rate: 1\n", `policy: line 4: keys.default_rate_limit: unknown field "rate" (want one of per_second, burst)`},
		{"bare integer period", iss + "keys:\n  rotation_period: 30\n", `policy: line 3: keys.rotation_period: invalid duration "30": write a number with a unit, such as "10m", "30s", "7d" or "0s"`},
		{"owners as a list", iss + "owners: [a]\n", "policy: line 2: owners: expected a mapping, got a list"},
		{"override as a list", iss + "owners:\n  team: [a]\n", "policy: line 3: owners.team: expected a mapping, got a list"},
		{"unknown override field", iss + "owners:\n  team:\n    rotation: 1d\n", `policy: line 4: owners.team: unknown field "rotation" (want one of ` + keyFields + `)`},
		{"override of a token rule", iss + "owners:\n  team:\n    max_ttl: 1h\n", `policy: line 4: owners.team: unknown field "max_ttl" (want one of ` + keyFields + `)`},
		{"duplicate owner", iss + "owners:\n  team: {}\n  team: {}\n", "policy: line 4: owners.team: duplicate key (first at line 3)"},
		{"null owner name", iss + "owners:\n  ~: {rotation_period: 1d}\n", `policy: line 3: owners: null key "~" (quote it if it is a name)`},
		{"empty owner name", iss + "owners:\n  a: {}\n  '': {rotation_period: 1d}\n", "policy: line 4: owners: owner name must not be empty"},
		{"owner name too long", iss + "owners:\n  " + string(make257()) + ": {}\n", `policy: line 3: owners: owner name "` + string(make257()[:64]) + `"...: longer than 256 bytes`},
		{"owner name with a control character", iss + "owners:\n  \"team\\x1b[31m\": {}\n", `policy: line 3: owners: owner name "team\x1b[31m": control character or invalid UTF-8 at byte 4`},
		{"owner name with a newline", iss + "owners:\n  \"a\\nb\": {}\n", `policy: line 3: owners: owner name "a\nb": control character or invalid UTF-8 at byte 1`},
		{"control character in an override path is quoted", iss + "owners:\n  \"a\\x1bb\":\n    x: 1\n", `policy: line 4: "owners.a\x1bb": unknown field "x" (want one of ` + keyFields + `)`},
		{"negative override", iss + "owners:\n  team:\n    rotation_period: -1d\n", "policy: line 4: owners.team.rotation_period: must not be negative"},
		{"override max grace above a year", iss + "owners:\n  team:\n    max_rotation_grace: 9000h\n", "policy: line 4: owners.team.max_rotation_grace: must not exceed 8760h0m0s"},
		{"override default grace above the inherited maximum", iss + "owners:\n  team:\n    default_rotation_grace: 31d\n",
			"policy: line 4: owners.team.default_rotation_grace: 744h0m0s exceeds keys.max_rotation_grace (720h0m0s)"},
		{"override default grace above its own maximum", iss + "owners:\n  team:\n    max_rotation_grace: 1h\n    default_rotation_grace: 2h\n",
			"policy: line 5: owners.team.default_rotation_grace: 2h0m0s exceeds owners.team.max_rotation_grace (1h0m0s)"},
		{"override maximum below the inherited default", iss + "keys:\n  default_rotation_grace: 2d\nowners:\n  team:\n    max_rotation_grace: 1d\n",
			"policy: line 6: owners.team.max_rotation_grace: 24h0m0s is less than keys.default_rotation_grace (48h0m0s)"},
		{"override rate limit", iss + "owners:\n  team:\n    default_rate_limit: {per_second: 0, burst: 0}\n",
			"policy: line 4: owners.team.default_rate_limit.per_second: must be greater than 0 and at most 1000000\npolicy: line 4: owners.team.default_rate_limit.burst: must be between 1 and 1000000"},
		{"unrelated problem does not hide the grace check", iss + "keys:\n  rotation_period: -1d\n  default_rotation_grace: 800h\n",
			"policy: line 3: keys.rotation_period: must not be negative\npolicy: line 4: keys.default_rotation_grace: 800h0m0s exceeds keys.max_rotation_grace (720h0m0s)"},
		{"bad base is reported once, not per owner", iss + "keys:\n  rotation_period: -1d\nowners:\n  a: {}\n  b: {}\n", "policy: line 3: keys.rotation_period: must not be negative"},
		{"override bool spelt yes", iss + "owners:\n  team:\n    require_binding: yes\n", `policy: line 4: owners.team.require_binding: expected true or false, got "yes"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", p)
			}
			if err.Error() != tt.want {
				t.Errorf("error =\n%s\nwant\n%s", err, tt.want)
			}
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Errorf("errors.Is(err, ErrInvalidPolicy) = false")
			}
		})
	}
}

func make257() []byte {
	b := make([]byte, MaxOwnerLen+1)
	for i := range b {
		b[i] = 'o'
	}
	return b
}

func TestKeyRulesFor(t *testing.T) {
	p, err := Parse([]byte(`issuer: https://latchkey.example
keys:
  require_binding: true
  rotation_period: 30d
owners:
  payments-team:
    rotation_period: 7d
  batch:
    require_binding: false
`))
	if err != nil {
		t.Fatal(err)
	}
	base := withKeys(func(k *KeyRules) { k.RequireBinding, k.RotationPeriod = true, 30*day })
	tests := []struct {
		name   string
		policy *Policy
		owner  string
		want   KeyRules
	}{
		{"owner with override", p, "payments-team", withKeys(func(k *KeyRules) { k.RequireBinding, k.RotationPeriod = true, 7*day })},
		{"override relaxes binding", p, "batch", withKeys(func(k *KeyRules) { k.RotationPeriod = 30 * day })},
		{"owner without override", p, "web-team", base},
		{"empty owner", p, "", base},
		{"owner in another case", p, "Payments-Team", base},
		{"owner with a suffix", p, "payments-team ", base},
		{"nil policy", nil, "payments-team", KeyRules{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.policy.KeyRulesFor(tt.owner); got != tt.want {
				t.Errorf("KeyRulesFor(%q) =\n%+v\nwant\n%+v", tt.owner, got, tt.want)
			}
		})
	}
}
