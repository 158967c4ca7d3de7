package policy

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// alertFields lists the fields of the alerts section, in order.
const alertFields = "quarantine, rate_spike_factor, rate_spike_min, baseline_minutes, scope_probe_count, scope_probe_window, invalid_key_count, invalid_key_window, cooldown"

func TestDefaultAlertRules(t *testing.T) {
	want := AlertRules{
		Quarantine:       []string{},
		RateSpikeFactor:  10,
		RateSpikeMin:     60,
		BaselineMinutes:  10,
		ScopeProbeCount:  5,
		ScopeProbeWindow: 10 * time.Minute,
		InvalidKeyCount:  20,
		InvalidKeyWindow: time.Minute,
		Cooldown:         15 * time.Minute,
	}
	if got := DefaultAlertRules(); !reflect.DeepEqual(got, want) {
		t.Fatalf("DefaultAlertRules = %+v, want %+v", got, want)
	}
	// Each call must return its own list, so one policy cannot change another's.
	a := DefaultAlertRules()
	a.Quarantine = append(a.Quarantine, "changed")
	if got := DefaultAlertRules().Quarantine; len(got) != 0 {
		t.Fatalf("DefaultAlertRules().Quarantine = %q after changing an earlier result", got)
	}
}

func TestAlertKinds(t *testing.T) {
	want := []string{"new_identity", "new_network", "rate_spike", "scope_probe", "invalid_key_burst", "flagged_key_use"}
	if !slices.Equal(AlertKinds, want) {
		t.Fatalf("AlertKinds = %q, want %q", AlertKinds, want)
	}
	if got := strings.Join(AlertKinds, ", "); got != alertKindList {
		t.Errorf("alertKindList = %q, want %q", alertKindList, got)
	}
	for _, kind := range AlertKinds {
		if !validAlertKind(kind) {
			t.Errorf("validAlertKind(%q) = false", kind)
		}
	}
	for _, kind := range []string{"", "Rate_Spike", "rate_spike ", "rate-spike", "all"} {
		if validAlertKind(kind) {
			t.Errorf("validAlertKind(%q) = true", kind)
		}
	}
}

func TestParseAlerts(t *testing.T) {
	const iss = "issuer: https://latchkey.example\n"
	with := func(mod func(*AlertRules)) AlertRules {
		a := DefaultAlertRules()
		mod(&a)
		return a
	}
	tests := []struct {
		name string
		yaml string
		want AlertRules
	}{
		{"absent", iss, DefaultAlertRules()},
		{"null section", iss + "alerts: ~\n", DefaultAlertRules()},
		{"empty section", iss + "alerts: {}\n", DefaultAlertRules()},
		{"null fields take the defaults", iss + "alerts:\n  quarantine: ~\n  rate_spike_factor: ~\n  rate_spike_min: ~\n  baseline_minutes: ~\n" +
			"  scope_probe_count: ~\n  scope_probe_window: ~\n  invalid_key_count: ~\n  invalid_key_window: ~\n  cooldown: ~\n", DefaultAlertRules()},
		{"every field", iss + `alerts:
  quarantine:
    - rate_spike
    - new_identity
  rate_spike_factor: 2.5
  rate_spike_min: 100
  baseline_minutes: 30
  scope_probe_count: 3
  scope_probe_window: 1h
  invalid_key_count: 50
  invalid_key_window: 5m
  cooldown: 1d
`, AlertRules{
			Quarantine:       []string{"rate_spike", "new_identity"},
			RateSpikeFactor:  2.5,
			RateSpikeMin:     100,
			BaselineMinutes:  30,
			ScopeProbeCount:  3,
			ScopeProbeWindow: time.Hour,
			InvalidKeyCount:  50,
			InvalidKeyWindow: 5 * time.Minute,
			Cooldown:         24 * time.Hour,
		}},
		{"empty quarantine disables nothing", iss + "alerts:\n  quarantine: []\n",
			with(func(a *AlertRules) { a.Quarantine = []string{} })},
		{"every kind that can quarantine", iss + "alerts:\n  quarantine: [flagged_key_use, scope_probe, rate_spike, new_network, new_identity]\n",
			with(func(a *AlertRules) {
				a.Quarantine = []string{"flagged_key_use", "scope_probe", "rate_spike", "new_network", "new_identity"}
			})},
		{"integer factor", iss + "alerts:\n  rate_spike_factor: 3\n", with(func(a *AlertRules) { a.RateSpikeFactor = 3 })},
		{"factor just above 1", iss + "alerts:\n  rate_spike_factor: 1.001\n", with(func(a *AlertRules) { a.RateSpikeFactor = 1.001 })},
		{"lower bounds are inclusive", iss + "alerts:\n  rate_spike_min: 1\n  baseline_minutes: 1\n  scope_probe_count: 2\n" +
			"  scope_probe_window: 1ns\n  invalid_key_count: 2\n  invalid_key_window: 1s\n  cooldown: 0s\n",
			with(func(a *AlertRules) {
				a.RateSpikeMin, a.BaselineMinutes, a.ScopeProbeCount, a.InvalidKeyCount = 1, 1, 2, 2
				a.ScopeProbeWindow, a.InvalidKeyWindow, a.Cooldown = time.Nanosecond, time.Second, 0
			})},
		{"upper bounds are inclusive", iss + "alerts:\n  baseline_minutes: 1440\n  scope_probe_window: 24h\n  invalid_key_window: 1d\n  cooldown: 7d\n",
			with(func(a *AlertRules) {
				a.BaselineMinutes, a.ScopeProbeWindow, a.InvalidKeyWindow, a.Cooldown = 1440, 24*time.Hour, 24*time.Hour, 7*24*time.Hour
			})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(p.Alerts, tt.want) {
				t.Errorf("Alerts =\n%+v\nwant\n%+v", p.Alerts, tt.want)
			}
		})
	}
}

func TestParseAlertsErrors(t *testing.T) {
	const iss = "issuer: https://latchkey.example\n"
	const kinds = "(want one of new_identity, new_network, rate_spike, scope_probe, invalid_key_burst, flagged_key_use)"
	const noKey = "invalid_key_burst cannot quarantine: it is raised for unknown or wrong root keys, so there is no key to disable"
	const window = "must be greater than 0s"
	tests := []struct {
		name string
		yaml string
		path string // of the single FieldError; empty when there are several
		line int
		want string
	}{
		{"unknown kind", iss + "alerts:\n  quarantine: [flagged_key_use, leaked_key]\n", "alerts.quarantine[1]", 3,
			`policy: line 3: alerts.quarantine[1]: unknown alert kind "leaked_key" ` + kinds},
		{"kind in another case", iss + "alerts:\n  quarantine:\n    - Rate_Spike\n", "alerts.quarantine[0]", 4,
			`policy: line 4: alerts.quarantine[0]: unknown alert kind "Rate_Spike" ` + kinds},
		{"empty kind", iss + "alerts:\n  quarantine:\n    - ''\n", "alerts.quarantine[0]", 4,
			`policy: line 4: alerts.quarantine[0]: unknown alert kind "" ` + kinds},
		{"kind with control characters is quoted", iss + "alerts:\n  quarantine: [\"rate_spike\\nx\"]\n", "alerts.quarantine[0]", 3,
			`policy: line 3: alerts.quarantine[0]: unknown alert kind "rate_spike\nx" ` + kinds},
		{"duplicate kind", iss + "alerts:\n  quarantine:\n    - rate_spike\n    - flagged_key_use\n    - rate_spike\n", "alerts.quarantine[2]", 6,
			`policy: line 6: alerts.quarantine[2]: duplicate alert kind rate_spike (also alerts.quarantine[0])`},
		{"invalid key burst cannot quarantine", iss + "alerts:\n  quarantine:\n    - flagged_key_use\n    - invalid_key_burst\n", "alerts.quarantine[1]", 5,
			"policy: line 5: alerts.quarantine[1]: " + noKey},
		{"null list item", iss + "alerts:\n  quarantine:\n    - flagged_key_use\n    -\n", "alerts.quarantine[1]", 5,
			"policy: line 5: alerts.quarantine[1]: empty list item"},
		{"quarantine as a string", iss + "alerts:\n  quarantine: flagged_key_use\n", "alerts.quarantine", 3,
			`policy: line 3: alerts.quarantine: expected a list, got "flagged_key_use"`},
		{"quarantine item as a list", iss + "alerts:\n  quarantine: [[rate_spike]]\n", "alerts.quarantine[0]", 3,
			"policy: line 3: alerts.quarantine[0]: expected a string, got a list"},

		{"factor of 1", iss + "alerts:\n  rate_spike_factor: 1\n", "alerts.rate_spike_factor", 3,
			"policy: line 3: alerts.rate_spike_factor: must be a finite number greater than 1"},
		{"factor below 1", iss + "alerts:\n  rate_spike_factor: 0.5\n", "alerts.rate_spike_factor", 3,
			"policy: line 3: alerts.rate_spike_factor: must be a finite number greater than 1"},
		{"negative factor", iss + "alerts:\n  rate_spike_factor: -10\n", "alerts.rate_spike_factor", 3,
			"policy: line 3: alerts.rate_spike_factor: must be a finite number greater than 1"},
		{"infinite factor", iss + "alerts:\n  rate_spike_factor: .inf\n", "alerts.rate_spike_factor", 3,
			"policy: line 3: alerts.rate_spike_factor: must be a finite number greater than 1"},
		{"NaN factor", iss + "alerts:\n  rate_spike_factor: .nan\n", "alerts.rate_spike_factor", 3,
			"policy: line 3: alerts.rate_spike_factor: must be a finite number greater than 1"},
		{"factor as a string", iss + "alerts:\n  rate_spike_factor: '10'\n", "alerts.rate_spike_factor", 3,
			`policy: line 3: alerts.rate_spike_factor: expected a number, got "10"`},

		{"zero spike minimum", iss + "alerts:\n  rate_spike_min: 0\n", "alerts.rate_spike_min", 3,
			"policy: line 3: alerts.rate_spike_min: must be at least 1"},
		{"fractional spike minimum", iss + "alerts:\n  rate_spike_min: 1.5\n", "alerts.rate_spike_min", 3,
			`policy: line 3: alerts.rate_spike_min: expected an integer, got "1.5"`},
		{"zero baseline", iss + "alerts:\n  baseline_minutes: 0\n", "alerts.baseline_minutes", 3,
			"policy: line 3: alerts.baseline_minutes: must be at least 1"},
		{"baseline over a day", iss + "alerts:\n  baseline_minutes: 1441\n", "alerts.baseline_minutes", 3,
			"policy: line 3: alerts.baseline_minutes: must not exceed 1440"},
		{"baseline as a duration", iss + "alerts:\n  baseline_minutes: 10m\n", "alerts.baseline_minutes", 3,
			`policy: line 3: alerts.baseline_minutes: expected an integer, got "10m"`},
		{"scope probe count of 1", iss + "alerts:\n  scope_probe_count: 1\n", "alerts.scope_probe_count", 3,
			"policy: line 3: alerts.scope_probe_count: must be at least 2"},
		{"invalid key count of 1", iss + "alerts:\n  invalid_key_count: 1\n", "alerts.invalid_key_count", 3,
			"policy: line 3: alerts.invalid_key_count: must be at least 2"},
		{"negative invalid key count", iss + "alerts:\n  invalid_key_count: -20\n", "alerts.invalid_key_count", 3,
			"policy: line 3: alerts.invalid_key_count: must be at least 2"},

		{"zero scope probe window", iss + "alerts:\n  scope_probe_window: 0s\n", "alerts.scope_probe_window", 3,
			"policy: line 3: alerts.scope_probe_window: " + window},
		{"negative scope probe window", iss + "alerts:\n  scope_probe_window: -10m\n", "alerts.scope_probe_window", 3,
			"policy: line 3: alerts.scope_probe_window: " + window},
		{"scope probe window over a day", iss + "alerts:\n  scope_probe_window: 24h0m1s\n", "alerts.scope_probe_window", 3,
			"policy: line 3: alerts.scope_probe_window: must not exceed 24h0m0s"},
		{"scope probe window without a unit", iss + "alerts:\n  scope_probe_window: 600\n", "alerts.scope_probe_window", 3,
			`policy: line 3: alerts.scope_probe_window: invalid duration "600": write a number with a unit, such as "10m", "30s", "7d" or "0s"`},
		{"zero invalid key window", iss + "alerts:\n  invalid_key_window: 0s\n", "alerts.invalid_key_window", 3,
			"policy: line 3: alerts.invalid_key_window: " + window},
		{"invalid key window over a day", iss + "alerts:\n  invalid_key_window: 2d\n", "alerts.invalid_key_window", 3,
			"policy: line 3: alerts.invalid_key_window: must not exceed 24h0m0s"},
		{"negative cooldown", iss + "alerts:\n  cooldown: -1s\n", "alerts.cooldown", 3,
			"policy: line 3: alerts.cooldown: must not be negative"},
		{"cooldown over a week", iss + "alerts:\n  cooldown: 7d1ns\n", "alerts.cooldown", 3,
			"policy: line 3: alerts.cooldown: must not exceed 168h0m0s"},

		{"section as a list", iss + "alerts: [rate_spike]\n", "alerts", 2,
			"policy: line 2: alerts: expected a mapping, got a list"},
		{"unknown field", iss + "alerts:\n  cooldown: 1m\n  disable: [rate_spike]\n", "alerts", 4,
			`policy: line 4: alerts: unknown field "disable" (want one of ` + alertFields + `)`},
		{"field name is case-sensitive", iss + "alerts:\n  Cooldown: 1m\n", "alerts", 3,
			`policy: line 3: alerts: unknown field "Cooldown" (want one of ` + alertFields + `)`},
		{"duplicate field", iss + "alerts:\n  cooldown: 1m\n  cooldown: 2m\n", "alerts.cooldown", 4,
			"policy: line 4: alerts.cooldown: duplicate key (first at line 3)"},
		{"anchor", iss + "alerts:\n  quarantine: &q [rate_spike]\n", "alerts.quarantine", 3,
			"policy: line 3: alerts.quarantine: " + errAlias.Error()},

		{"every field wrong, in line order", iss + `alerts:
  cooldown: 8d
  invalid_key_window: 0s
  invalid_key_count: 0
  scope_probe_window: 25h
  scope_probe_count: 0
  baseline_minutes: 0
  rate_spike_min: 0
  rate_spike_factor: 1
  quarantine: [invalid_key_burst, nope, invalid_key_burst]
`, "", 0,
			"policy: line 3: alerts.cooldown: must not exceed 168h0m0s\n" +
				"policy: line 4: alerts.invalid_key_window: " + window + "\n" +
				"policy: line 5: alerts.invalid_key_count: must be at least 2\n" +
				"policy: line 6: alerts.scope_probe_window: must not exceed 24h0m0s\n" +
				"policy: line 7: alerts.scope_probe_count: must be at least 2\n" +
				"policy: line 8: alerts.baseline_minutes: must be at least 1\n" +
				"policy: line 9: alerts.rate_spike_min: must be at least 1\n" +
				"policy: line 10: alerts.rate_spike_factor: must be a finite number greater than 1\n" +
				"policy: line 11: alerts.quarantine[0]: " + noKey + "\n" +
				`policy: line 11: alerts.quarantine[1]: unknown alert kind "nope" ` + kinds + "\n" +
				"policy: line 11: alerts.quarantine[2]: " + noKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkParseError(t, tt.yaml, tt.path, tt.line, tt.want)
		})
	}
}

func TestQuarantines(t *testing.T) {
	custom := AlertRules{Quarantine: []string{"rate_spike", "scope_probe"}}
	tests := []struct {
		name  string
		rules AlertRules
		kind  string
		want  bool
	}{
		{"default does not quarantine flagged key use", DefaultAlertRules(), "flagged_key_use", false},
		{"default does not quarantine a rate spike", DefaultAlertRules(), "rate_spike", false},
		{"default does not quarantine a new identity", DefaultAlertRules(), "new_identity", false},
		{"default does not quarantine an invalid key burst", DefaultAlertRules(), "invalid_key_burst", false},
		{"listed kind", custom, "scope_probe", true},
		{"unlisted kind", custom, "flagged_key_use", false},
		{"match is exact", custom, "Rate_Spike", false},
		{"empty kind", custom, "", false},
		{"empty list quarantines nothing", AlertRules{Quarantine: []string{}}, "flagged_key_use", false},
		{"zero rules quarantine nothing", AlertRules{}, "flagged_key_use", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.rules.Quarantines(tt.kind); got != tt.want {
				t.Errorf("Quarantines(%q) = %v, want %v", tt.kind, got, tt.want)
			}
		})
	}
}

func TestParseQuarantineFromFile(t *testing.T) {
	const iss = "issuer: https://latchkey.example\n"
	tests := []struct {
		name string
		yaml string
		kind string
		want bool
	}{
		{"absent section quarantines nothing", iss, "flagged_key_use", false},
		{"a listed flagged key use quarantines", iss + "alerts:\n  quarantine: [flagged_key_use]\n", "flagged_key_use", true},
		{"empty list switches quarantine off", iss + "alerts:\n  quarantine: []\n", "flagged_key_use", false},
		{"listed kind", iss + "alerts:\n  quarantine: [scope_probe]\n", "scope_probe", true},
		{"a list replaces the default", iss + "alerts:\n  quarantine: [scope_probe]\n", "flagged_key_use", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := p.Alerts.Quarantines(tt.kind); got != tt.want {
				t.Errorf("Quarantines(%q) = %v, want %v", tt.kind, got, tt.want)
			}
		})
	}
}
