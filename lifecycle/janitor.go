package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/store"
)

// DefaultJanitorInterval is the sweep period when JanitorConfig sets none.
const DefaultJanitorInterval = time.Minute

// ErrInvalidConfig is wrapped by every configuration error of NewJanitor.
var ErrInvalidConfig = errors.New("lifecycle: invalid configuration")

// errNoChange aborts an UpdateKey whose fresh record needs nothing, so that
// no write happens.
var errNoChange = errors.New("lifecycle: nothing to change")

// JanitorConfig configures a Janitor.
type JanitorConfig struct {
	Keys store.KeyStore
	// Policy returns the current policy; it is called once per sweep, so a
	// reloaded policy takes effect at the next sweep. It may return nil,
	// which switches off every policy rule (expiry and the end of a
	// rotation grace still apply).
	Policy func() *policy.Policy
	// Now defaults to time.Now.
	Now func() time.Time
	// Interval defaults to DefaultJanitorInterval.
	Interval time.Duration
	// PageSize is the ListKeys page size; 0 means store.DefaultPageSize.
	PageSize int
	// Logger defaults to discarding. It receives key IDs, owners and
	// actions, never a record's secret parts.
	Logger *slog.Logger
	// OnDisable, when set, is called after a disable is stored, so that a
	// disable by the janitor ends the key's issued tokens for every verifier,
	// as an admin's DisableKey does. An error stops the sweep.
	OnDisable func(ctx context.Context, keyID string, at time.Time, reason string) error
	// OnChange, when set, is told of every change a sweep stores (action
	// is one of the Action constants), for the audit trail.
	OnChange func(ctx context.Context, keyID, action, reason string)
}

// Janitor applies the lifecycle rules to every root key, once per Sweep.
type Janitor struct {
	keys      store.KeyStore
	policy    func() *policy.Policy
	now       func() time.Time
	interval  time.Duration
	pageSize  int
	log       *slog.Logger
	onDisable func(ctx context.Context, keyID string, at time.Time, reason string) error
	onChange  func(ctx context.Context, keyID, action, reason string)

	// Seams for tests of Run.
	newTicker  func(time.Duration) (<-chan time.Time, func())
	afterSweep func(SweepReport, error)
}

// SweepReport counts the changes one sweep made.
type SweepReport struct {
	Expired, DisabledUnused, DisabledAttestation, RotationFlagged, GraceRetired int
}

// Total is the number of changes in r.
func (r SweepReport) Total() int {
	return r.Expired + r.DisabledUnused + r.DisabledAttestation + r.RotationFlagged + r.GraceRetired
}

// NewJanitor validates cfg and fills its defaults.
func NewJanitor(cfg JanitorConfig) (*Janitor, error) {
	switch {
	case cfg.Keys == nil:
		return nil, fmt.Errorf("%w: no key store", ErrInvalidConfig)
	case cfg.Policy == nil:
		return nil, fmt.Errorf("%w: no policy source", ErrInvalidConfig)
	case cfg.Interval < 0:
		return nil, fmt.Errorf("%w: negative interval", ErrInvalidConfig)
	case cfg.PageSize < 0 || cfg.PageSize > store.MaxPageSize:
		return nil, fmt.Errorf("%w: page size must be between 0 and %d", ErrInvalidConfig, store.MaxPageSize)
	}
	j := &Janitor{
		keys:      cfg.Keys,
		policy:    cfg.Policy,
		now:       cfg.Now,
		interval:  cfg.Interval,
		pageSize:  cfg.PageSize,
		log:       cfg.Logger,
		onDisable: cfg.OnDisable,
		onChange:  cfg.OnChange,
		newTicker: realTicker,
	}
	if j.now == nil {
		j.now = time.Now
	}
	if j.interval == 0 {
		j.interval = DefaultJanitorInterval
	}
	if j.pageSize == 0 {
		j.pageSize = store.DefaultPageSize
	}
	if j.log == nil {
		j.log = slog.New(slog.DiscardHandler)
	}
	return j, nil
}

// Run sweeps at once and then every Interval until ctx ends. A failed
// sweep is logged and retried at the next tick: a store outage must not
// stop the janitor for good.
func (j *Janitor) Run(ctx context.Context) {
	tick, stop := j.newTicker(j.interval)
	defer stop()
	for {
		if ctx.Err() != nil {
			return
		}
		report, err := j.Sweep(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			j.log.ErrorContext(ctx, "key lifecycle sweep failed", "error", err)
		case err == nil && report.Total() > 0:
			j.log.InfoContext(ctx, "key lifecycle sweep",
				"expired", report.Expired,
				"disabled_unused", report.DisabledUnused,
				"disabled_attestation", report.DisabledAttestation,
				"rotation_flagged", report.RotationFlagged,
				"grace_retired", report.GraceRetired)
		}
		if j.afterSweep != nil {
			j.afterSweep(report, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
	}
}

// Sweep makes one pass over every key and applies the rules at one
// instant. The first store error stops it; the report then counts the
// changes already made.
func (j *Janitor) Sweep(ctx context.Context) (SweepReport, error) {
	var report SweepReport
	now := j.now()
	pol := j.policy()
	q := store.KeyQuery{
		PageSize: j.pageSize,
		// The rules read no history, and each key that needs work is read
		// again, whole, by UpdateKey.
		WithoutHistory: true,
		// Filtering inside the scan keeps pages full of keys that need work.
		Match: func(rec store.KeyRecord) bool {
			return !plan(rec, pol.KeyRulesFor(rec.Owner), now).empty()
		},
	}
	for {
		page, err := j.keys.ListKeys(ctx, q)
		if err != nil {
			return report, fmt.Errorf("lifecycle: list keys: %w", err)
		}
		for _, rec := range page.Keys {
			if err := ctx.Err(); err != nil {
				return report, err
			}
			done, err := j.update(ctx, rec.ID, pol, now)
			if err != nil {
				return report, err
			}
			done.count(&report)
		}
		if page.NextPageToken == "" {
			return report, nil
		}
		q.PageToken = page.NextPageToken
	}
}

// update applies the rules to the stored record of id and returns what it
// changed. The rules are evaluated on the record UpdateKey reads, so a
// change made since the listing (an attestation, a revocation, an admin
// re-enabling the key) is seen and kept.
func (j *Janitor) update(ctx context.Context, id string, pol *policy.Policy, now time.Time) (outcome, error) {
	var done outcome
	_, err := j.keys.UpdateKey(ctx, id, func(rec *store.KeyRecord) error {
		// UpdateKey may call fn again after a conflict; only the last call
		// is what was stored.
		done = plan(*rec, pol.KeyRulesFor(rec.Owner), now)
		if done.empty() {
			return errNoChange
		}
		done.apply(rec, now)
		return nil
	})
	switch {
	case errors.Is(err, errNoChange), errors.Is(err, store.ErrNotFound):
		return outcome{}, nil
	case err != nil:
		return outcome{}, fmt.Errorf("lifecycle: update key %q: %w", id, err)
	}
	j.logChanges(ctx, id, done)
	if done.disableReason != "" && j.onDisable != nil {
		if err := j.onDisable(ctx, id, now, done.disableReason); err != nil {
			return done, fmt.Errorf("lifecycle: key %q disabled, but its tokens were not revoked: %w", id, err)
		}
	}
	return done, nil
}

func (j *Janitor) logChanges(ctx context.Context, id string, o outcome) {
	log := func(action, reason string) {
		j.log.InfoContext(ctx, "key lifecycle change", "key_id", id, "action", action, "reason", reason)
		if j.onChange != nil {
			j.onChange(ctx, id, action, reason)
		}
	}
	if o.expire {
		log(ActionExpired, "")
	}
	if o.disableReason != "" {
		log(ActionDisabled, o.disableReason)
	}
	if o.flagRotation {
		log(ActionRotationDue, "")
	}
	if o.retire {
		log(ActionOldSecretRetired, "")
	}
}

func realTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}
