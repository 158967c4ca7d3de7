package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/latchkeyhq/latchkey/cmd/latchkey/devstate"
)

// options are the command-line settings.
type options struct {
	latchkey, out, jsonOut, ghz string
	// profileDir, when set, receives a server CPU profile per scenario.
	profileDir       string
	duration, warmup time.Duration
	reps, conns      int
	concurrency      []int
	filter           *regexp.Regexp
	quick, keep      bool
	args             []string
}

// ghzDuration is how long each ghz run sends calls.
func (o *options) ghzDuration() time.Duration {
	if o.quick {
		return time.Second
	}
	return o.warmup + o.duration
}

const usageHead = `latchkey-bench starts a real latchkey server (the binary given by --latchkey)
as a child process on 127.0.0.1 for each store variant, seeds it (root keys
through the admin API, revocations straight into the store), checks it holds
what was seeded, drives it over mTLS gRPC at each concurrency, and reports
throughput, latency, errors, the server's CPU time per call and peak memory,
beside the cost of one signature or verification measured in the same run.
All variants' servers run together and each repetition goes round all of
them in turn, so that ratios between variants are of figures taken close
in time.

It exits non-zero when the harness is broken: the server does not start, a
seed or a seed check fails, ghz fails, or (with --quick) any call fails.
Timings never make it fail.

Flags:
`

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{args: args}
	fs := flag.NewFlagSet("latchkey-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageHead)
		fs.PrintDefaults()
	}
	var conc, scen string
	fs.StringVar(&o.latchkey, "latchkey", "", "path of the built latchkey binary to benchmark (required)")
	fs.StringVar(&o.out, "out", "", "write the markdown report to this file (it is printed to stdout as well)")
	fs.StringVar(&o.jsonOut, "json", "", "write the report as JSON to this file")
	fs.DurationVar(&o.duration, "duration", 4*time.Second, "measured window of each run")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "load before each measured window, not counted")
	fs.IntVar(&o.reps, "reps", 3, "repetitions of each scenario at each concurrency; the report gives min/median/max")
	fs.StringVar(&conc, "concurrency", "1,16,64,256", "comma-separated numbers of callers kept in flight")
	fs.IntVar(&o.conns, "conns", 4, "gRPC connections per client identity, shared round-robin by the callers")
	fs.StringVar(&scen, "scenarios", "", "regular expression; only scenarios whose name matches run (e.g. 'health|exchange/EdDSA/keys=1$|introspect')")
	fs.StringVar(&o.ghz, "ghz", "", "path of a ghz v0.120.0 binary; cross-checks exchange/EdDSA/keys=1 and introspect/repeated/revocations=0 with it")
	fs.BoolVar(&o.quick, "quick", false, "tiny matrix (health, exchange EdDSA keys=1 and 100, introspection with 0 and 10k revocations) at concurrency 1 and 16 for 300ms, 1 repetition: checks the harness in well under a minute")
	fs.StringVar(&o.profileDir, "profile-dir", "", "write a CPU profile of the server for each scenario at the highest concurrency into this folder (taken in one extra, unreported run, so the figures stay unperturbed); read with go tool pprof bin/latchkey FILE")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary folder (state, stores, configs, server logs) and print its path")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.latchkey == "" {
		return nil, errors.New("--latchkey is required")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		if !set["duration"] {
			o.duration = 300 * time.Millisecond
		}
		if !set["warmup"] {
			o.warmup = 100 * time.Millisecond
		}
		if !set["reps"] {
			o.reps = 1
		}
		if !set["concurrency"] {
			conc = "1,16"
		}
	}
	for _, part := range strings.Split(conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--concurrency %q: want positive integers separated by commas", conc)
		}
		o.concurrency = append(o.concurrency, n)
	}
	if o.reps < 1 || o.conns < 1 || o.duration <= 0 || o.warmup < 0 {
		return nil, errors.New("--reps and --conns must be at least 1, --duration positive, --warmup not negative")
	}
	if scen != "" {
		re, err := regexp.Compile(scen)
		if err != nil {
			return nil, fmt.Errorf("--scenarios: %w", err)
		}
		o.filter = re
	}
	return o, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "latchkey-bench:", err)
		os.Exit(1)
	}
}

// run is the whole command: stdout receives the report, stderr progress.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	plan := buildPlan(o.quick, o.filter)
	if len(plan) == 0 {
		return errors.New("--scenarios matches no scenario")
	}
	started := time.Now()
	tmp, err := os.MkdirTemp("", "latchkey-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(stderr, "keeping", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	st, err := devstate.Ensure(filepath.Join(tmp, "state"), time.Now())
	if err != nil {
		return fmt.Errorf("%w: dev state: %w", errHarness, err)
	}
	fmt.Fprintf(stderr, "scenarios: %s\n", strings.Join(scenarioNames(plan), ", "))
	floorReps, floorTime := 5, 300*time.Millisecond
	if o.quick {
		floorReps, floorTime = 3, 30*time.Millisecond
	}
	var samples floorSamples
	if err := samples.sample(floorReps, floorTime); err != nil {
		return err
	}
	res, err := runMatrix(ctx, o, st, tmp, plan, stderr)
	if err != nil {
		return err
	}
	if err := samples.sample(floorReps, floorTime); err != nil {
		return err
	}
	floor := samples.result()
	revs := fullRevs
	if o.quick {
		revs = quickRevs
	}
	arch, model, cores := machine()
	rep := &report{
		Date: started.UTC(), Arch: arch, CPU: model, Cores: cores, GoVersion: runtimeVersion(),
		Command: commandLine(o.args),
		Settings: settings{Duration: o.duration.String(), Warmup: o.warmup.String(), Reps: o.reps, Conns: o.conns,
			Concurrency: o.concurrency, Quick: o.quick},
		Floor: floor, Results: res, Targets: evaluate(res, floor, revs), Took: time.Since(started).Round(time.Second).String(),
	}
	if o.filter != nil {
		rep.Settings.Scenarios = o.filter.String()
	}
	var md strings.Builder
	rep.writeMarkdown(&md)
	fmt.Fprint(stdout, md.String())
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(md.String()), 0o644); err != nil {
			return err
		}
	}
	if o.jsonOut != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if o.quick {
		return quickFailures(res)
	}
	return nil
}

// quickFailures is the harness check of --quick: every call must succeed
// and every scenario must have completed calls.
func quickFailures(res *results) error {
	var errs []error
	for _, c := range res.Cells {
		for _, r := range c.Runs {
			if r.Errors > 0 {
				errs = append(errs, fmt.Errorf("%s c=%d: %d errors, first: %s", c.Scenario, c.Concurrency, r.Errors, r.FirstError))
			}
			if r.Requests == 0 {
				errs = append(errs, fmt.Errorf("%s c=%d: no call completed", c.Scenario, c.Concurrency))
			}
		}
	}
	for _, g := range res.Ghz {
		if g.Errors > 0 || g.Count == 0 {
			errs = append(errs, fmt.Errorf("ghz %s: %d calls, %d errors: %s", g.Scenario, g.Count, g.Errors, g.FirstError))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", errHarness, errors.Join(errs...))
	}
	return nil
}

// commandLine is the invocation as a shell would take it back.
func commandLine(args []string) string {
	parts := []string{"latchkey-bench"}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$|&;()<>*?[]\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(slices.Clip(parts), " ")
}
