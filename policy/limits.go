package policy

import "fmt"

// LimitRules are the server-wide rate limits, each a token bucket. They sit
// beside the per-key limits: a stolen or misused caller identity must not be
// able to exhaust the service, or guess root keys at line rate.
type LimitRules struct {
	// Global bounds all exchanges together, whoever makes them.
	Global RateLimit
	// FailedAuth bounds failed root-key presentations per caller identity,
	// so that guessing keys is slow even from an identity allowed to exchange.
	FailedAuth RateLimit
	// PerCaller bounds every call except ExchangeToken per caller identity;
	// exchanges are bounded by their key's own limit and by Global.
	PerCaller RateLimit
}

// Defaults of the limits section.
const (
	DefaultGlobalRatePerSecond     = 50_000
	DefaultGlobalRateBurst         = 50_000
	DefaultFailedAuthRatePerSecond = 5
	DefaultFailedAuthRateBurst     = 50
	DefaultPerCallerRatePerSecond  = 5_000
	DefaultPerCallerRateBurst      = 10_000
)

// DefaultLimitRules returns the limits of a policy that sets none.
func DefaultLimitRules() LimitRules {
	return LimitRules{
		Global:     RateLimit{PerSecond: DefaultGlobalRatePerSecond, Burst: DefaultGlobalRateBurst},
		FailedAuth: RateLimit{PerSecond: DefaultFailedAuthRatePerSecond, Burst: DefaultFailedAuthRateBurst},
		PerCaller:  RateLimit{PerSecond: DefaultPerCallerRatePerSecond, Burst: DefaultPerCallerRateBurst},
	}
}

// fileLimits is the limits section. A limit may set one field and inherit
// the default of the other.
type fileLimits struct {
	Global     *fileRateLimit `yaml:"global"`
	FailedAuth *fileRateLimit `yaml:"failed_auth"`
	PerCaller  *fileRateLimit `yaml:"per_caller"`
}

// fileRateLimit is one rate limit in the file, shared by the limits section
// and keys.default_rate_limit so that both accept exactly the same values.
type fileRateLimit struct {
	PerSecond *float64 `yaml:"per_second"`
	Burst     *int     `yaml:"burst"`
}

func buildLimits(f fileLimits, add func(string, error)) LimitRules {
	l := DefaultLimitRules()
	f.Global.over(&l.Global)
	f.FailedAuth.over(&l.FailedAuth)
	f.PerCaller.over(&l.PerCaller)
	f.Global.validate("limits.global", l.Global, add)
	f.FailedAuth.validate("limits.failed_auth", l.FailedAuth, add)
	f.PerCaller.validate("limits.per_caller", l.PerCaller, add)
	return l
}

// over replaces the fields of r that f sets; a nil f sets none.
func (f *fileRateLimit) over(r *RateLimit) {
	if f == nil {
		return
	}
	if f.PerSecond != nil {
		r.PerSecond = *f.PerSecond
	}
	if f.Burst != nil {
		r.Burst = *f.Burst
	}
}

// validate checks the fields f sets, under path prefix; r is the merged
// limit. An inherited field was checked where it was set.
func (f *fileRateLimit) validate(prefix string, r RateLimit, add func(string, error)) {
	if f == nil {
		return
	}
	// Written so that NaN fails too.
	if v := r.PerSecond; f.PerSecond != nil && !(v > 0 && v <= MaxRatePerSecond) {
		add(join(prefix, "per_second"), fmt.Errorf("must be greater than 0 and at most %d", int(MaxRatePerSecond)))
	}
	if v := r.Burst; f.Burst != nil && (v < 1 || v > MaxRateBurst) {
		add(join(prefix, "burst"), fmt.Errorf("must be between 1 and %d", MaxRateBurst))
	}
}
