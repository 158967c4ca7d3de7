package policy

import (
	"errors"
	"testing"
	"time"
)

// signingFields lists the fields of the signing section, in order.
const signingFields = "algorithm, rotation_period, publish_lead, jwks_max_age"

func TestDefaultSigningRules(t *testing.T) {
	want := SigningRules{
		Algorithm:      "EdDSA",
		RotationPeriod: 720 * time.Hour,
		PublishLead:    time.Hour,
		JWKSMaxAge:     5 * time.Minute,
	}
	if got := DefaultSigningRules(); got != want {
		t.Fatalf("DefaultSigningRules = %+v, want %+v", got, want)
	}
	if got := SigningAlgorithms(); len(got) != 3 || got[0] != "EdDSA" || got[1] != "ES256" || got[2] != "RS256" {
		t.Fatalf("SigningAlgorithms = %q, want [EdDSA ES256 RS256]", got)
	}
}

func TestParseSigning(t *testing.T) {
	const iss = "issuer: https://latchkey.example\n"
	def := DefaultSigningRules()
	with := func(mod func(*SigningRules)) SigningRules {
		s := DefaultSigningRules()
		mod(&s)
		return s
	}
	tests := []struct {
		name string
		yaml string
		want SigningRules
	}{
		{"absent", iss, def},
		{"null section", iss + "signing: ~\n", def},
		{"empty section", iss + "signing: {}\n", def},
		{"null fields take the defaults", iss + "signing:\n  algorithm: ~\n  rotation_period: ~\n  publish_lead: ~\n  jwks_max_age: ~\n", def},
		{"every field", iss + "signing:\n  algorithm: ES256\n  rotation_period: 168h\n  publish_lead: 2h\n  jwks_max_age: 10m\n",
			SigningRules{Algorithm: "ES256", RotationPeriod: 168 * time.Hour, PublishLead: 2 * time.Hour, JWKSMaxAge: 10 * time.Minute}},
		{"EdDSA", iss + "signing:\n  algorithm: EdDSA\n", def},
		{"ES256", iss + "signing:\n  algorithm: ES256\n", with(func(s *SigningRules) { s.Algorithm = "ES256" })},
		{"RS256", iss + "signing:\n  algorithm: \"RS256\"\n", with(func(s *SigningRules) { s.Algorithm = "RS256" })},
		{"days", iss + "signing:\n  rotation_period: 7d\n  publish_lead: 1d\n", with(func(s *SigningRules) { s.RotationPeriod, s.PublishLead = 7*day, day })},
		{"days with hours", iss + "signing:\n  rotation_period: 1d12h\n", with(func(s *SigningRules) { s.RotationPeriod = 36 * time.Hour })},
		{"shortest rotation period", iss + "signing:\n  rotation_period: 1m\n  publish_lead: 59s\n",
			SigningRules{Algorithm: "EdDSA", RotationPeriod: time.Minute, PublishLead: 59 * time.Second, JWKSMaxAge: 59 * time.Second}},
		{"longest rotation period", iss + "signing:\n  rotation_period: 8760h\n", with(func(s *SigningRules) { s.RotationPeriod = 8760 * time.Hour })},
		{"longest rotation period in days", iss + "signing:\n  rotation_period: 365d\n", with(func(s *SigningRules) { s.RotationPeriod = 8760 * time.Hour })},
		{"shortest publish lead caps the default max age", iss + "signing:\n  publish_lead: 1s\n",
			with(func(s *SigningRules) { s.PublishLead, s.JWKSMaxAge = time.Second, time.Second })},
		{"publish lead just under the period", iss + "signing:\n  rotation_period: 1h\n  publish_lead: 59m59s\n",
			with(func(s *SigningRules) { s.RotationPeriod, s.PublishLead = time.Hour, time.Hour-time.Second })},
		{"publish lead above the default max age keeps it", iss + "signing:\n  publish_lead: 6h\n", with(func(s *SigningRules) { s.PublishLead = 6 * time.Hour })},
		{"zero max age means no caching", iss + "signing:\n  jwks_max_age: 0s\n", with(func(s *SigningRules) { s.JWKSMaxAge = 0 })},
		{"max age equal to the publish lead", iss + "signing:\n  publish_lead: 10m\n  jwks_max_age: 10m\n",
			with(func(s *SigningRules) { s.PublishLead, s.JWKSMaxAge = 10*time.Minute, 10*time.Minute })},
		{"max age equal to the default publish lead", iss + "signing:\n  jwks_max_age: 1h\n", with(func(s *SigningRules) { s.JWKSMaxAge = time.Hour })},
		{"explicit max age below a short lead is kept", iss + "signing:\n  publish_lead: 2m\n  jwks_max_age: 30s\n",
			with(func(s *SigningRules) { s.PublishLead, s.JWKSMaxAge = 2*time.Minute, 30*time.Second })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if p.Signing != tt.want {
				t.Errorf("Signing = %+v, want %+v", p.Signing, tt.want)
			}
		})
	}
}

func TestParseSigningErrors(t *testing.T) {
	const iss = "issuer: https://latchkey.example\n"
	const algs = "(want EdDSA, ES256 or RS256)"
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"algorithm in lower case", iss + "signing:\n  algorithm: es256\n", `policy: line 3: signing.algorithm: unknown algorithm "es256" ` + algs},
		{"EdDSA in another case", iss + "signing:\n  algorithm: EDDSA\n", `policy: line 3: signing.algorithm: unknown algorithm "EDDSA" ` + algs},
		{"Ed25519 is a curve, not an algorithm", iss + "signing:\n  algorithm: Ed25519\n", `policy: line 3: signing.algorithm: unknown algorithm "Ed25519" ` + algs},
		{"HMAC", iss + "signing:\n  algorithm: HS256\n", `policy: line 3: signing.algorithm: unknown algorithm "HS256" ` + algs},
		{"none", iss + "signing:\n  algorithm: none\n", `policy: line 3: signing.algorithm: unknown algorithm "none" ` + algs},
		{"empty algorithm", iss + "signing:\n  algorithm: ''\n", `policy: line 3: signing.algorithm: unknown algorithm "" ` + algs},
		{"algorithm with a space", iss + "signing:\n  algorithm: 'ES256 '\n", `policy: line 3: signing.algorithm: unknown algorithm "ES256 " ` + algs},
		{"algorithm as a list", iss + "signing:\n  algorithm: [EdDSA]\n", "policy: line 3: signing.algorithm: expected a string, got a list"},

		{"rotation period just under a minute", iss + "signing:\n  rotation_period: 59s\n  publish_lead: 1s\n", "policy: line 3: signing.rotation_period: must be at least 1m0s"},
		{"zero rotation period", iss + "signing:\n  rotation_period: 0s\n", "policy: line 3: signing.rotation_period: must be at least 1m0s"},
		{"negative rotation period", iss + "signing:\n  rotation_period: -1d\n", "policy: line 3: signing.rotation_period: must be at least 1m0s"},
		{"rotation period over a year", iss + "signing:\n  rotation_period: 8760h1s\n", "policy: line 3: signing.rotation_period: must not exceed 8760h0m0s"},
		{"rotation period over a year in days", iss + "signing:\n  rotation_period: 366d\n", "policy: line 3: signing.rotation_period: must not exceed 8760h0m0s"},
		{"rotation period as a number", iss + "signing:\n  rotation_period: 720\n",
			`policy: line 3: signing.rotation_period: invalid duration "720": write a number with a unit, such as "10m", "30s", "7d" or "0s"`},
		{"rotation period not above the default lead", iss + "signing:\n  rotation_period: 1h\n",
			"policy: line 3: signing.rotation_period: 1h0m0s must be longer than signing.publish_lead (1h0m0s)"},
		{"shortest rotation period needs a shorter lead", iss + "signing:\n  rotation_period: 1m\n",
			"policy: line 3: signing.rotation_period: 1m0s must be longer than signing.publish_lead (1h0m0s)"},

		{"publish lead just under a second", iss + "signing:\n  publish_lead: 999ms\n", "policy: line 3: signing.publish_lead: must be at least 1s"},
		{"zero publish lead", iss + "signing:\n  publish_lead: 0s\n", "policy: line 3: signing.publish_lead: must be at least 1s"},
		{"negative publish lead", iss + "signing:\n  publish_lead: -1h\n", "policy: line 3: signing.publish_lead: must be at least 1s"},
		{"publish lead equal to the period", iss + "signing:\n  rotation_period: 2h\n  publish_lead: 2h\n",
			"policy: line 4: signing.publish_lead: 2h0m0s must be shorter than signing.rotation_period (2h0m0s)"},
		{"publish lead above the default period", iss + "signing:\n  publish_lead: 31d\n",
			"policy: line 3: signing.publish_lead: 744h0m0s must be shorter than signing.rotation_period (720h0m0s)"},

		{"negative max age", iss + "signing:\n  jwks_max_age: -1s\n", "policy: line 3: signing.jwks_max_age: must not be negative"},
		{"max age just over the default lead", iss + "signing:\n  jwks_max_age: 1h0m1s\n", "policy: line 3: signing.jwks_max_age: 1h0m1s exceeds signing.publish_lead (1h0m0s)"},
		{"max age over the lead", iss + "signing:\n  jwks_max_age: 10m\n  publish_lead: 5m\n",
			"policy: line 3: signing.jwks_max_age: 10m0s exceeds signing.publish_lead (5m0s)"},

		{"section as a string", iss + "signing: EdDSA\n", `policy: line 2: signing: expected a mapping, got "EdDSA"`},
		{"section as a list", iss + "signing: [EdDSA]\n", "policy: line 2: signing: expected a mapping, got a list"},
		{"unknown field", iss + "signing:\n  alg: EdDSA\n", `policy: line 3: signing: unknown field "alg" (want one of ` + signingFields + `)`},
		{"field name is case-sensitive", iss + "signing:\n  Algorithm: EdDSA\n", `policy: line 3: signing: unknown field "Algorithm" (want one of ` + signingFields + `)`},
		{"key rule in the signing section", iss + "signing:\n  max_lifetime: 1d\n", `policy: line 3: signing: unknown field "max_lifetime" (want one of ` + signingFields + `)`},
		{"duplicate field", iss + "signing:\n  algorithm: EdDSA\n  algorithm: RS256\n", "policy: line 4: signing.algorithm: duplicate key (first at line 3)"},
		{"anchor", iss + "signing:\n  rotation_period: &p 1h\n", "policy: line 3: signing.rotation_period: " + errAlias.Error()},

		{"every field wrong, in line order", iss + "signing:\n  jwks_max_age: -1s\n  publish_lead: 0s\n  rotation_period: 0s\n  algorithm: rs256\n",
			"policy: line 3: signing.jwks_max_age: must not be negative\n" +
				"policy: line 4: signing.publish_lead: must be at least 1s\n" +
				"policy: line 5: signing.rotation_period: must be at least 1m0s\n" +
				`policy: line 6: signing.algorithm: unknown algorithm "rs256" ` + algs},
		{"invalid period hides the lead relation", iss + "signing:\n  rotation_period: 8761h\n  publish_lead: 9000h\n",
			"policy: line 3: signing.rotation_period: must not exceed 8760h0m0s"},
		{"invalid lead hides the max age relation", iss + "signing:\n  publish_lead: 0s\n  jwks_max_age: 1m\n",
			"policy: line 3: signing.publish_lead: must be at least 1s"},
		{"lead and max age relations are both reported", iss + "signing:\n  rotation_period: 1h\n  publish_lead: 1h\n  jwks_max_age: 2h\n",
			"policy: line 4: signing.publish_lead: 1h0m0s must be shorter than signing.rotation_period (1h0m0s)\n" +
				"policy: line 5: signing.jwks_max_age: 2h0m0s exceeds signing.publish_lead (1h0m0s)"},
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
