package client

import (
	"testing"
	"time"
)

func TestBackoffBounds(t *testing.T) {
	tests := []struct {
		failures int
		step     time.Duration
	}{
		{1, 200 * time.Millisecond},
		{2, 400 * time.Millisecond},
		{3, 800 * time.Millisecond},
		{8, 25600 * time.Millisecond},
		{9, 30 * time.Second},
		{10, 30 * time.Second},
		{1000, 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.step.String(), func(t *testing.T) {
			if got := backoff(tt.failures, zeroRand); got != 0 {
				t.Errorf("lowest draw = %s, want 0 (full jitter)", got)
			}
			if got := backoff(tt.failures, maxRand); got != tt.step {
				t.Errorf("highest draw = %s, want %s", got, tt.step)
			}
			for range 1000 {
				if got := backoff(tt.failures, realRand); got < 0 || got > tt.step {
					t.Fatalf("random draw %s outside [0, %s]", got, tt.step)
				}
			}
		})
	}
}

func TestRefreshAfterBounds(t *testing.T) {
	tests := []struct {
		lifetime, low, mid, high time.Duration
	}{
		{10 * time.Minute, 450 * time.Second, 480 * time.Second, 510 * time.Second},
		{time.Hour, 45 * time.Minute, 48 * time.Minute, 51 * time.Minute},
		{100 * time.Second, 75 * time.Second, 80 * time.Second, 85 * time.Second},
		{0, 0, 0, 0},
		{-time.Second, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.lifetime.String(), func(t *testing.T) {
			for _, c := range []struct {
				rnd  randN
				want time.Duration
			}{{zeroRand, tt.low}, {middleRand, tt.mid}, {maxRand, tt.high}} {
				if got := refreshAfter(tt.lifetime, c.rnd); got != c.want {
					t.Errorf("refreshAfter = %s, want %s", got, c.want)
				}
			}
			for range 1000 {
				if got := refreshAfter(tt.lifetime, realRand); got < tt.low || got > tt.high {
					t.Fatalf("random draw %s outside [%s, %s]", got, tt.low, tt.high)
				}
			}
		})
	}
}
