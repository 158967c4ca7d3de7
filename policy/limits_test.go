package policy

import (
	"errors"
	"testing"
)

// limitFields lists the fields of the limits section, in order.
const limitFields = "global, failed_auth, per_caller"

func TestDefaultLimitRules(t *testing.T) {
	want := LimitRules{
		Global:     RateLimit{PerSecond: 50000, Burst: 50000},
		FailedAuth: RateLimit{PerSecond: 5, Burst: 50},
		PerCaller:  RateLimit{PerSecond: 5000, Burst: 10000},
	}
	if got := DefaultLimitRules(); got != want {
		t.Fatalf("DefaultLimitRules = %+v, want %+v", got, want)
	}
}

func TestParseLimits(t *testing.T) {
	const iss = "issuer: https://latchkey.example\n"
	with := func(mod func(*LimitRules)) LimitRules {
		l := DefaultLimitRules()
		mod(&l)
		return l
	}
	tests := []struct {
		name string
		yaml string
		want LimitRules
	}{
		{"absent", iss, DefaultLimitRules()},
		{"null section", iss + "limits: ~\n", DefaultLimitRules()},
		{"empty section", iss + "limits: {}\n", DefaultLimitRules()},
		{"null and empty limits take the defaults", iss + "limits:\n  global: ~\n  failed_auth: {}\n  per_caller: {per_second: ~, burst: ~}\n", DefaultLimitRules()},
		{"every field", iss + "limits:\n  global: {per_second: 100, burst: 200}\n  failed_auth:\n    per_second: 0.5\n    burst: 3\n  per_caller: {per_second: 7, burst: 8}\n",
			LimitRules{
				Global:     RateLimit{PerSecond: 100, Burst: 200},
				FailedAuth: RateLimit{PerSecond: 0.5, Burst: 3},
				PerCaller:  RateLimit{PerSecond: 7, Burst: 8},
			}},
		{"rate alone keeps the default burst", iss + "limits:\n  failed_auth: {per_second: 1}\n",
			with(func(l *LimitRules) { l.FailedAuth.PerSecond = 1 })},
		{"burst alone keeps the default rate", iss + "limits:\n  global: {burst: 7}\n",
			with(func(l *LimitRules) { l.Global.Burst = 7 })},
		{"upper bounds are inclusive", iss + "limits:\n  global: {per_second: 1e6, burst: 1000000}\n",
			with(func(l *LimitRules) { l.Global = RateLimit{PerSecond: 1e6, Burst: 1e6} })},
		{"lower bounds are inclusive", iss + "limits:\n  per_caller: {per_second: 0.001, burst: 1}\n",
			with(func(l *LimitRules) { l.PerCaller = RateLimit{PerSecond: 0.001, Burst: 1} })},
		{"limits do not touch the key default", iss + "keys:\n  default_rate_limit: {per_second: 1, burst: 2}\nlimits:\n  per_caller: {per_second: 3}\n",
			with(func(l *LimitRules) { l.PerCaller.PerSecond = 3 })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if p.Limits != tt.want {
				t.Errorf("Limits = %+v, want %+v", p.Limits, tt.want)
			}
		})
	}
}

func TestParseLimitsErrors(t *testing.T) {
	const iss = "issuer: https://latchkey.example\n"
	const rate = "must be greater than 0 and at most 1000000"
	const burst = "must be between 1 and 1000000"
	tests := []struct {
		name string
		yaml string
		path string // of the single FieldError; empty when there are several
		line int
		want string
	}{
		{"zero global rate", iss + "limits:\n  global: {per_second: 0}\n", "limits.global.per_second", 3,
			"policy: line 3: limits.global.per_second: " + rate},
		{"negative failed auth rate", iss + "limits:\n  failed_auth:\n    per_second: -1\n", "limits.failed_auth.per_second", 4,
			"policy: line 4: limits.failed_auth.per_second: " + rate},
		{"per caller rate too high", iss + "limits:\n  per_caller:\n    per_second: 1000000.5\n", "limits.per_caller.per_second", 4,
			"policy: line 4: limits.per_caller.per_second: " + rate},
		{"infinite rate", iss + "limits:\n  global:\n    per_second: .inf\n", "limits.global.per_second", 4,
			"policy: line 4: limits.global.per_second: " + rate},
		{"NaN rate", iss + "limits:\n  global:\n    per_second: .nan\n", "limits.global.per_second", 4,
			"policy: line 4: limits.global.per_second: " + rate},
		{"rate as a string", iss + "limits:\n  global:\n    per_second: '10'\n", "limits.global.per_second", 4,
			`policy: line 4: limits.global.per_second: expected a number, got "10"`},
		{"zero global burst", iss + "limits:\n  global:\n    burst: 0\n", "limits.global.burst", 4,
			"policy: line 4: limits.global.burst: " + burst},
		{"negative failed auth burst", iss + "limits:\n  failed_auth:\n    burst: -5\n", "limits.failed_auth.burst", 4,
			"policy: line 4: limits.failed_auth.burst: " + burst},
		{"per caller burst too high", iss + "limits:\n  per_caller:\n    burst: 1000001\n", "limits.per_caller.burst", 4,
			"policy: line 4: limits.per_caller.burst: " + burst},
		{"fractional burst", iss + "limits:\n  per_caller:\n    burst: 1.5\n", "limits.per_caller.burst", 4,
			`policy: line 4: limits.per_caller.burst: expected an integer, got "1.5"`},
		{"limit as a number", iss + "limits:\n  global: 10\n", "limits.global", 3,
			`policy: line 3: limits.global: expected a mapping, got "10"`},
		{"section as a list", iss + "limits: [1]\n", "limits", 2,
			"policy: line 2: limits: expected a mapping, got a list"},
		{"unknown field in the section", iss + "limits:\n  global: {burst: 1}\n  exchange: {burst: 1}\n", "limits", 4,
			`policy: line 4: limits: unknown field "exchange" (want one of ` + limitFields + `)`},
		{"unknown field in a limit", iss + "limits:\n  failed_auth:\n    rate: 1\n", "limits.failed_auth", 4,
			`policy: line 4: limits.failed_auth: unknown field "rate" (want one of per_second, burst)`},
		{"duplicate limit", iss + "limits:\n  global: {burst: 1}\n  global: {burst: 2}\n", "limits.global", 4,
			"policy: line 4: limits.global: duplicate key (first at line 3)"},
		{"every limit wrong, in line order", iss + "limits:\n  per_caller: {per_second: 0, burst: 0}\n  global:\n    burst: 0\n  failed_auth:\n    per_second: -1\n", "", 0,
			"policy: line 3: limits.per_caller.per_second: " + rate + "\n" +
				"policy: line 3: limits.per_caller.burst: " + burst + "\n" +
				"policy: line 5: limits.global.burst: " + burst + "\n" +
				"policy: line 7: limits.failed_auth.per_second: " + rate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkParseError(t, tt.yaml, tt.path, tt.line, tt.want)
		})
	}
}

// checkParseError asserts that Parse fails with exactly want and, when path
// is set, that the error is a single FieldError at path and line.
func checkParseError(t *testing.T, yaml, path string, line int, want string) {
	t.Helper()
	p, err := Parse([]byte(yaml))
	if err == nil {
		t.Fatalf("Parse succeeded: %+v", p)
	}
	if err.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", err, want)
	}
	if !errors.Is(err, ErrInvalidPolicy) {
		t.Errorf("errors.Is(err, ErrInvalidPolicy) = false")
	}
	if path == "" {
		return
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("errors.As(err, *FieldError) = false for %T", err)
	}
	if fe.Path != path || fe.Line != line {
		t.Errorf("FieldError at %q line %d, want %q line %d", fe.Path, fe.Line, path, line)
	}
}
