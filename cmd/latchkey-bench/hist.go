package main

import (
	"math/bits"
	"time"
)

// histogram records latencies in log-linear buckets, as HDR histograms do:
// every value below 2^subBits nanoseconds exactly, every larger one within
// 1/2^(subBits-1) of its value. Recording never allocates, so the load
// generator measures the server, not its own garbage.
type histogram struct {
	counts [histBuckets]uint64
	n      uint64
}

const (
	subBits     = 8
	subCount    = 1 << subBits
	halfCount   = subCount / 2
	histBuckets = subCount + (64-subBits)*halfCount
)

func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits
	return subCount + (shift-1)*halfCount + int(v>>shift) - halfCount
}

// bucketRange is the smallest value and the width of bucket i.
func bucketRange(i int) (lo, width uint64) {
	if i < subCount {
		return uint64(i), 1
	}
	shift := (i-subCount)/halfCount + 1
	mant := uint64((i-subCount)%halfCount + halfCount)
	return mant << shift, 1 << shift
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	h.n++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile is the smallest recorded latency with at least q of all values at
// or below it (nearest rank), as the middle of its bucket; 0 when empty.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q * float64(h.n))
	if float64(rank) < q*float64(h.n) {
		rank++
	}
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, w := bucketRange(i)
			return time.Duration(lo + (w-1)/2)
		}
	}
	return 0
}
