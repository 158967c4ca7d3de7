package ratelimit

import (
	"math"
	"testing"
)

func TestLimitValid(t *testing.T) {
	tests := []struct {
		name string
		lim  Limit
		want bool
	}{
		{"typical", Limit{PerSecond: 10, Burst: 5}, true},
		{"slow single", Limit{PerSecond: 1.0 / 3600, Burst: 1}, true},
		{"zero", Limit{}, false},
		{"zero rate", Limit{PerSecond: 0, Burst: 5}, false},
		{"negative rate", Limit{PerSecond: -1, Burst: 5}, false},
		{"NaN rate", Limit{PerSecond: math.NaN(), Burst: 5}, false},
		{"infinite rate", Limit{PerSecond: math.Inf(1), Burst: 5}, false},
		{"negative infinite rate", Limit{PerSecond: math.Inf(-1), Burst: 5}, false},
		{"zero burst", Limit{PerSecond: 10, Burst: 0}, false},
		{"negative burst", Limit{PerSecond: 10, Burst: -3}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.lim.Valid(); got != tc.want {
				t.Fatalf("%+v.Valid() = %v, want %v", tc.lim, got, tc.want)
			}
		})
	}
}
