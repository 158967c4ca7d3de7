package signing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchkeyhq/latchkey/issuer"
	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/store"
)

// DefaultInterval is how often Run re-plans the keyring.
const DefaultInterval = 30 * time.Second

// Config is what a Manager needs.
type Config struct {
	Store    store.SigningKeyStore
	Policy   func() *policy.Policy
	Now      func() time.Time
	Interval time.Duration
	Logger   *slog.Logger
	// OnChange, when set, is told of every key whose state changes once
	// the change is stored, for the audit trail.
	OnChange func(kid, alg, state string)
}

// Manager owns the keyring. Its methods are safe for concurrent use.
type Manager struct {
	cfg     Config
	mu      sync.Mutex // serialises changes to entries and the store
	entries []issuer.KeyringEntry
	current atomic.Pointer[issuer.Issuer]
}

// Open loads the keyring from the store, brings it up to date (creating the
// first key on a fresh store) and builds the issuer. A record that does not
// parse stops the start, named, rather than signing with a broken key.
func Open(ctx context.Context, cfg Config) (*Manager, error) {
	if cfg.Store == nil || cfg.Policy == nil {
		return nil, errors.New("signing: store and policy are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	recs, err := cfg.Store.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	m := &Manager{cfg: cfg}
	if m.entries, err = fromRecords(recs, keyringPolicy(cfg.Policy())); err != nil {
		return nil, err
	}
	if err := m.Tick(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Issuer is the current issuer: the active key signs; next, active and
// retired keys verify.
func (m *Manager) Issuer() *issuer.Issuer { return m.current.Load() }

// Entries returns a copy of the keyring.
func (m *Manager) Entries() []issuer.KeyringEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.entries)
}

// Tick applies the rotation schedule at the current time.
func (m *Manager) Tick(ctx context.Context) error {
	return m.change(ctx, func(es []issuer.KeyringEntry, p issuer.KeyringPolicy, now time.Time) ([]issuer.KeyringEntry, error) {
		next, _, err := issuer.Plan(es, p, now, issuer.GenerateSigningKeyAlg)
		return next, err
	})
}

// Rotate starts a rotation now, still honouring the publish lead.
func (m *Manager) Rotate(ctx context.Context) error {
	return m.change(ctx, func(es []issuer.KeyringEntry, p issuer.KeyringPolicy, now time.Time) ([]issuer.KeyringEntry, error) {
		return issuer.RotateNow(es, p, now, issuer.GenerateSigningKeyAlg)
	})
}

// Revoke takes a key out of service at once: its tokens stop verifying.
func (m *Manager) Revoke(ctx context.Context, kid string) error {
	return m.change(ctx, func(es []issuer.KeyringEntry, p issuer.KeyringPolicy, now time.Time) ([]issuer.KeyringEntry, error) {
		return issuer.Revoke(es, kid, p, now, issuer.GenerateSigningKeyAlg)
	})
}

// change computes the new keyring, stores it, and only then publishes it.
func (m *Manager) change(ctx context.Context, plan func([]issuer.KeyringEntry, issuer.KeyringPolicy, time.Time) ([]issuer.KeyringEntry, error)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	pol := m.cfg.Policy()
	next, err := plan(slices.Clone(m.entries), keyringPolicy(pol), m.cfg.Now())
	if err != nil {
		return err
	}
	if err := m.persist(ctx, m.entries, next); err != nil {
		return err
	}
	iss, err := issuer.NewFromKeyring(issuer.Config{
		Issuer: pol.Issuer, Leeway: pol.Tokens.Leeway, MaxTTL: pol.Tokens.MaxTTL, Now: m.cfg.Now,
	}, next)
	if err != nil {
		return err
	}
	for _, e := range changes(m.entries, next) {
		m.cfg.Logger.Info("signing key state", "kid", e.Key.KID(), "alg", e.Key.Alg(), "state", string(e.State))
		if m.cfg.OnChange != nil {
			m.cfg.OnChange(e.Key.KID(), e.Key.Alg(), string(e.State))
		}
	}
	m.entries = next
	m.current.Store(iss)
	return nil
}

// Run re-plans every interval until ctx ends; errors are logged and retried.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.Tick(ctx); err != nil && ctx.Err() == nil {
				m.cfg.Logger.Error("signing keyring update failed", "error", err)
			}
		}
	}
}

func keyringPolicy(p *policy.Policy) issuer.KeyringPolicy {
	return issuer.KeyringPolicy{
		Alg:            p.Signing.Algorithm,
		RotationPeriod: p.Signing.RotationPeriod,
		PublishLead:    p.Signing.PublishLead,
		Retain:         p.Tokens.MaxTTL + p.Tokens.Leeway,
	}
}
