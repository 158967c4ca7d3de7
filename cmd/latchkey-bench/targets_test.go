package main

import (
	"math"
	"testing"
	"time"
)

func TestJudge(t *testing.T) {
	cases := []struct {
		name  string
		value float64
		op    string
		limit float64
		want  string
	}{
		{"at most, under", 1.2, "<=", 1.3, verdictPass},
		{"at most, equal", 1.3, "<=", 1.3, verdictPass},
		{"at most, over", 1.31, "<=", 1.3, verdictMiss},
		{"at least, over", 0.95, ">=", 0.9, verdictPass},
		{"at least, under", 0.89, ">=", 0.9, verdictMiss},
		{"no limit", 5, "", 0, verdictInfo},
		{"not measured", math.NaN(), "<=", 1, verdictNA},
		{"divided by zero", math.Inf(1), "<=", 1, verdictNA},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := judge(tc.value, tc.op, tc.limit); got != tc.want {
				t.Fatalf("judge(%v %s %v) = %s, want %s", tc.value, tc.op, tc.limit, got, tc.want)
			}
		})
	}
}

// cellWith is a cell whose every repetition measured the same figures.
func cellWith(scenario string, conc int, rps, p99, cpu float64, errs uint64) *cell {
	c := &cell{Scenario: scenario, Concurrency: conc}
	for range 3 {
		c.Runs = append(c.Runs, runResult{Requests: 100, RPS: rps, P99: us2d(p99), CPUPerOpUS: cpu, Errors: errs})
	}
	c.summarise()
	return c
}

func us2d(us float64) time.Duration { return time.Duration(us * 1e3) }

func TestEvaluate(t *testing.T) {
	floor := floorResult{EdDSASignUS: 20, EdDSAVerifyUS: 40, ES256SignUS: 30}
	res := &results{Cells: []*cell{
		cellWith("health", 64, 50000, 1000, 50, 0),
		// (50+20)*1.3 = 91: 90 passes.
		cellWith("exchange/EdDSA/keys=1", 64, 10000, 3100, 90, 0),
		cellWith("exchange/EdDSA/keys=100000", 64, 8900, 3000, 95, 0),
		// 50*1.5 = 75: 80 misses.
		cellWith("introspect/repeated/revocations=0", 64, 20000, 2000, 80, 0),
		cellWith("health", 256, 50000, 1000, 50, 0),
		cellWith("introspect/repeated/revocations=0", 256, 20000, 2000, 60, 2),
	}, Phases: []phaseResult{{Variant: "keys=100000/EdDSA", LoadRSS: 150 << 20, PeakRSS: 400 << 20}}}
	got := map[string]target{}
	for _, tg := range evaluate(res, floor, 1_000_000) {
		got[tg.Name] = tg
	}
	cases := []struct {
		name    string
		value   float64
		verdict string
	}{
		{"server CPU/op exchange/EdDSA/keys=1 c=64", 90.0 / 70, verdictPass},
		{"server CPU/op introspect/repeated/revocations=0 c=64", 80.0 / 50, verdictMiss},
		{"server CPU/op introspect/repeated/revocations=0 c=256", 60.0 / 50, verdictPass},
		{"server CPU/op exchange/EdDSA/keys=1 c=256", math.NaN(), verdictNA},
		{"rps exchange/EdDSA/keys=100000 ÷ exchange/EdDSA/keys=1 c=64", 0.89, verdictMiss},
		{"p99 exchange/EdDSA/keys=1 ÷ health p99 c=64", 3.1, verdictMiss},
		{"p99 introspect/repeated/revocations=0 ÷ health p99 c=64", 2, verdictPass},
		{"errors at c=256, every scenario and repetition", 6, verdictMiss},
		{"server RSS under load keys=100000/EdDSA", 150, verdictPass},
		{"server peak RSS since start, start-up included, keys=100000/EdDSA", 400, verdictInfo},
		{"server RSS under load keys=100000/ES256", math.NaN(), verdictNA},
		{"throughput exchange/EdDSA/keys=1 c=64", 10000, verdictInfo},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tg, ok := got[tc.name]
			if !ok {
				t.Fatalf("no target %q", tc.name)
			}
			if tg.Verdict != tc.verdict {
				t.Fatalf("verdict = %s (%v, %s), want %s", tg.Verdict, tg.Value, tg.Figures, tc.verdict)
			}
			if !(math.IsNaN(tc.value) && math.IsNaN(tg.Value)) && math.Abs(tg.Value-tc.value) > 1e-9 {
				t.Fatalf("value = %v, want %v", tg.Value, tc.value)
			}
		})
	}
}
