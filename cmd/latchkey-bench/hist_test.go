package main

import (
	"math"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	cases := []struct {
		name   string
		values []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"single value", []time.Duration{100}, 0.99, 100},
		{"median of 1..100 ns", seq(1, 100), 0.5, 50},
		{"p99 of 1..100 ns", seq(1, 100), 0.99, 99},
		{"p99.9 of 1..100 ns is the maximum", seq(1, 100), 0.999, 100},
		{"p0 is the minimum", seq(5, 100), 0, 5},
		{"nearest rank rounds up", []time.Duration{10, 20, 30}, 0.5, 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h histogram
			for _, v := range tc.values {
				h.record(v)
			}
			if got := h.quantile(tc.q); got != tc.want {
				t.Fatalf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
			}
		})
	}
}

// Above 2^subBits ns values share buckets; the answer stays within the
// bucket's half-width of the true value.
func TestHistogramPrecision(t *testing.T) {
	for _, v := range []time.Duration{257, 1000, 123_456, 987_654_321, 45 * time.Second} {
		t.Run(v.String(), func(t *testing.T) {
			var h histogram
			h.record(v)
			got := h.quantile(0.5)
			if rel := math.Abs(float64(got-v)) / float64(v); rel > 1.0/halfCount {
				t.Fatalf("quantile = %v for %v: relative error %.4f", got, v, rel)
			}
		})
	}
}

func TestBucketRoundTrip(t *testing.T) {
	for _, v := range []uint64{0, 1, 255, 256, 257, 511, 512, 1 << 20, 1<<20 + 12345, math.MaxUint64} {
		i := bucketOf(v)
		lo, w := bucketRange(i)
		if v < lo || v-lo >= w {
			t.Errorf("value %d in bucket %d = [%d, %d+%d)", v, i, lo, lo, w)
		}
		if i >= histBuckets {
			t.Errorf("value %d: bucket %d out of %d", v, i, histBuckets)
		}
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b histogram
	for _, v := range seq(1, 50) {
		a.record(v)
	}
	for _, v := range seq(51, 100) {
		b.record(v)
	}
	a.merge(&b)
	if a.n != 100 || a.quantile(0.5) != 50 || a.quantile(1) != 100 {
		t.Fatalf("merged n=%d p50=%v max=%v, want 100, 50ns, 100ns", a.n, a.quantile(0.5), a.quantile(1))
	}
}

func seq(from, to int) []time.Duration {
	var out []time.Duration
	for i := from; i <= to; i++ {
		out = append(out, time.Duration(i))
	}
	return out
}
