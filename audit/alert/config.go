package alert

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrInvalidConfig is returned, wrapped with the offending field, for a
// Config or WebhookConfig that cannot work.
var ErrInvalidConfig = errors.New("alert: invalid configuration")

// Defaults applied by NewDetector to zero-valued Config fields.
const (
	DefaultRateSpikeFactor  = 10.0
	DefaultRateSpikeMin     = 60
	DefaultBaselineMinutes  = 10
	DefaultScopeProbeCount  = 5
	DefaultScopeProbeWindow = 10 * time.Minute
	DefaultInvalidKeyCount  = 20
	DefaultInvalidKeyWindow = time.Minute
	DefaultCooldown         = 15 * time.Minute
	DefaultMaxTracked       = 100_000
	DefaultMaxKnownPerKey   = 32
)

// Config tunes a Detector. Zero fields take the defaults above; negative
// ones are rejected.
type Config struct {
	// RateSpikeFactor is how many times the key's baseline rate the
	// current minute must exceed. At least 1.
	RateSpikeFactor float64
	// RateSpikeMin is the least count in the current minute that can alert,
	// so a quiet key going from 1 to 11 exchanges a minute stays quiet.
	RateSpikeMin int
	// BaselineMinutes is how many minutes of history a key needs before
	// rate_spike can fire; it also sets the span of the moving average.
	BaselineMinutes int
	// ScopeProbeCount scope denials for one key within ScopeProbeWindow
	// raise scope_probe.
	ScopeProbeCount  int
	ScopeProbeWindow time.Duration
	// InvalidKeyCount malformed, unknown or bad-secret denials from one
	// identity within InvalidKeyWindow raise invalid_key_burst.
	InvalidKeyCount  int
	InvalidKeyWindow time.Duration
	// Cooldown keeps the same kind for the same key (or, for
	// invalid_key_burst, identity) from repeating.
	Cooldown time.Duration
	// MaxTracked caps keys plus identities held; the least recently seen
	// are forgotten beyond it.
	MaxTracked int
	// MaxKnownPerKey caps the identities, and separately the networks,
	// remembered per key.
	MaxKnownPerKey int
}

// withDefaults validates c and returns it with zero fields filled.
func (c Config) withDefaults() (Config, error) {
	if math.IsNaN(c.RateSpikeFactor) || math.IsInf(c.RateSpikeFactor, 0) {
		return c, fmt.Errorf("%w: RateSpikeFactor must be a finite number", ErrInvalidConfig)
	}
	if c.RateSpikeFactor == 0 {
		c.RateSpikeFactor = DefaultRateSpikeFactor
	}
	if c.RateSpikeFactor < 1 {
		return c, fmt.Errorf("%w: RateSpikeFactor must be at least 1", ErrInvalidConfig)
	}
	ints := []struct {
		name string
		v    *int
		def  int
	}{
		{"RateSpikeMin", &c.RateSpikeMin, DefaultRateSpikeMin},
		{"BaselineMinutes", &c.BaselineMinutes, DefaultBaselineMinutes},
		{"ScopeProbeCount", &c.ScopeProbeCount, DefaultScopeProbeCount},
		{"InvalidKeyCount", &c.InvalidKeyCount, DefaultInvalidKeyCount},
		{"MaxTracked", &c.MaxTracked, DefaultMaxTracked},
		{"MaxKnownPerKey", &c.MaxKnownPerKey, DefaultMaxKnownPerKey},
	}
	for _, f := range ints {
		if *f.v < 0 {
			return c, fmt.Errorf("%w: %s must not be negative", ErrInvalidConfig, f.name)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"ScopeProbeWindow", &c.ScopeProbeWindow, DefaultScopeProbeWindow},
		{"InvalidKeyWindow", &c.InvalidKeyWindow, DefaultInvalidKeyWindow},
		{"Cooldown", &c.Cooldown, DefaultCooldown},
	}
	for _, f := range durations {
		if *f.v < 0 {
			return c, fmt.Errorf("%w: %s must not be negative", ErrInvalidConfig, f.name)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
		// Windows and cooldowns are compared in milliseconds.
		if *f.v < time.Millisecond {
			return c, fmt.Errorf("%w: %s must be at least 1ms", ErrInvalidConfig, f.name)
		}
	}
	return c, nil
}
