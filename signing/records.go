package signing

import (
	"context"
	"fmt"

	"github.com/latchkeyhq/latchkey/issuer"
	"github.com/latchkeyhq/latchkey/store"
)

// fromRecords parses stored keys. Records written before keys had states
// are read as: the newest active, the others retired.
func fromRecords(recs []store.SigningKeyRecord, p issuer.KeyringPolicy) ([]issuer.KeyringEntry, error) {
	out := make([]issuer.KeyringEntry, 0, len(recs))
	for i, r := range recs {
		k, err := issuer.ParseSigningKey(r.Private)
		if err != nil {
			return nil, fmt.Errorf("signing key record %q is corrupt: %w", r.KID, err)
		}
		if k.KID() != r.KID || k.Alg() != r.Alg {
			return nil, fmt.Errorf("signing key record %q is corrupt: its key has kid %q and alg %q", r.KID, k.KID(), k.Alg())
		}
		e := issuer.KeyringEntry{Key: k, State: issuer.KeyState(r.State), CreatedAt: r.CreatedAt,
			ActivateAt: r.ActivateAt, ActivatedAt: r.ActivatedAt, RetiredAt: r.RetiredAt, RemoveAt: r.RemoveAt, RevokedAt: r.RevokedAt}
		if e.State == "" {
			e.State, e.ActivatedAt = issuer.KeyActive, r.CreatedAt
			if i < len(recs)-1 {
				e.State, e.RetiredAt = issuer.KeyRetired, recs[i+1].CreatedAt
				e.RemoveAt = e.RetiredAt.Add(p.Retain)
			}
		}
		switch e.State {
		case issuer.KeyNext, issuer.KeyActive, issuer.KeyRetired, issuer.KeyRemoved, issuer.KeyRevoked:
		default:
			return nil, fmt.Errorf("signing key record %q is corrupt: unknown state %q", r.KID, r.State)
		}
		out = append(out, e)
	}
	return out, nil
}

func toRecord(e issuer.KeyringEntry) (store.SigningKeyRecord, error) {
	der, err := e.Key.MarshalPKCS8()
	if err != nil {
		return store.SigningKeyRecord{}, err
	}
	return store.SigningKeyRecord{KID: e.Key.KID(), Alg: e.Key.Alg(), Private: der, CreatedAt: e.CreatedAt,
		State: string(e.State), ActivateAt: e.ActivateAt, ActivatedAt: e.ActivatedAt, RetiredAt: e.RetiredAt,
		RemoveAt: e.RemoveAt, RevokedAt: e.RevokedAt}, nil
}

// persist writes what differs between old and next: new keys first (so a key
// is stored before anything can use it), then state changes, then deletions.
func (m *Manager) persist(ctx context.Context, old, next []issuer.KeyringEntry) error {
	prev := map[string]issuer.KeyringEntry{}
	for _, e := range old {
		prev[e.Key.KID()] = e
	}
	keep := map[string]bool{}
	for _, e := range next {
		kid := e.Key.KID()
		keep[kid] = true
		p, existed := prev[kid]
		switch {
		case !existed:
			rec, err := toRecord(e)
			if err != nil {
				return err
			}
			if err := m.cfg.Store.PutSigningKey(ctx, rec); err != nil {
				return fmt.Errorf("store signing key %s: %w", kid, err)
			}
		case !sameState(p, e):
			_, err := m.cfg.Store.UpdateSigningKey(ctx, kid, func(r *store.SigningKeyRecord) error {
				r.State, r.ActivateAt, r.ActivatedAt = string(e.State), e.ActivateAt, e.ActivatedAt
				r.RetiredAt, r.RemoveAt, r.RevokedAt = e.RetiredAt, e.RemoveAt, e.RevokedAt
				return nil
			})
			if err != nil {
				return fmt.Errorf("update signing key %s: %w", kid, err)
			}
		}
	}
	for kid := range prev {
		if !keep[kid] {
			if err := m.cfg.Store.DeleteSigningKey(ctx, kid); err != nil {
				return fmt.Errorf("delete signing key %s: %w", kid, err)
			}
		}
	}
	return nil
}

func sameState(a, b issuer.KeyringEntry) bool {
	return a.State == b.State && a.ActivateAt.Equal(b.ActivateAt) && a.ActivatedAt.Equal(b.ActivatedAt) &&
		a.RetiredAt.Equal(b.RetiredAt) && a.RemoveAt.Equal(b.RemoveAt) && a.RevokedAt.Equal(b.RevokedAt)
}

// changes lists the entries that are new or changed state.
func changes(old, next []issuer.KeyringEntry) []issuer.KeyringEntry {
	prev := map[string]issuer.KeyState{}
	for _, e := range old {
		prev[e.Key.KID()] = e.State
	}
	var out []issuer.KeyringEntry
	for _, e := range next {
		if s, ok := prev[e.Key.KID()]; !ok || s != e.State {
			out = append(out, e)
		}
	}
	return out
}
