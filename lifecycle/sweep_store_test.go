package lifecycle

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/store"
	"github.com/latchkeyhq/latchkey/store/storetest"
)

func TestSweepPagesOverEveryKey(t *testing.T) {
	s := openStore(t)
	const n = 250
	for i := range n {
		create(t, s, newKey(keyID(i), func(r *store.KeyRecord) {
			if i%3 == 0 {
				r.ExpiresAt = t0.Add(day)
			}
		}))
	}
	keys := &hookedKeys{KeyStore: s}
	j, err := NewJanitor(JanitorConfig{
		Keys:     keys,
		Policy:   func() *policy.Policy { return &policy.Policy{Keys: rules(nil)} },
		Now:      func() time.Time { return t0.Add(day) },
		PageSize: 7,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sweep(t, j), (SweepReport{Expired: 84}); got != want {
		t.Fatalf("report %+v, want %+v", got, want)
	}
	if keys.lists < 84/7 {
		t.Fatalf("ListKeys called %d times, want at least %d pages", keys.lists, 84/7)
	}
	// The rules read no history; decoding it was most of a sweep's cost.
	if keys.withHistory != 0 {
		t.Fatalf("%d of %d listings decoded the keys' history", keys.withHistory, keys.lists)
	}
	for i := range n {
		want := store.KeyStateActive
		if i%3 == 0 {
			want = store.KeyStateExpired
		}
		if got := get(t, s, keyID(i)).State; got != want {
			t.Errorf("%s: state %v, want %v", keyID(i), got, want)
		}
	}
}

func TestSweepKeepsConcurrentAdminChanges(t *testing.T) {
	attestMonthly := &policy.Policy{Keys: rules(func(r *policy.KeyRules) {
		r.AttestationPeriod, r.UnusedDisableAfter = 30*day, 30*day
	})}
	now := t0.Add(30 * day)
	tests := []struct {
		name       string
		admin      func(*store.KeyRecord)
		wantReport SweepReport
		want       func(r *store.KeyRecord)
	}{
		{
			name: "revoked after the listing: janitor does nothing",
			admin: func(r *store.KeyRecord) {
				r.State, r.RevokedAt, r.RevocationReason = store.KeyStateRevoked, now, store.ReasonLeaked
			},
			want: func(r *store.KeyRecord) {
				r.State, r.RevokedAt, r.RevocationReason = store.KeyStateRevoked, now, store.ReasonLeaked
			},
		},
		{
			name:  "used and attested after the listing: stays active",
			admin: func(r *store.KeyRecord) { r.LastAttestedAt, r.LastUsedAt = now, now },
			want:  func(r *store.KeyRecord) { r.LastAttestedAt, r.LastUsedAt = now, now },
		},
		{
			name:       "description edited after the listing: kept beside the janitor's change",
			admin:      func(r *store.KeyRecord) { r.Description = "payments worker" },
			wantReport: SweepReport{DisabledUnused: 1},
			want: func(r *store.KeyRecord) {
				r.Description = "payments worker"
				r.State, r.DisabledAt, r.DisabledReason = store.KeyStateDisabled, now, "unused"
				r.AddEvent(janitorEvent(now, "disabled", "unused", "due at 2030-01-31T00:00:00Z"))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t)
			want := create(t, s, newKey("k"))
			keys := &hookedKeys{KeyStore: s, beforeUpdate: func(id string) {
				if _, err := s.UpdateKey(context.Background(), id, func(r *store.KeyRecord) error {
					tt.admin(r)
					return nil
				}); err != nil {
					t.Errorf("admin UpdateKey: %v", err)
				}
			}}
			if got := sweep(t, newJanitor(t, keys, attestMonthly, now)); got != tt.wantReport {
				t.Errorf("report %+v, want %+v", got, tt.wantReport)
			}
			tt.want(&want)
			assertRecord(t, get(t, s, "k"), want)
		})
	}
}

func TestSweepRacingWriters(t *testing.T) {
	s := openStore(t)
	const n = 120
	for i := range n {
		create(t, s, newKey(keyID(i), func(r *store.KeyRecord) {
			r.PreviousSecretHash, r.GraceDeadline = []byte{1, 2, 3}, t0.Add(time.Hour)
		}))
	}
	j := newJanitor(t, s, &policy.Policy{Keys: rules(nil)}, t0.Add(time.Hour))
	done := make(chan error, 1)
	go func() {
		for i := range n {
			_, err := s.UpdateKey(context.Background(), keyID(i), func(r *store.KeyRecord) error {
				r.Labels = map[string]string{"touched": "yes"}
				return nil
			})
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	got := sweep(t, j)
	if err := <-done; err != nil {
		t.Fatalf("concurrent UpdateKey: %v", err)
	}
	if want := (SweepReport{GraceRetired: n}); got != want {
		t.Fatalf("report %+v, want %+v", got, want)
	}
	for i := range n {
		rec := get(t, s, keyID(i))
		if rec.Labels["touched"] != "yes" || rec.PreviousSecretHash != nil || len(rec.History) != 1 {
			t.Errorf("%s: labels %v, previous hash kept %t, %d events; want both writers' changes and one event",
				rec.ID, rec.Labels, rec.PreviousSecretHash != nil, len(rec.History))
		}
	}
}

func TestSweepStoreErrors(t *testing.T) {
	pol := &policy.Policy{Keys: rules(nil)}
	now := t0.Add(day)
	t.Run("listing fails", func(t *testing.T) {
		f := storetest.NewFaulty(openStore(t))
		create(t, f, newKey("k", func(r *store.KeyRecord) { r.ExpiresAt = now }))
		f.SetFailing(true)
		got, err := newJanitor(t, f, pol, now).Sweep(context.Background())
		if !errors.Is(err, store.ErrUnavailable) || got != (SweepReport{}) {
			t.Fatalf("Sweep = %+v, %v; want nothing done and ErrUnavailable", got, err)
		}
	})
	t.Run("update fails midway", func(t *testing.T) {
		f := storetest.NewFaulty(openStore(t))
		for i := range 3 {
			create(t, f, newKey(keyID(i), func(r *store.KeyRecord) { r.ExpiresAt = now }))
		}
		updates := 0
		keys := &hookedKeys{KeyStore: f, beforeUpdate: func(string) {
			if updates++; updates == 2 {
				f.SetFailing(true)
			}
		}}
		got, err := newJanitor(t, keys, pol, now).Sweep(context.Background())
		if !errors.Is(err, store.ErrUnavailable) || got != (SweepReport{Expired: 1}) {
			t.Fatalf("Sweep = %+v, %v; want one key expired and ErrUnavailable", got, err)
		}
		f.SetFailing(false)
		if got := sweep(t, newJanitor(t, f, pol, now)); got != (SweepReport{Expired: 2}) {
			t.Fatalf("next sweep = %+v, want the other two keys expired", got)
		}
	})
	t.Run("context cancelled", func(t *testing.T) {
		s := openStore(t)
		create(t, s, newKey("k", func(r *store.KeyRecord) { r.ExpiresAt = now }))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := newJanitor(t, s, pol, now).Sweep(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Sweep = %v, want context.Canceled", err)
		}
		if got := get(t, s, "k").State; got != store.KeyStateActive {
			t.Fatalf("state %v after a cancelled sweep, want active", got)
		}
	})
}

func TestNewJanitorValidates(t *testing.T) {
	s := openStore(t)
	pol := func() *policy.Policy { return nil }
	tests := []struct {
		name string
		cfg  JanitorConfig
		ok   bool
	}{
		{"minimal", JanitorConfig{Keys: s, Policy: pol}, true},
		{"no store", JanitorConfig{Policy: pol}, false},
		{"no policy", JanitorConfig{Keys: s}, false},
		{"negative interval", JanitorConfig{Keys: s, Policy: pol, Interval: -time.Second}, false},
		{"negative page size", JanitorConfig{Keys: s, Policy: pol, PageSize: -1}, false},
		{"page size too big", JanitorConfig{Keys: s, Policy: pol, PageSize: store.MaxPageSize + 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := NewJanitor(tt.cfg)
			if tt.ok {
				if err != nil {
					t.Fatalf("NewJanitor: %v", err)
				}
				if j.interval != DefaultJanitorInterval || j.pageSize != store.DefaultPageSize || j.now == nil || j.log == nil {
					t.Fatalf("defaults not filled: interval %v, page size %d", j.interval, j.pageSize)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || j != nil {
				t.Fatalf("NewJanitor = %v, %v; want ErrInvalidConfig", j, err)
			}
		})
	}
}
