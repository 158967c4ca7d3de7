package main

import (
	"testing"
	"time"
)

// The floor is the median of the runs sampled before and after the
// scenarios together: one slow moment at the start no longer sets it.
func TestFloorMedianSpansBothSamplings(t *testing.T) {
	fs := floorSamples{benchTime: 300 * time.Millisecond}
	// Before the scenarios the machine was busy; after, it was not.
	fs.edSign = []float64{30, 31, 29, 23, 22, 24}
	fs.edVerify = []float64{71, 70, 72, 52, 51, 53}
	fs.esSign = []float64{40, 41, 39, 31, 30, 32}
	fs.esVerify = []float64{90, 91, 89, 76, 75, 77}
	f := fs.result()
	if f.Reps != 6 || f.BenchTime != "300ms" {
		t.Fatalf("reps %d, benchtime %s", f.Reps, f.BenchTime)
	}
	for name, c := range map[string]struct {
		median float64
		s      spread
		want   spread
	}{
		"EdDSA sign":   {f.EdDSASignUS, f.EdDSASign, spread{22, 26.5, 31}},
		"EdDSA verify": {f.EdDSAVerifyUS, f.EdDSAVerify, spread{51, 61.5, 72}},
		"ES256 sign":   {f.ES256SignUS, f.ES256Sign, spread{30, 35.5, 41}},
		"ES256 verify": {f.ES256VerifyUS, f.ES256Verify, spread{75, 83, 91}},
	} {
		if c.s != c.want || c.median != c.want.Median {
			t.Errorf("%s: median %v, spread %+v; want %+v", name, c.median, c.s, c.want)
		}
	}
}

// Each sampling adds its runs to the ones before it.
func TestFloorSamplingAddsRuns(t *testing.T) {
	var fs floorSamples
	for range 2 {
		if err := fs.sample(2, time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	f := fs.result()
	if f.Reps != 4 || len(fs.edVerify) != 4 || len(fs.esVerify) != 4 || len(fs.esSign) != 4 {
		t.Fatalf("%d runs recorded (%d, %d, %d), want 4 of each", f.Reps, len(fs.edVerify), len(fs.esSign), len(fs.esVerify))
	}
	for _, s := range []spread{f.EdDSASign, f.EdDSAVerify, f.ES256Sign, f.ES256Verify} {
		if !(s.Min > 0 && s.Min <= s.Median && s.Median <= s.Max) {
			t.Errorf("spread %+v is not a spread of positive durations", s)
		}
	}
}
