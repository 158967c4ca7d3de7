package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/latchkeyhq/latchkey/cmd/latchkey/devstate"
)

// The scenarios ghz cross-checks.
const (
	ghzExchange   = "exchange/EdDSA/keys=1"
	ghzIntrospect = "introspect/repeated/revocations=0"
)

// ghzResult is one ghz run beside the driver's own figure for the same
// scenario and concurrency.
type ghzResult struct {
	Scenario    string         `json:"scenario"`
	Concurrency int            `json:"concurrency"`
	Connections int            `json:"connections"`
	Duration    time.Duration  `json:"duration_ns"`
	Count       uint64         `json:"count"`
	RPS         float64        `json:"rps"`
	P50US       float64        `json:"p50_us"`
	P99US       float64        `json:"p99_us"`
	Errors      uint64         `json:"errors"`
	Statuses    map[string]int `json:"status_distribution"`
	FirstError  string         `json:"first_error,omitempty"`
}

// ghzReport is the part of ghz's --format json report read here: counts,
// throughput, latencies in nanoseconds, and the error and status-code
// distributions.
type ghzReport struct {
	Count          uint64         `json:"count"`
	Total          int64          `json:"total"`
	RPS            float64        `json:"rps"`
	ErrorDist      map[string]int `json:"errorDistribution"`
	StatusCodeDist map[string]int `json:"statusCodeDistribution"`
	LatencyDist    []struct {
		Percentage int   `json:"percentage"`
		Latency    int64 `json:"latency"`
	} `json:"latencyDistribution"`
}

var errGhzReport = errors.New("unreadable ghz report")

// parseGhz reads a ghz JSON report. Errors count every call ghz did not see
// end in OK: the error distribution and any non-OK status.
func parseGhz(raw []byte) (ghzResult, error) {
	var rep ghzReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		return ghzResult{}, fmt.Errorf("%w: %v", errGhzReport, err)
	}
	if rep.Count == 0 && len(rep.LatencyDist) == 0 && rep.RPS == 0 && rep.StatusCodeDist == nil {
		return ghzResult{}, fmt.Errorf("%w: no count, rps or distributions", errGhzReport)
	}
	r := ghzResult{Count: rep.Count, RPS: rep.RPS, Statuses: rep.StatusCodeDist}
	for _, l := range rep.LatencyDist {
		switch l.Percentage {
		case 50:
			r.P50US = float64(l.Latency) / 1e3
		case 99:
			r.P99US = float64(l.Latency) / 1e3
		}
	}
	var fromStatus uint64
	for code, n := range rep.StatusCodeDist {
		if code != "OK" {
			fromStatus += uint64(n)
		}
	}
	var fromErrors uint64
	keys := make([]string, 0, len(rep.ErrorDist))
	for msg, n := range rep.ErrorDist {
		fromErrors += uint64(n)
		keys = append(keys, msg)
	}
	slices.Sort(keys)
	if len(keys) > 0 {
		r.FirstError = keys[0]
	}
	r.Errors = max(fromStatus, fromErrors)
	return r, nil
}

// ghzConcurrency is 64 when the run includes it, else the largest asked for,
// so that ghz always has a driver figure to stand beside.
func ghzConcurrency(levels []int) int {
	if slices.Contains(levels, 64) {
		return 64
	}
	return slices.Max(levels)
}

// runGhz runs ghz for one scenario against the running server, bounded by
// -z and by a process deadline.
func runGhz(ctx context.Context, o *options, st devstate.State, addr, scenario string, env *phaseEnv, tmp string) (ghzResult, error) {
	dur := o.ghzDuration()
	conc := ghzConcurrency(o.concurrency)
	call, data, cert, key := "", "", st.WorkloadCertFile, st.WorkloadKeyFile
	switch scenario {
	case ghzExchange:
		call = "latchkey.v1.TokenService/ExchangeToken"
		data = mustJSON(map[string]string{"root_key": env.keys[0]})
	case ghzIntrospect:
		call = "latchkey.v1.TokenService/IntrospectToken"
		data = mustJSON(map[string]string{"token": env.pool[0].token})
		cert, key = st.AdminCertFile, st.AdminKeyFile
	default:
		return ghzResult{}, fmt.Errorf("no ghz call for %s", scenario)
	}
	// The request carries a root key or a token: a 0600 file, not argv.
	dataFile := filepath.Join(tmp, "ghz-data.json")
	if err := os.WriteFile(dataFile, []byte(data), 0o600); err != nil {
		return ghzResult{}, err
	}
	defer os.Remove(dataFile)
	protoDir, err := protoRoot()
	if err != nil {
		return ghzResult{}, err
	}
	args := []string{
		"--proto", filepath.Join(protoDir, "latchkey", "v1", "token.proto"),
		"--import-paths", protoDir,
		"--call", call,
		"--data-file", dataFile,
		"--cacert", st.CAFile, "--cert", cert, "--key", key,
		"--concurrency", strconv.Itoa(conc),
		"--connections", strconv.Itoa(o.conns),
		"--duration", dur.String(),
		// Calls in flight at the end finish and count, rather than being cut
		// off and reported as errors.
		"--duration-stop", "wait",
		"--timeout", callTimeout.String(),
		"--format", "json",
		addr,
	}
	cctx, cancel := context.WithTimeout(ctx, dur+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, o.ghz, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return ghzResult{}, fmt.Errorf("%s: %w: %s", o.ghz, err, bytes.TrimSpace(stderr.Bytes()))
	}
	r, err := parseGhz(stdout.Bytes())
	if err != nil {
		return ghzResult{}, err
	}
	r.Scenario, r.Concurrency, r.Connections, r.Duration = scenario, conc, o.conns, dur
	return r, nil
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// protoRoot finds the repository's proto/ folder from the working
// directory upwards, so the driver works from the root or from its own
// package folder (as its tests run).
func protoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "proto")
		if _, err := os.Stat(filepath.Join(p, "latchkey", "v1", "token.proto")); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no proto/latchkey/v1/token.proto in the working directory or above; run from the repository")
		}
		dir = parent
	}
}
