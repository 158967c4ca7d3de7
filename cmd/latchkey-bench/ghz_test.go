package main

import (
	"errors"
	"fmt"
	"os"
	"testing"
)

func TestParseGhz(t *testing.T) {
	fixture, err := os.ReadFile("testdata/ghz-report.json")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		raw     string
		want    ghzResult
		wantErr error
	}{
		{name: "documented report", raw: string(fixture), want: ghzResult{
			Count: 1000, RPS: 499.5, P50US: 1750, P99US: 9250, Errors: 3,
			Statuses:   map[string]int{"OK": 997, "Unavailable": 2, "ResourceExhausted": 1},
			FirstError: "rpc error: code = ResourceExhausted desc = rate limited",
		}},
		{name: "all OK", raw: `{"count":10,"rps":5,"statusCodeDistribution":{"OK":10},"latencyDistribution":[{"percentage":50,"latency":1000},{"percentage":99,"latency":2000}]}`,
			want: ghzResult{Count: 10, RPS: 5, P50US: 1, P99US: 2, Statuses: map[string]int{"OK": 10}}},
		{name: "status without an error entry still counts", raw: `{"count":4,"rps":2,"statusCodeDistribution":{"OK":3,"Internal":1}}`,
			want: ghzResult{Count: 4, RPS: 2, Errors: 1, Statuses: map[string]int{"OK": 3, "Internal": 1}}},
		{name: "not JSON", raw: "Summary:\n  Count: 10", wantErr: errGhzReport},
		{name: "empty object", raw: `{}`, wantErr: errGhzReport},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseGhz([]byte(tc.raw))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestGhzConcurrency(t *testing.T) {
	cases := []struct {
		levels []int
		want   int
	}{
		{[]int{1, 16, 64, 256}, 64},
		{[]int{1, 16}, 16},
		{[]int{300, 2}, 300},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.levels), func(t *testing.T) {
			if got := ghzConcurrency(tc.levels); got != tc.want {
				t.Fatalf("ghzConcurrency(%v) = %d, want %d", tc.levels, got, tc.want)
			}
		})
	}
}
