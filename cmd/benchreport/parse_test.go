package main

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestParseSample(t *testing.T) {
	f, err := os.Open("testdata/sample.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out, err := parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if out.cpu != "AMD EPYC" || len(out.failed) != 0 {
		t.Fatalf("cpu %q, failed %q", out.cpu, out.failed)
	}
	counts := map[string]int{}
	for _, r := range out.results {
		counts[r.name]++
		if r.procs != 2 || r.iterations <= 0 || r.metrics["ns/op"] <= 0 || r.units[0] != "ns/op" {
			t.Errorf("%s: procs %d, iterations %d, units %v", r.name, r.procs, r.iterations, r.units)
		}
	}
	want := map[string]int{
		"BenchmarkRevocationPropagation":          2,
		"BenchmarkIntrospect/revocations=0":       2,
		"BenchmarkIntrospect/revocations=1000000": 2,
		"BenchmarkHealthCheck":                    2,
		"BenchmarkStartupLoad1M":                  2,
	}
	if !reflect.DeepEqual(counts, want) {
		t.Fatalf("runs per benchmark = %v, want %v", counts, want)
	}
	first := out.results[0]
	wantUnits := []string{"ns/op", "exchanges/s", "max_ms", "p50_ms", "p99_ms", "send_p50_ms", "send_p99_ms"}
	if !reflect.DeepEqual(first.units, wantUnits) {
		t.Fatalf("units = %v, want %v", first.units, wantUnits)
	}
}

func TestParseLines(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []result
		failed  int
		wantErr bool
	}{
		{
			name: "plain line",
			in:   "BenchmarkX-8   \t 100\t 2500 ns/op\t 12.5 p99_ms\n",
			want: []result{{name: "BenchmarkX", procs: 8, iterations: 100,
				metrics: map[string]float64{"ns/op": 2500, "p99_ms": 12.5}, units: []string{"ns/op", "p99_ms"}}},
		},
		{
			name: "no procs suffix and a sub-benchmark with a dash",
			in:   "BenchmarkY/mode=a-b 3 7 ns/op\n",
			want: []result{{name: "BenchmarkY/mode=a-b", procs: 1, iterations: 3,
				metrics: map[string]float64{"ns/op": 7}, units: []string{"ns/op"}}},
		},
		{
			name: "name split from its figures by log lines",
			in:   "BenchmarkZ-2   \t\nsome log line\n   42\t 1000 ns/op\n",
			want: []result{{name: "BenchmarkZ", procs: 2, iterations: 42,
				metrics: map[string]float64{"ns/op": 1000}, units: []string{"ns/op"}}},
		},
		{
			name: "headers, PASS and ok lines are ignored",
			in:   "goos: linux\ngoarch: amd64\npkg: x\nPASS\nok  \tx\t1.0s\n",
		},
		{
			name:   "failures are collected",
			in:     "--- FAIL: BenchmarkX\nFAIL\tx\t1.0s\n",
			failed: 2,
		},
		{name: "value without unit", in: "BenchmarkX-2 10 5 ns/op 7\n", wantErr: true},
		{name: "value not a number", in: "BenchmarkX-2 10 fast ns/op\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := parse(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if !reflect.DeepEqual(out.results, tt.want) || len(out.failed) != tt.failed {
				t.Fatalf("results = %+v, failed %q; want %+v and %d failures", out.results, out.failed, tt.want, tt.failed)
			}
			if out.raw != tt.in {
				t.Fatalf("raw = %q, want the input", out.raw)
			}
		})
	}
}

func TestCPUModel(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"first of several", "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: other\n", "AMD EPYC 7B13"},
		{"absent", "processor\t: 0\nflags\t: fpu\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cpuModel(strings.NewReader(tt.in)); got != tt.want {
				t.Fatalf("cpuModel = %q, want %q", got, tt.want)
			}
		})
	}
}
