package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// report is the whole output, written as markdown and as JSON.
type report struct {
	Date      time.Time   `json:"date"`
	Arch      string      `json:"arch"`
	CPU       string      `json:"cpu_model"`
	Cores     int         `json:"cores"`
	GoVersion string      `json:"go_version"`
	Command   string      `json:"command"`
	Settings  settings    `json:"settings"`
	Floor     floorResult `json:"floor"`
	Results   *results    `json:"results"`
	Targets   []target    `json:"targets"`
	Took      string      `json:"took"`
}

type settings struct {
	Duration    string `json:"duration"`
	Warmup      string `json:"warmup"`
	Reps        int    `json:"reps"`
	Conns       int    `json:"conns"`
	Concurrency []int  `json:"concurrency"`
	Quick       bool   `json:"quick"`
	Scenarios   string `json:"scenarios,omitempty"`
}

// num is a float that encodes NaN and infinities (a figure not measured) as
// JSON null.
type num float64

func (n num) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(n)) || math.IsInf(float64(n), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(n))
}

func (s spread) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Min    num `json:"min"`
		Median num `json:"median"`
		Max    num `json:"max"`
	}{num(s.Min), num(s.Median), num(s.Max)})
}

func (t target) MarshalJSON() ([]byte, error) {
	type plain target
	return json.Marshal(struct {
		plain
		Value num `json:"value"`
	}{plain(t), num(t.Value)})
}

// machine describes the host: architecture, CPU model and core count.
func machine() (arch, model string, cores int) {
	arch = runtime.GOARCH
	if out, err := exec.Command("uname", "-m").Output(); err == nil {
		arch = strings.TrimSpace(string(out))
	}
	model = "unknown"
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(raw))
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return arch, model, runtime.NumCPU()
}

func fmtSpread(s spread, prec int) string {
	if math.IsNaN(s.Median) {
		return "–"
	}
	f := func(x float64) string { return fmt.Sprintf("%.*f", prec, x) }
	return f(s.Min) + " / **" + f(s.Median) + "** / " + f(s.Max)
}

func fmtNum(x float64, prec int) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "–"
	}
	return fmt.Sprintf("%.*f", prec, x)
}

// writeMarkdown renders the report.
func (r *report) writeMarkdown(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("# Latchkey load benchmark\n\n")
	p("- Date: %s\n- Machine: %s, %s, %d cores (client and server share them)\n- Go: %s\n- Command: `%s`\n",
		r.Date.Format(time.RFC3339), r.Arch, r.CPU, r.Cores, r.GoVersion, r.Command)
	s := r.Settings
	p("- Settings: duration %s after a %s warm-up, %d repetitions, %d gRPC connections per identity (mTLS), concurrency %v, quick %v\n",
		s.Duration, s.Warmup, s.Reps, s.Conns, s.Concurrency, s.Quick)
	p("- Server: `latchkey serve` child process, audit trail on, synced store, log level warn, limits raised out of the way\n- Total time: %s\n\n", r.Took)
	p("Every variant's server runs alongside the others, and each repetition takes every scenario at every concurrency across them in turn before the next repetition starts, so that figures of different variants compared in a ratio are taken close in time. Cells are min / **median** / max over repetitions. Server CPU is utime+stime of the server process from /proc/<pid>/stat over the measured window (10 ms resolution), divided by the calls completed in it. RSS under load is the largest VmRSS of the server sampled every 50 ms while the run's load was on.\n\n")

	p("## Seeding\n\n| store | what | took |\n|---|---|---|\n")
	for _, sd := range r.Results.Seeds {
		p("| %s | %s | %s |\n", sd.Store, sd.What, sd.Took.Round(time.Millisecond))
	}
	p("\n## Server processes\n\nRSS under load is the largest VmRSS sampled every 50 ms while load ran, split into anonymous\nand file-backed pages: file-backed pages are the store's memory-mapped files, which the kernel\ncan drop under pressure. Peak since start is VmHWM, start-up included.\n\n| variant | start until TLS accepted | RSS under load (MB) | anonymous (MB) | file-backed (MB) | peak since start (MB) |\n|---|---|---|---|---|---|\n")
	mb := func(b uint64) float64 { return float64(b) / (1 << 20) }
	for _, ph := range r.Results.Phases {
		p("| %s | %s | %.1f | %.1f | %.1f | %.1f |\n", ph.Variant, ph.StartTook.Round(time.Millisecond), mb(ph.LoadRSS),
			mb(ph.LoadAnon), mb(ph.LoadFile), mb(ph.PeakRSS))
	}
	f := r.Floor
	p("\n## Floor (%s)\n\n| operation | µs (median) | min | max |\n|---|---|---|---|\n", f.note())
	for _, op := range []struct {
		name   string
		median float64
		s      spread
	}{{"EdDSA sign", f.EdDSASignUS, f.EdDSASign}, {"EdDSA verify", f.EdDSAVerifyUS, f.EdDSAVerify},
		{"ES256 sign", f.ES256SignUS, f.ES256Sign}, {"ES256 verify", f.ES256VerifyUS, f.ES256Verify}} {
		p("| %s | %.2f | %.2f | %.2f |\n", op.name, op.median, op.s.Min, op.s.Max)
	}

	p("\n## Scenarios\n")
	var last string
	for _, c := range r.Results.Cells {
		if c.Scenario != last {
			last = c.Scenario
			p("\n### %s (server: %s)\n\n| c | rps | p50 µs | p99 µs | p99.9 µs | errors | server CPU µs/op | RSS under load MB |\n|---|---|---|---|---|---|---|---|\n", c.Scenario, c.Variant)
		}
		p("| %d | %s | %s | %s | %s | %s | %s | %s |\n", c.Concurrency, fmtSpread(c.RPS, 0), fmtSpread(c.P50US, 0),
			fmtSpread(c.P99US, 0), fmtSpread(c.P999US, 0), fmtSpread(c.Errors, 0), fmtSpread(c.CPUPerOpUS, 1), fmtSpread(c.PeakRSSMB, 0))
		if c.FirstError != "" {
			p("| | first error: `%s` | | | | | | |\n", strings.ReplaceAll(c.FirstError, "|", "/"))
		}
	}
	if len(r.Results.Ghz) > 0 {
		p("\n## ghz cross-check\n\n| scenario | c | conns | ghz rps | driver rps (median) | ghz ÷ driver | ghz p50 / p99 µs | driver p50 / p99 µs | ghz errors | statuses |\n|---|---|---|---|---|---|---|---|---|---|\n")
		for _, g := range r.Results.Ghz {
			drps, dp50, dp99 := math.NaN(), math.NaN(), math.NaN()
			if c := r.Results.find(g.Scenario, g.Concurrency); c != nil {
				drps, dp50, dp99 = c.RPS.Median, c.P50US.Median, c.P99US.Median
			}
			p("| %s | %d | %d | %.0f | %s | %s | %.0f / %.0f | %s / %s | %d | %s |\n", g.Scenario, g.Concurrency, g.Connections,
				g.RPS, fmtNum(drps, 0), fmtNum(g.RPS/drps, 2), g.P50US, g.P99US, fmtNum(dp50, 0), fmtNum(dp99, 0), g.Errors, fmtStatuses(g.Statuses))
			if g.FirstError != "" {
				p("| | first error: `%s` | | | | | | | | |\n", strings.ReplaceAll(g.FirstError, "|", "/"))
			}
		}
	}
	p("\n## Ratios and targets (medians)\n\n| target | figures | value | limit | verdict |\n|---|---|---|---|---|\n")
	for _, t := range r.Targets {
		limit := "–"
		if t.Op != "" {
			limit = t.Op + " " + fmtNum(t.Limit, 2)
		}
		p("| %s | %s | %s | %s | %s |\n", t.Name, t.Figures, fmtNum(t.Value, 2), limit, t.Verdict)
	}
}

func runtimeVersion() string { return runtime.Version() }

// fmtStatuses lists a status-code distribution in code order.
func fmtStatuses(m map[string]int) string {
	parts := make([]string, 0, len(m))
	for code, n := range m {
		parts = append(parts, fmt.Sprintf("%s %d", code, n))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}
