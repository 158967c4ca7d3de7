package alert

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestParseKind(t *testing.T) {
	for _, k := range Kinds {
		t.Run(string(k), func(t *testing.T) {
			got, err := ParseKind(string(k))
			if err != nil || got != k {
				t.Fatalf("ParseKind(%q) = %q, %v", k, got, err)
			}
		})
	}
	for _, s := range []string{"", "NEW_IDENTITY", "new_identity ", "alert", strings.Repeat("x", 500)} {
		t.Run("reject "+s[:min(len(s), 20)], func(t *testing.T) {
			got, err := ParseKind(s)
			if !errors.Is(err, ErrUnknownKind) || got != "" {
				t.Fatalf("ParseKind(%q) = %q, %v; want ErrUnknownKind", s, got, err)
			}
			if len(err.Error()) > 120 {
				t.Fatalf("error is %d bytes long", len(err.Error()))
			}
		})
	}
	if len(Kinds) != 6 {
		t.Fatalf("len(Kinds) = %d, want 6", len(Kinds))
	}
}

func TestNewDetectorDefaults(t *testing.T) {
	d := mustDetector(t, Config{})
	want := Config{
		RateSpikeFactor:  10,
		RateSpikeMin:     60,
		BaselineMinutes:  10,
		ScopeProbeCount:  5,
		ScopeProbeWindow: 10 * time.Minute,
		InvalidKeyCount:  20,
		InvalidKeyWindow: time.Minute,
		Cooldown:         15 * time.Minute,
		MaxTracked:       100_000,
		MaxKnownPerKey:   32,
	}
	if d.cfg != want {
		t.Fatalf("defaults = %+v, want %+v", d.cfg, want)
	}
	set := Config{RateSpikeFactor: 3, RateSpikeMin: 7, BaselineMinutes: 2, ScopeProbeCount: 3,
		ScopeProbeWindow: time.Second, InvalidKeyCount: 4, InvalidKeyWindow: 2 * time.Second,
		Cooldown: time.Hour, MaxTracked: 9, MaxKnownPerKey: 1}
	if got := mustDetector(t, set).cfg; got != set {
		t.Fatalf("explicit config changed: %+v, want %+v", got, set)
	}
}

func TestNewDetectorRejects(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
	}{
		{"NaN factor", Config{RateSpikeFactor: math.NaN()}},
		{"infinite factor", Config{RateSpikeFactor: math.Inf(1)}},
		{"factor below one", Config{RateSpikeFactor: 0.5}},
		{"negative factor", Config{RateSpikeFactor: -2}},
		{"negative min", Config{RateSpikeMin: -1}},
		{"negative baseline", Config{BaselineMinutes: -1}},
		{"negative scope count", Config{ScopeProbeCount: -1}},
		{"negative invalid count", Config{InvalidKeyCount: -1}},
		{"negative max tracked", Config{MaxTracked: -1}},
		{"negative max known", Config{MaxKnownPerKey: -1}},
		{"negative scope window", Config{ScopeProbeWindow: -time.Second}},
		{"negative invalid window", Config{InvalidKeyWindow: -time.Second}},
		{"negative cooldown", Config{Cooldown: -time.Second}},
		{"sub-millisecond window", Config{InvalidKeyWindow: time.Microsecond}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewDetector(tc.cfg)
			if !errors.Is(err, ErrInvalidConfig) || d != nil {
				t.Fatalf("NewDetector = %v, %v; want ErrInvalidConfig", d, err)
			}
		})
	}
}
