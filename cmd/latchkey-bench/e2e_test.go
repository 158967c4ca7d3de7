package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	var stdout, stderr strings.Builder
	err := run(ctx, []string{"--latchkey", bin, "--quick", "--json", jsonPath, "--out", mdPath}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("quick run: %v\n%s", err, stderr.String())
	}
	checkProgress(t, stderr.String())
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

// checkProgress reads the quick run's progress: every variant's server
// started from a data directory of its own and passed its seed check, and
// the measurements went round the variants, every one at c=1 before any at
// c=16.
func checkProgress(t *testing.T, progress string) {
	t.Helper()
	started := regexp.MustCompile(`(?m)^started (\S+) on (\S+) in \S+, seed check passed$`)
	dirs := map[string]string{}
	for _, m := range started.FindAllStringSubmatch(progress, -1) {
		if v, ok := dirs[m[2]]; ok {
			t.Errorf("%s and %s served the same data directory %s", v, m[1], m[2])
		}
		dirs[m[2]] = m[1]
	}
	byVariant := map[string]string{}
	for d, v := range dirs {
		byVariant[v] = d
	}
	for _, v := range []string{"keys=1/EdDSA", "keys=100/EdDSA", "revocations=0", "revocations=10000"} {
		if byVariant[v] == "" {
			t.Errorf("no server of %s started and passed its seed check; progress:\n%s", v, progress)
		}
	}
	if len(dirs) != 4 {
		t.Errorf("%d servers started, want 4: %v", len(dirs), dirs)
	}
	// The seed check of revocations=10000 found the check token revoked,
	// and that of revocations=0 found it active, on separate stores.
	if a, b := byVariant["revocations=0"], byVariant["revocations=10000"]; a == b {
		t.Errorf("revocations=0 and revocations=10000 both served %q", a)
	}
	measured := regexp.MustCompile(`(?m)^(\S+)\s+c=(\d+)\s+rep 1:`)
	var order []string
	lastC1, firstC16 := -1, -1
	for i, m := range measured.FindAllStringSubmatch(progress, -1) {
		order = append(order, m[1]+" c="+m[2])
		switch m[2] {
		case "1":
			lastC1 = i
		case "16":
			if firstC16 < 0 {
				firstC16 = i
			}
		}
	}
	if len(order) != 14 {
		t.Fatalf("%d measurements in the progress, want 14 (7 scenarios at 2 concurrencies): %v", len(order), order)
	}
	if firstC16 < lastC1 {
		t.Errorf("a c=16 measurement came before the last c=1 one, want each concurrency across every variant in turn: %v", order)
	}
	want := []string{"health", "exchange/EdDSA/keys=1", "exchange/EdDSA/keys=100",
		"introspect/distinct/revocations=0", "introspect/repeated/revocations=0",
		"introspect/distinct/revocations=10000", "introspect/repeated/revocations=10000"}
	for i, s := range want {
		if order[i] != s+" c=1" || order[i+len(want)] != s+" c=16" {
			t.Errorf("measurement order %v, want %v at c=1 and then at c=16", order, want)
			break
		}
	}
}
