package main

import (
	"math"
	"testing"
)

func TestSpreadOf(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name string
		in   []float64
		want spread
	}{
		{"one", []float64{3}, spread{3, 3, 3}},
		{"odd count, unsorted", []float64{5, 1, 3}, spread{1, 3, 5}},
		{"even count averages the middle two", []float64{4, 1, 2, 10}, spread{1, 3, 10}},
		{"NaN left out", []float64{nan, 2, 4}, spread{2, 3, 4}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := spreadOf(tc.in); got != tc.want {
				t.Fatalf("spreadOf(%v) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
	t.Run("empty is NaN", func(t *testing.T) {
		for _, in := range [][]float64{nil, {nan}} {
			if got := spreadOf(in); !math.IsNaN(got.Min) || !math.IsNaN(got.Median) || !math.IsNaN(got.Max) {
				t.Fatalf("spreadOf(%v) = %+v, want NaN throughout", in, got)
			}
		}
	})
}
