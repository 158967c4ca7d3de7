package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

func runRevocations(t *testing.T, open func(*testing.T) store.Store) {
	ctx := context.Background()

	t.Run("revoke then check", func(t *testing.T) {
		s := open(t)
		now := time.Now()
		for _, r := range []struct {
			jti   string
			until time.Time
		}{
			{"live-hour", now.Add(time.Hour)},
			{"live-soon", now.Add(5 * time.Second)},
			{"past", now.Add(-time.Hour)},
			{"far", now.AddDate(50, 0, 0)},
		} {
			if err := s.RevokeToken(ctx, r.jti, r.until); err != nil {
				t.Fatalf("RevokeToken(%q): %v", r.jti, err)
			}
		}
		cases := []struct {
			jti  string
			want bool
		}{
			{"live-hour", true},
			{"live-soon", true},
			{"far", true},
			{"past", false}, // already expired: nothing is stored
			{"unknown", false},
			{"live-hou", false},
			{"live-hour ", false},
		}
		for _, tc := range cases {
			t.Run(tc.jti, func(t *testing.T) {
				got, err := s.IsTokenRevoked(ctx, tc.jti)
				if err != nil || got != tc.want {
					t.Fatalf("IsTokenRevoked(%q) = %v, %v; want %v", tc.jti, got, err, tc.want)
				}
			})
		}
	})

	t.Run("revoking twice keeps the token revoked", func(t *testing.T) {
		s := open(t)
		now := time.Now()
		for _, until := range []time.Time{now.Add(2 * time.Hour), now.Add(time.Hour), now.Add(-time.Hour)} {
			if err := s.RevokeToken(ctx, "j", until); err != nil {
				t.Fatalf("RevokeToken(until %v): %v", until, err)
			}
			if got, err := s.IsTokenRevoked(ctx, "j"); err != nil || !got {
				t.Fatalf("IsTokenRevoked after revoking until %v = %v, %v; want true", until, got, err)
			}
		}
	})

	t.Run("invalid token ids are rejected", func(t *testing.T) {
		s := open(t)
		for name, jti := range map[string]string{
			"empty":     "",
			"oversized": strings.Repeat("j", store.MaxIDLength+1),
			"not utf8":  "\xc3\x28",
		} {
			t.Run(name, func(t *testing.T) {
				if err := s.RevokeToken(ctx, jti, time.Now().Add(time.Hour)); !errors.Is(err, store.ErrInvalidArgument) {
					t.Fatalf("RevokeToken = %v, want ErrInvalidArgument", err)
				}
				// A lookup that cannot be answered must not read as "not revoked".
				if _, err := s.IsTokenRevoked(ctx, jti); !errors.Is(err, store.ErrInvalidArgument) {
					t.Fatalf("IsTokenRevoked = %v, want ErrInvalidArgument", err)
				}
			})
		}
	})
}
