package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestSpread(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want stat
	}{
		{"one", []float64{5}, stat{5, 5, 5, 1}},
		{"odd", []float64{9, 1, 4}, stat{1, 4, 9, 3}},
		{"even takes the mean of the middle two", []float64{4, 1, 3, 10}, stat{1, 3.5, 10, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := spread(tt.in); got != tt.want {
				t.Fatalf("spread(%v) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

const reportInput = `cpu: Test CPU
BenchmarkIntrospect/revocations=0-2 100 1000 ns/op 1000 ops/s
BenchmarkIntrospect/revocations=1000000-2 100 1250 ns/op 800 ops/s
BenchmarkHealthCheck-2 100 250 ns/op 4000 ops/s
BenchmarkIntrospect/revocations=0-2 100 1200 ns/op 900 ops/s
BenchmarkIntrospect/revocations=1000000-2 100 1250 ns/op 810 ops/s
BenchmarkHealthCheck-2 100 500 ns/op 2000 ops/s
BenchmarkIntrospect/revocations=0-2 100 1100 ns/op 950 ops/s
BenchmarkIntrospect/revocations=1000000-2 100 1300 ns/op 760 ops/s
BenchmarkHealthCheck-2 100 300 ns/op 3000 ops/s
`

func TestRunReport(t *testing.T) {
	var out bytes.Buffer
	err := run([]string{"-cmd", "go test -bench X", "-raw=false"}, strings.NewReader(reportInput), &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"- Command: `go test -bench X`\n",
		"| BenchmarkIntrospect/revocations=0 | ns/op | 1000 | 1100 | 1200 | 3 |\n",
		"| BenchmarkIntrospect/revocations=0 | ops/s | 900 | 950 | 1000 | 3 |\n",
		"| BenchmarkHealthCheck | ns/op | 250 | 300 | 500 | 3 |\n",
		// 800/950 and 1250/1100: the default ratio.
		"| BenchmarkIntrospect/revocations=1000000 | BenchmarkIntrospect/revocations=0 | ops/s | 0.842 |\n",
		"| BenchmarkIntrospect/revocations=1000000 | BenchmarkIntrospect/revocations=0 | ns/op | 1.136 |\n",
		// Each against the baseline: 1100/300 and 950/3000.
		"| BenchmarkIntrospect/revocations=0 | BenchmarkHealthCheck | ns/op | 3.667 |\n",
		"| BenchmarkIntrospect/revocations=0 | BenchmarkHealthCheck | ops/s | 0.317 |\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(got, "Raw output") || strings.Contains(got, "| BenchmarkHealthCheck | BenchmarkHealthCheck |") {
		t.Errorf("report has the raw block or the baseline against itself:\n%s", got)
	}
	if t.Failed() {
		t.Logf("report:\n%s", got)
	}
}

func TestRunRefuses(t *testing.T) {
	tests := []struct {
		name, in string
		args     []string
		wantErr  string
	}{
		{"failed run", reportInput + "--- FAIL: BenchmarkHealthCheck\n", nil, "run failed"},
		{"no results", "goos: linux\nPASS\n", nil, "no benchmark results"},
		{"bad ratio flag", reportInput, []string{"-ratio", "onlyone"}, "NUMERATOR:DENOMINATOR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(tt.args, strings.NewReader(tt.in), &out, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if out.Len() != 0 {
				t.Fatalf("wrote a report for a refused input:\n%s", out.String())
			}
		})
	}
}

func TestMissingRatioBenchmark(t *testing.T) {
	var out bytes.Buffer
	in := "BenchmarkHealthCheck-2 100 250 ns/op\n"
	if err := run([]string{"-raw=false"}, strings.NewReader(in), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	want := "| BenchmarkIntrospect/revocations=1000000 | BenchmarkIntrospect/revocations=0 | — | not measured |\n"
	if !strings.Contains(out.String(), want) {
		t.Fatalf("report lacks %q:\n%s", want, out.String())
	}
}
