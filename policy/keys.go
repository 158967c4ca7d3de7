package policy

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// fileKeyRules is both the keys section and one owner's override. Every
// field is a pointer so that an override changes only what it names and an
// explicit "0s" (rule off) differs from an absent field (inherit).
type fileKeyRules struct {
	RequireBinding       *bool          `yaml:"require_binding"`
	MaxLifetime          *duration      `yaml:"max_lifetime"`
	RotationPeriod       *duration      `yaml:"rotation_period"`
	UnusedDisableAfter   *duration      `yaml:"unused_disable_after"`
	AttestationPeriod    *duration      `yaml:"attestation_period"`
	DefaultRotationGrace *duration      `yaml:"default_rotation_grace"`
	MaxRotationGrace     *duration      `yaml:"max_rotation_grace"`
	DefaultRateLimit     *fileRateLimit `yaml:"default_rate_limit"`
}

// buildKeyRules merges the keys section over the defaults and each owner's
// override over the result, validating what each one sets.
func buildKeyRules(base fileKeyRules, owners map[string]fileKeyRules, fail func(*FieldError)) (KeyRules, map[string]KeyRules) {
	keys := base.over(DefaultKeyRules())
	base.validate("keys", keys, fail)

	var merged map[string]KeyRules
	for _, name := range sortedKeys(owners) {
		if err := validateOwner(name); err != nil {
			fail(&FieldError{Path: "owners", at: join("owners", name), Err: err})
			continue
		}
		o := owners[name]
		r := o.over(keys)
		o.validate(join("owners", name), r, fail)
		if merged == nil {
			merged = make(map[string]KeyRules, len(owners))
		}
		merged[name] = r
	}
	return keys, merged
}

// over returns base with the fields f sets replaced.
func (f *fileKeyRules) over(base KeyRules) KeyRules {
	r := base
	if f.RequireBinding != nil {
		r.RequireBinding = *f.RequireBinding
	}
	r.MaxLifetime = f.MaxLifetime.get(r.MaxLifetime)
	r.RotationPeriod = f.RotationPeriod.get(r.RotationPeriod)
	r.UnusedDisableAfter = f.UnusedDisableAfter.get(r.UnusedDisableAfter)
	r.AttestationPeriod = f.AttestationPeriod.get(r.AttestationPeriod)
	r.DefaultRotationGrace = f.DefaultRotationGrace.get(r.DefaultRotationGrace)
	r.MaxRotationGrace = f.MaxRotationGrace.get(r.MaxRotationGrace)
	f.DefaultRateLimit.over(&r.DefaultRateLimit)
	return r
}

// validate checks the fields f sets, under path prefix; r is the merged
// result. Only fields f sets are checked, so a bad keys section is reported
// once, not again for every owner that inherits it.
func (f *fileKeyRules) validate(prefix string, r KeyRules, fail func(*FieldError)) {
	add := func(field string, err error) {
		fail(&FieldError{Path: join(prefix, field), Err: err})
	}
	for _, d := range []struct {
		field string
		value *duration
	}{
		{"max_lifetime", f.MaxLifetime},
		{"rotation_period", f.RotationPeriod},
		{"unused_disable_after", f.UnusedDisableAfter},
		{"attestation_period", f.AttestationPeriod},
		{"default_rotation_grace", f.DefaultRotationGrace},
		{"max_rotation_grace", f.MaxRotationGrace},
	} {
		if d.value.get(0) < 0 {
			add(d.field, errors.New("must not be negative"))
		}
	}
	if f.MaxRotationGrace != nil && r.MaxRotationGrace > RotationGraceLimit {
		add("max_rotation_grace", fmt.Errorf("must not exceed %v", RotationGraceLimit))
	}
	graceValid := r.DefaultRotationGrace >= 0 && r.MaxRotationGrace >= 0 && r.MaxRotationGrace <= RotationGraceLimit
	if graceValid && r.DefaultRotationGrace > r.MaxRotationGrace {
		// Blame the field this section sets, naming where the other one
		// comes from: this section, or the keys section it inherits.
		from := func(field string, set bool) string {
			if set {
				return join(prefix, field)
			}
			return join("keys", field)
		}
		switch {
		case f.DefaultRotationGrace != nil:
			add("default_rotation_grace", fmt.Errorf("%v exceeds %s (%v)",
				r.DefaultRotationGrace, from("max_rotation_grace", f.MaxRotationGrace != nil), r.MaxRotationGrace))
		case f.MaxRotationGrace != nil:
			add("max_rotation_grace", fmt.Errorf("%v is less than %s (%v)",
				r.MaxRotationGrace, from("default_rotation_grace", false), r.DefaultRotationGrace))
		}
	}
	f.DefaultRateLimit.validate("default_rate_limit", r.DefaultRateLimit, add)
}

// validateOwner accepts exactly the owner names a key may carry, so that
// every override can apply to some key.
func validateOwner(name string) error {
	switch {
	case name == "":
		return errors.New("owner name must not be empty")
	case len(name) > MaxOwnerLen:
		return fmt.Errorf("owner name %s: longer than %d bytes", quote(name), MaxOwnerLen)
	}
	for i, r := range name {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return fmt.Errorf("owner name %s: control character or invalid UTF-8 at byte %d", quote(name), i)
		}
	}
	return nil
}
