package main

import (
	"fmt"
	"math"
)

// Verdicts of a target.
const (
	verdictPass = "PASS"
	verdictMiss = "MISS"
	// verdictNA: the run did not include what the target compares.
	verdictNA = "n/a"
	// verdictInfo: reported without a target.
	verdictInfo = "info"
)

// target is one ratio or figure with its limit and verdict.
type target struct {
	Name    string  `json:"name"`
	Figures string  `json:"figures"`
	Value   float64 `json:"value"`
	// Op is "<=" or ">=" against Limit, or "" when there is no limit.
	Op      string  `json:"op,omitempty"`
	Limit   float64 `json:"limit,omitempty"`
	Verdict string  `json:"verdict"`
}

// judge gives value's verdict against limit with op ("" reports only).
func judge(value float64, op string, limit float64) string {
	switch {
	case math.IsNaN(value) || math.IsInf(value, 0):
		return verdictNA
	case op == "":
		return verdictInfo
	case op == "<=" && value <= limit, op == ">=" && value >= limit:
		return verdictPass
	default:
		return verdictMiss
	}
}

func newTarget(name, figures string, value float64, op string, limit float64) target {
	return target{Name: name, Figures: figures, Value: value, Op: op, Limit: limit, Verdict: judge(value, op, limit)}
}

// medianOf is the median of one figure of a cell, NaN when the cell did not
// run.
func medianOf(res *results, scenario string, conc int, f func(*cell) spread) float64 {
	c := res.find(scenario, conc)
	if c == nil {
		return math.NaN()
	}
	return f(c).Median
}

func cpuOf(c *cell) spread { return c.CPUPerOpUS }
func rpsOf(c *cell) spread { return c.RPS }
func p99Of(c *cell) spread { return c.P99US }

// evaluate computes every ratio and target from the medians.
func evaluate(res *results, floor floorResult, revs int) []target {
	var out []target
	intro := func(kind string, r int) string { return fmt.Sprintf("introspect/%s/revocations=%d", kind, r) }
	for _, conc := range []int{64, 256} {
		h := medianOf(res, "health", conc, cpuOf)
		for _, s := range []struct {
			scenario, floorName string
			floor               float64
			op                  string
			limit               float64
		}{
			{"exchange/EdDSA/keys=1", "EdDSA sign", floor.EdDSASignUS, "<=", 1.3},
			{"exchange/ES256/keys=1", "ES256 sign", floor.ES256SignUS, "", 0},
			{intro("distinct", 0), "EdDSA verify", floor.EdDSAVerifyUS, "<=", 1.3},
			{intro("distinct", revs), "EdDSA verify", floor.EdDSAVerifyUS, "", 0},
			{intro("repeated", 0), "", 0, "<=", 1.5},
			{intro("repeated", revs), "", 0, "", 0},
		} {
			v := medianOf(res, s.scenario, conc, cpuOf)
			den := h + s.floor
			figs := fmt.Sprintf("%s µs/op ÷ (health %s + %s %.1f µs)", fmtNum(v, 1), fmtNum(h, 1), s.floorName, s.floor)
			if s.floorName == "" {
				figs = fmt.Sprintf("%s µs/op ÷ health %s µs/op", fmtNum(v, 1), fmtNum(h, 1))
			}
			out = append(out, newTarget(fmt.Sprintf("server CPU/op %s c=%d", s.scenario, conc), figs, v/den, s.op, s.limit))
		}
	}
	for _, p := range []struct{ num, den string }{
		{"exchange/EdDSA/keys=100000", "exchange/EdDSA/keys=1"},
		{"exchange/ES256/keys=100000", "exchange/ES256/keys=1"},
		{intro("distinct", revs), intro("distinct", 0)},
		{intro("repeated", revs), intro("repeated", 0)},
	} {
		n, d := medianOf(res, p.num, 64, rpsOf), medianOf(res, p.den, 64, rpsOf)
		out = append(out, newTarget(fmt.Sprintf("rps %s ÷ %s c=64", p.num, p.den),
			fmt.Sprintf("%s ÷ %s rps", fmtNum(n, 0), fmtNum(d, 0)), n/d, ">=", 0.9))
	}
	hp99 := medianOf(res, "health", 64, p99Of)
	for _, s := range []string{"exchange/EdDSA/keys=1", intro("distinct", 0), intro("repeated", 0)} {
		v := medianOf(res, s, 64, p99Of)
		out = append(out, newTarget(fmt.Sprintf("p99 %s ÷ health p99 c=64", s),
			fmt.Sprintf("%s ÷ %s µs", fmtNum(v, 0), fmtNum(hp99, 0)), v/hp99, "<=", 3))
	}
	var errs256, cells256 float64
	first := ""
	for _, c := range res.Cells {
		if c.Concurrency != 256 {
			continue
		}
		cells256++
		for _, r := range c.Runs {
			errs256 += float64(r.Errors)
			if r.Errors > 0 && first == "" {
				first = fmt.Sprintf(" (first, in %s: %s)", c.Scenario, r.FirstError)
			}
		}
	}
	zero := newTarget("errors at c=256, every scenario and repetition", fmt.Sprintf("%.0f errors in %.0f scenarios%s", errs256, cells256, first), errs256, "<=", 0)
	if cells256 == 0 {
		zero.Verdict = verdictNA
	}
	out = append(out, zero)
	for _, alg := range []string{"EdDSA", "ES256"} {
		load, start := math.NaN(), math.NaN()
		for _, ph := range res.Phases {
			if ph.Variant == "keys=100000/"+alg && ph.LoadRSS > 0 {
				load, start = float64(ph.LoadRSS)/(1<<20), float64(ph.PeakRSS)/(1<<20)
			}
		}
		out = append(out, newTarget("server RSS under load keys=100000/"+alg, fmtNum(load, 1)+" MB", load, "<=", 200),
			newTarget("server peak RSS since start, start-up included, keys=100000/"+alg, fmtNum(start, 1)+" MB", start, "", 0))
	}
	for _, s := range []string{"exchange/EdDSA/keys=1", "exchange/ES256/keys=1", intro("distinct", 0), intro("repeated", 0)} {
		for _, conc := range []int{64, 256} {
			v := medianOf(res, s, conc, rpsOf)
			out = append(out, newTarget(fmt.Sprintf("throughput %s c=%d", s, conc), fmtNum(v, 0)+" rps", v, "", 0))
		}
	}
	return out
}
