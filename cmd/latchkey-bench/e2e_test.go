package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestQuickRunEndToEnd builds the real latchkey binary and runs the quick
// matrix against it, as `latchkey-bench --quick` would.
func TestQuickRunEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds latchkey and runs servers")
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc accounting on this system")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "latchkey")
	build := exec.Command("go", "build", "-o", bin, "github.com/latchkeyhq/latchkey/cmd/latchkey")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	jsonPath, mdPath := filepath.Join(dir, "report.json"), filepath.Join(dir, "report.md")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout strings.Builder
	err := run(ctx, []string{"--latchkey", bin, "--quick", "--json", jsonPath, "--out", mdPath}, &stdout, io.Discard)
	if err != nil {
		t.Fatalf("quick run: %v", err)
	}
	raw, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Results struct {
			Cells []struct {
				Scenario    string `json:"scenario"`
				Concurrency int    `json:"concurrency"`
				Runs        []struct {
					Requests   uint64  `json:"requests"`
					RPS        float64 `json:"rps"`
					Errors     uint64  `json:"errors"`
					CPUPerOpUS float64 `json:"server_cpu_us_per_op"`
					PeakRSS    uint64  `json:"server_peak_rss_bytes"`
					LoadRSS    uint64  `json:"server_load_rss_bytes"`
				} `json:"runs"`
			} `json:"cells"`
		} `json:"results"`
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("report JSON: %v", err)
	}
	want := []string{"health", "exchange/EdDSA/keys=1", "exchange/EdDSA/keys=100",
		"introspect/distinct/revocations=0", "introspect/repeated/revocations=0",
		"introspect/distinct/revocations=10000", "introspect/repeated/revocations=10000"}
	seen := map[string]int{}
	for _, c := range rep.Results.Cells {
		seen[c.Scenario]++
		if len(c.Runs) != 1 {
			t.Errorf("%s c=%d: %d runs, want 1", c.Scenario, c.Concurrency, len(c.Runs))
		}
		for _, r := range c.Runs {
			if r.Requests == 0 || r.RPS <= 0 || r.Errors != 0 || r.CPUPerOpUS <= 0 || r.PeakRSS == 0 || r.LoadRSS == 0 {
				t.Errorf("%s c=%d: requests %d, rps %v, errors %d, cpu/op %v µs, RSS under load %d, peak RSS %d; want calls, no errors, CPU and RSS measured",
					c.Scenario, c.Concurrency, r.Requests, r.RPS, r.Errors, r.CPUPerOpUS, r.LoadRSS, r.PeakRSS)
			}
		}
	}
	for _, s := range want {
		if seen[s] != 2 {
			t.Errorf("scenario %s ran at %d concurrencies, want 2 (1 and 16)", s, seen[s])
		}
		if !strings.Contains(stdout.String(), "### "+s+" ") {
			t.Errorf("markdown report has no table for %s", s)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("report has scenarios %v, want exactly %v", seen, want)
	}
	md, err := os.ReadFile(mdPath)
	if err != nil || string(md) != stdout.String() {
		t.Errorf("--out file differs from stdout (read error %v)", err)
	}
}
