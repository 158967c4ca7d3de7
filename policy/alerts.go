package policy

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// The kinds of alert the server raises.
const (
	// AlertNewIdentity: a key presented by an mTLS identity never seen with it.
	AlertNewIdentity = "new_identity"
	// AlertNewNetwork: a key presented from a network never seen with it.
	AlertNewNetwork = "new_network"
	// AlertRateSpike: a key's exchanges in one minute far above its baseline.
	AlertRateSpike = "rate_spike"
	// AlertScopeProbe: a key repeatedly asking for scopes it does not hold.
	AlertScopeProbe = "scope_probe"
	// AlertInvalidKeyBurst: many unknown or wrong root keys from one caller.
	AlertInvalidKeyBurst = "invalid_key_burst"
	// AlertFlaggedKeyUse: a key already flagged (for example found leaked)
	// presented again.
	AlertFlaggedKeyUse = "flagged_key_use"
)

// AlertKinds lists every alert kind. Treat it as read-only; validation does
// not depend on it, so changing it changes nothing but what callers see.
var AlertKinds = []string{
	AlertNewIdentity, AlertNewNetwork, AlertRateSpike,
	AlertScopeProbe, AlertInvalidKeyBurst, AlertFlaggedKeyUse,
}

// validAlertKind reports whether kind is one of the constants above.
func validAlertKind(kind string) bool {
	switch kind {
	case AlertNewIdentity, AlertNewNetwork, AlertRateSpike, AlertScopeProbe, AlertInvalidKeyBurst, AlertFlaggedKeyUse:
		return true
	}
	return false
}

// alertKindList is the list of valid kinds as error messages name it.
const alertKindList = "new_identity, new_network, rate_spike, scope_probe, invalid_key_burst, flagged_key_use"

// AlertRules tune the detectors that raise alerts and say which alerts
// disable the key they concern.
type AlertRules struct {
	// Quarantine lists the alert kinds that disable the key they concern.
	// It never holds AlertInvalidKeyBurst, which concerns no known key.
	Quarantine []string
	// A rate spike is RateSpikeFactor times the key's average exchanges per
	// minute over the last BaselineMinutes, and at least RateSpikeMin
	// exchanges in one minute, so that a quiet key is not flagged for a
	// handful of calls.
	RateSpikeFactor float64
	RateSpikeMin    int
	BaselineMinutes int
	// A scope probe is ScopeProbeCount refused scope requests with one key
	// within ScopeProbeWindow.
	ScopeProbeCount  int
	ScopeProbeWindow time.Duration
	// An invalid key burst is InvalidKeyCount failed root-key presentations
	// by one caller within InvalidKeyWindow.
	InvalidKeyCount  int
	InvalidKeyWindow time.Duration
	// Cooldown is how long after an alert the same alert for the same
	// subject is not raised again; 0 raises every occurrence.
	Cooldown time.Duration
}

// Quarantines reports whether an alert of kind disables the key it concerns.
func (a AlertRules) Quarantines(kind string) bool {
	return slices.Contains(a.Quarantine, kind)
}

// Defaults and bounds of the alert rules.
const (
	DefaultRateSpikeFactor  = 10
	DefaultRateSpikeMin     = 60
	DefaultBaselineMinutes  = 10
	DefaultScopeProbeCount  = 5
	DefaultScopeProbeWindow = 10 * time.Minute
	DefaultInvalidKeyCount  = 20
	DefaultInvalidKeyWindow = time.Minute
	DefaultAlertCooldown    = 15 * time.Minute
	// MaxBaselineMinutes is a day: a detector keeps one counter per minute
	// of baseline for every key, so the size must stay bounded.
	MaxBaselineMinutes = 24 * 60
	// MaxAlertWindow bounds the detection windows: a detector keeps every
	// event of its window in memory.
	MaxAlertWindow = 24 * time.Hour
	// MaxAlertCooldown bounds the cooldown: beyond a week a repeated attack
	// would go unreported for longer than anyone remembers the first alert.
	MaxAlertCooldown = 7 * day
)

// DefaultAlertRules returns the alert rules of a policy that sets none.
// Nothing quarantines by default: every signal is also caused by ordinary
// operations (a key whose rotation is due is flagged, a new replica is a
// new identity), so disabling keys on an alert is the operator's choice.
func DefaultAlertRules() AlertRules {
	return AlertRules{
		Quarantine:       []string{},
		RateSpikeFactor:  DefaultRateSpikeFactor,
		RateSpikeMin:     DefaultRateSpikeMin,
		BaselineMinutes:  DefaultBaselineMinutes,
		ScopeProbeCount:  DefaultScopeProbeCount,
		ScopeProbeWindow: DefaultScopeProbeWindow,
		InvalidKeyCount:  DefaultInvalidKeyCount,
		InvalidKeyWindow: DefaultInvalidKeyWindow,
		Cooldown:         DefaultAlertCooldown,
	}
}

// fileAlerts is the alerts section. Quarantine is a pointer so that an
// explicit empty list (quarantine nothing) differs from an absent one.
type fileAlerts struct {
	Quarantine       *[]string `yaml:"quarantine"`
	RateSpikeFactor  *float64  `yaml:"rate_spike_factor"`
	RateSpikeMin     *int      `yaml:"rate_spike_min"`
	BaselineMinutes  *int      `yaml:"baseline_minutes"`
	ScopeProbeCount  *int      `yaml:"scope_probe_count"`
	ScopeProbeWindow *duration `yaml:"scope_probe_window"`
	InvalidKeyCount  *int      `yaml:"invalid_key_count"`
	InvalidKeyWindow *duration `yaml:"invalid_key_window"`
	Cooldown         *duration `yaml:"cooldown"`
}

// buildAlerts fills defaults and validates the alerts section.
func buildAlerts(f fileAlerts, add func(string, error)) AlertRules {
	a := DefaultAlertRules()
	if f.Quarantine != nil {
		a.Quarantine = buildQuarantine(*f.Quarantine, add)
	}
	if f.RateSpikeFactor != nil {
		a.RateSpikeFactor = *f.RateSpikeFactor
	}
	a.RateSpikeMin = intOr(f.RateSpikeMin, a.RateSpikeMin)
	a.BaselineMinutes = intOr(f.BaselineMinutes, a.BaselineMinutes)
	a.ScopeProbeCount = intOr(f.ScopeProbeCount, a.ScopeProbeCount)
	a.ScopeProbeWindow = f.ScopeProbeWindow.get(a.ScopeProbeWindow)
	a.InvalidKeyCount = intOr(f.InvalidKeyCount, a.InvalidKeyCount)
	a.InvalidKeyWindow = f.InvalidKeyWindow.get(a.InvalidKeyWindow)
	a.Cooldown = f.Cooldown.get(a.Cooldown)

	// Written so that NaN fails too; an infinite factor would silently
	// switch the detector off.
	if v := a.RateSpikeFactor; !(v > 1) || math.IsInf(v, 1) {
		add("alerts.rate_spike_factor", errors.New("must be a finite number greater than 1"))
	}
	if a.RateSpikeMin < 1 {
		add("alerts.rate_spike_min", errors.New("must be at least 1"))
	}
	switch {
	case a.BaselineMinutes < 1:
		add("alerts.baseline_minutes", errors.New("must be at least 1"))
	case a.BaselineMinutes > MaxBaselineMinutes:
		add("alerts.baseline_minutes", fmt.Errorf("must not exceed %d", MaxBaselineMinutes))
	}
	if a.ScopeProbeCount < 2 {
		add("alerts.scope_probe_count", errors.New("must be at least 2"))
	}
	if a.InvalidKeyCount < 2 {
		add("alerts.invalid_key_count", errors.New("must be at least 2"))
	}
	checkWindow("alerts.scope_probe_window", a.ScopeProbeWindow, add)
	checkWindow("alerts.invalid_key_window", a.InvalidKeyWindow, add)
	switch {
	case a.Cooldown < 0:
		add("alerts.cooldown", errors.New("must not be negative"))
	case a.Cooldown > MaxAlertCooldown:
		add("alerts.cooldown", fmt.Errorf("must not exceed %v", MaxAlertCooldown))
	}
	return a
}

// buildQuarantine checks every listed kind and returns a copy of the list.
func buildQuarantine(kinds []string, add func(string, error)) []string {
	out := make([]string, 0, len(kinds))
	seen := map[string]int{}
	for i, kind := range kinds {
		path := fmt.Sprintf("alerts.quarantine[%d]", i)
		first, dup := seen[kind]
		switch {
		case !validAlertKind(kind):
			add(path, fmt.Errorf("unknown alert kind %s (want one of %s)", quote(kind), alertKindList))
		case dup:
			add(path, fmt.Errorf("duplicate alert kind %s (also alerts.quarantine[%d])", kind, first))
		case kind == AlertInvalidKeyBurst:
			add(path, errors.New("invalid_key_burst cannot quarantine: it is raised for unknown or wrong root keys, so there is no key to disable"))
		default:
			seen[kind] = i
			out = append(out, kind)
		}
	}
	return out
}

func checkWindow(path string, d time.Duration, add func(string, error)) {
	switch {
	case d <= 0:
		add(path, errors.New("must be greater than 0s"))
	case d > MaxAlertWindow:
		add(path, fmt.Errorf("must not exceed %v", MaxAlertWindow))
	}
}

// intOr returns *p, or def when the field was absent.
func intOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}
