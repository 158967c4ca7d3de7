package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

// calls invokes every store method once, for tests that expect them all to
// fail the same way.
func calls(s store.Store) map[string]func(context.Context) error {
	until := time.Now().Add(time.Hour)
	return map[string]func(context.Context) error{
		"CreateKey": func(ctx context.Context) error { return s.CreateKey(ctx, base("new")) },
		"GetKey": func(ctx context.Context) error {
			_, err := s.GetKey(ctx, "k")
			return err
		},
		"ListKeys": func(ctx context.Context) error {
			_, err := s.ListKeys(ctx, store.KeyQuery{})
			return err
		},
		"UpdateKey": func(ctx context.Context) error {
			_, err := s.UpdateKey(ctx, "k", func(*store.KeyRecord) error { return nil })
			return err
		},
		"AppendRevocation": func(ctx context.Context) error {
			_, err := s.AppendRevocation(ctx, jtiRevocation("j2", time.Now()))
			return err
		},
		"LoadRevocations": func(ctx context.Context) error {
			_, _, err := s.LoadRevocations(ctx)
			return err
		},
		"PutSigningKey": func(ctx context.Context) error {
			return s.PutSigningKey(ctx, signing("s2", until))
		},
		"ListSigningKeys": func(ctx context.Context) error {
			_, err := s.ListSigningKeys(ctx)
			return err
		},
		"RecordUsage": func(ctx context.Context) error {
			return s.RecordUsage(ctx, []store.KeyUsage{{ID: "k", LastUsedAt: until, Count: 1}})
		},
	}
}

// seed gives every method in calls something to find.
func seed(t *testing.T, s store.Store) {
	t.Helper()
	ctx := context.Background()
	mustCreate(t, s, base("k"))
	if err := s.PutSigningKey(ctx, signing("s", time.Now())); err != nil {
		t.Fatalf("PutSigningKey: %v", err)
	}
	mustAppend(t, s, jtiRevocation("j", time.Now()))
}

func runLifecycle(t *testing.T, open func(*testing.T) store.Store) {
	t.Run("every call after Close is unavailable", func(t *testing.T) {
		s := open(t)
		seed(t, s)
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		for name, call := range calls(s) {
			t.Run(name, func(t *testing.T) {
				if err := call(context.Background()); !errors.Is(err, store.ErrUnavailable) {
					t.Fatalf("%s after Close = %v, want ErrUnavailable", name, err)
				}
			})
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close = %v, want nil", err)
		}
	})

	t.Run("cancelled context", func(t *testing.T) {
		s := open(t)
		t.Cleanup(func() { _ = s.Close() })
		seed(t, s)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for name, call := range calls(s) {
			t.Run(name, func(t *testing.T) {
				if err := call(ctx); !errors.Is(err, context.Canceled) {
					t.Fatalf("%s with a cancelled context = %v, want context.Canceled", name, err)
				}
			})
		}
		// Nothing the cancelled calls attempted may have been written.
		if _, err := s.GetKey(context.Background(), "new"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetKey(new) = %v, want ErrNotFound", err)
		}
		if got, _ := mustLoad(t, s); len(got) != 1 || got[0].Value != "j" {
			t.Fatalf("LoadRevocations = %+v after a cancelled AppendRevocation, want only the seeded entry", got)
		}
		if got := mustGet(t, s, "k"); got.UseCount != base("k").UseCount {
			t.Fatalf("UseCount = %d after a cancelled RecordUsage, want %d", got.UseCount, base("k").UseCount)
		}
	})
}
