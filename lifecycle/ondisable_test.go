package lifecycle

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/store"
)

// A disable by the janitor is reported once, after it is stored, with the
// key, the time and the reason; a failing report stops the sweep.
func TestSweepReportsDisables(t *testing.T) {
	pol := &policy.Policy{Keys: rules(func(r *policy.KeyRules) { r.UnusedDisableAfter = day })}
	s := openStore(t)
	create(t, s, newKey("idle"))
	create(t, s, newKey("busy", func(r *store.KeyRecord) { r.LastUsedAt = t0.Add(2 * day) }))
	now := t0.Add(2 * day)

	type call struct {
		id, reason string
		at         time.Time
		state      store.KeyState
	}
	var calls []call
	j, err := NewJanitor(JanitorConfig{
		Keys: s, Policy: func() *policy.Policy { return pol }, Now: func() time.Time { return now },
		OnDisable: func(ctx context.Context, id string, at time.Time, reason string) error {
			calls = append(calls, call{id, reason, at, get(t, s, id).State})
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	sweep(t, j)
	sweep(t, j)
	if len(calls) != 1 || calls[0] != (call{"idle", ReasonUnused, now, store.KeyStateDisabled}) {
		t.Fatalf("OnDisable calls = %+v, want one for idle, after the disable was stored", calls)
	}

	create(t, s, newKey("idle2"))
	failing, err := NewJanitor(JanitorConfig{
		Keys: s, Policy: func() *policy.Policy { return pol }, Now: func() time.Time { return now },
		OnDisable: func(context.Context, string, time.Time, string) error { return store.ErrUnavailable },
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := failing.Sweep(context.Background()); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Sweep with a failing OnDisable = %v, want ErrUnavailable", err)
	}
}
