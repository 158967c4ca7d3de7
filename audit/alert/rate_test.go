package alert

import (
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/audit"
)

// perMinute returns n granted exchanges in each of minutes [from, to), spread
// over the minute.
func perMinute(n int, from, to int, opts ...opt) []audit.Event {
	var out []audit.Event
	for m := from; m < to; m++ {
		out = append(out, every(n, time.Duration(m)*time.Minute, time.Minute/time.Duration(n+1), opts...)...)
	}
	return out
}

func TestRateSpike(t *testing.T) {
	spike := func(count, base, threshold string) []Alert {
		return []Alert{{Kind: RateSpike, KeyID: "k1", Identity: idA, Detail: map[string]string{
			"count": count, "baseline_per_min": base, "threshold": threshold, "window": "1m"}}}
	}
	// inMinute returns the i-th of many events in minute m, i from 0.
	inMinute := func(m, i int) audit.Event {
		return exchange(time.Duration(m)*time.Minute + time.Duration(i)*100*time.Millisecond)
	}
	burst := func(m, n int) []audit.Event {
		out := make([]audit.Event, n)
		for i := range out {
			out[i] = inMinute(m, i)
		}
		return out
	}
	cases := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{
			name: "count above factor times baseline",
			steps: concat(quiet(perMinute(10, 0, 10)...), quiet(burst(10, 100)...),
				[]step{{inMinute(10, 100), spike("101", "10.00", "100.00")}}),
		},
		{
			name: "count above the floor when the baseline is low",
			steps: concat(quiet(perMinute(2, 0, 10)...), quiet(burst(10, 60)...),
				[]step{{inMinute(10, 60), spike("61", "2.00", "60.00")}}),
		},
		{
			name:  "nothing before BaselineMinutes of history",
			steps: concat(quiet(perMinute(1, 0, 9)...), quiet(burst(9, 500)...)),
		},
		{
			name: "silent minutes count as zero",
			steps: concat(quiet(perMinute(30, 0, 10)...), quiet(burst(200, 60)...),
				[]step{{inMinute(200, 60), spike("61", "0.00", "60.00")}}),
		},
		{
			name: "one silent minute with a one-minute baseline",
			cfg:  Config{BaselineMinutes: 1, RateSpikeFactor: 2, RateSpikeMin: 5},
			steps: concat(quiet(burst(0, 10)...), quiet(burst(2, 5)...),
				[]step{{inMinute(2, 5), spike("6", "0.00", "5.00")}}),
		},
		{
			name: "last minute is the baseline when BaselineMinutes is 1",
			cfg:  Config{BaselineMinutes: 1, RateSpikeFactor: 2, RateSpikeMin: 5},
			steps: concat(quiet(burst(0, 10)...), quiet(burst(1, 20)...),
				[]step{{inMinute(1, 20), spike("21", "10.00", "20.00")}}),
		},
		{
			// α = 2/(3+1) = 0.5. Minutes 0-2 of 8 give a mean of 8; a silent
			// minute 3 weighs in as 0: (0.5·8·0.875)·0.5 / (1-0.125·0.5) = 3.7333…
			name: "a silent minute lowers an averaged baseline",
			cfg:  Config{BaselineMinutes: 3, RateSpikeMin: 1},
			steps: concat(quiet(perMinute(8, 0, 3)...), quiet(burst(4, 37)...),
				[]step{{inMinute(4, 37), spike("38", "3.73", "37.33")}}),
		},
		{
			name: "an averaged baseline without gaps",
			cfg:  Config{BaselineMinutes: 3, RateSpikeMin: 1},
			steps: concat(quiet(perMinute(8, 0, 3)...), quiet(burst(3, 80)...),
				[]step{{inMinute(3, 80), spike("81", "8.00", "80.00")}}),
		},
		{
			name: "cooldown",
			steps: concat(quiet(perMinute(2, 0, 10)...), quiet(burst(10, 60)...),
				[]step{{inMinute(10, 60), spike("61", "2.00", "60.00")}},
				quiet(burst(11, 200)...)),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runSteps(t, mustDetector(t, tc.cfg), tc.steps)
		})
	}
}
