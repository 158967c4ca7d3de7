package main

import (
	"math"
	"slices"
)

// spread is the minimum, median and maximum of one figure over repetitions.
type spread struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

// spreadOf summarises xs; NaN values (a figure a run could not measure) are
// left out, and an empty or all-NaN input gives NaN throughout.
func spreadOf(xs []float64) spread {
	v := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return spread{math.NaN(), math.NaN(), math.NaN()}
	}
	slices.Sort(v)
	return spread{Min: v[0], Median: median(v), Max: v[len(v)-1]}
}

// median of sorted values: the mean of the two middle ones when even.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}
