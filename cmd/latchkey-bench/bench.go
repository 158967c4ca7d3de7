package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"time"

	"github.com/latchkeyhq/latchkey/cmd/latchkey/devstate"
)

// maxRequestsPerRun bounds one measured window in count as --duration
// bounds it in time.
const maxRequestsPerRun = 50_000_000

// callTimeout is each call's deadline.
const callTimeout = 10 * time.Second

// errHarness marks failures that mean the harness, not the server's speed,
// is at fault: the server did not start, a seed or a check failed.
var errHarness = errors.New("harness failure")

// cell is one scenario at one concurrency, over every repetition.
type cell struct {
	Scenario    string      `json:"scenario"`
	Variant     string      `json:"variant"`
	Concurrency int         `json:"concurrency"`
	Runs        []runResult `json:"runs"`
	RPS         spread      `json:"rps"`
	P50US       spread      `json:"p50_us"`
	P99US       spread      `json:"p99_us"`
	P999US      spread      `json:"p999_us"`
	Errors      spread      `json:"errors"`
	CPUPerOpUS  spread      `json:"server_cpu_us_per_op"`
	PeakRSSMB   spread      `json:"server_load_rss_mb"`
	FirstError  string      `json:"first_error,omitempty"`
}

func (c *cell) summarise() {
	pick := func(f func(r runResult) float64) spread {
		xs := make([]float64, len(c.Runs))
		for i, r := range c.Runs {
			xs[i] = f(r)
		}
		return spreadOf(xs)
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	c.RPS = pick(func(r runResult) float64 { return r.RPS })
	c.P50US = pick(func(r runResult) float64 { return us(r.P50) })
	c.P99US = pick(func(r runResult) float64 { return us(r.P99) })
	c.P999US = pick(func(r runResult) float64 { return us(r.P999) })
	c.Errors = pick(func(r runResult) float64 { return float64(r.Errors) })
	c.CPUPerOpUS = pick(func(r runResult) float64 {
		if r.Requests == 0 {
			return math.NaN()
		}
		return r.CPUPerOpUS
	})
	c.PeakRSSMB = pick(func(r runResult) float64 { return float64(r.LoadRSS) / (1 << 20) })
	for _, r := range c.Runs {
		if r.FirstError != "" {
			c.FirstError = r.FirstError
			break
		}
	}
}

// phaseResult is what one server process showed over its phase.
type phaseResult struct {
	Variant   string        `json:"variant"`
	StartTook time.Duration `json:"start_ns"`
	// PeakRSS is VmHWM: the largest resident set since the process
	// started, start-up (loading every key record) included.
	PeakRSS uint64 `json:"peak_rss_bytes"`
	// LoadRSS is the largest resident set sampled while load ran, and
	// LoadAnon and LoadFile split that sample.
	LoadRSS  uint64 `json:"load_rss_bytes"`
	LoadAnon uint64 `json:"load_rss_anon_bytes"`
	LoadFile uint64 `json:"load_rss_file_bytes"`
}

// seedResult is how long one seeding step took.
type seedResult struct {
	Store string        `json:"store"`
	What  string        `json:"what"`
	Took  time.Duration `json:"took_ns"`
}

// results is everything the matrix measured.
type results struct {
	Cells  []*cell       `json:"cells"`
	Phases []phaseResult `json:"phases"`
	Seeds  []seedResult  `json:"seeds"`
	Ghz    []ghzResult   `json:"ghz,omitempty"`
}

func (r *results) find(scenario string, conc int) *cell {
	for _, c := range r.Cells {
		if c.Scenario == scenario && c.Concurrency == conc {
			return c
		}
	}
	return nil
}

// phaseRun is one phase's server and what its scenarios need, alive from
// before the matrix's first measurement until after its last.
type phaseRun struct {
	ph phasePlan
	// dataDir is the phase's own copy of its store: two servers cannot
	// open one Badger directory.
	dataDir string
	env     *phaseEnv
	check   mintedToken
	srv     *serverProc
	started time.Duration
}

// runMatrix seeds every store of the plan, starts a server for every phase
// on a data directory of its own, and keeps them all serving while it takes
// the measurements in schedule's order: each repetition of every cell close
// in time to the same repetition of every other cell, so that the machine's
// drift over minutes falls on both sides of a ratio between phases alike.
// Profiles and ghz runs follow, phase by phase. progress receives one line
// per step.
func runMatrix(ctx context.Context, o *options, st devstate.State, tmp string, plan []storePlan, progress io.Writer) (res *results, err error) {
	res = &results{}
	var runs []*phaseRun
	for _, sp := range plan {
		rs, err := prepareStore(ctx, o, st, tmp, sp, res, progress)
		if err != nil {
			return res, err
		}
		runs = append(runs, rs...)
	}
	// Every server started is stopped, whatever failed.
	defer func() {
		for _, r := range runs {
			if r.env.conns != nil {
				r.env.conns.close()
			}
			if r.srv == nil {
				continue
			}
			if serr := r.srv.stop(); err == nil && serr != nil {
				err = fmt.Errorf("%w: %s: %w", errHarness, r.ph.variant, serr)
			}
		}
	}()
	for _, r := range runs {
		if err := startPhase(ctx, o, st, tmp, r, progress); err != nil {
			return res, err
		}
	}
	if err := measure(ctx, o, runs, res, progress); err != nil {
		return res, err
	}
	for _, r := range runs {
		if err := runExtras(ctx, o, st, r, res, progress); err != nil {
			return res, err
		}
	}
	for _, r := range runs {
		res.Phases = append(res.Phases, phaseMemory(r, res))
	}
	return res, nil
}

// prepareStore seeds sp through a server of its own, gives every phase but
// the first a copy of the seeded directory, and imports each phase's
// revocations into that phase's directory alone.
func prepareStore(ctx context.Context, o *options, st devstate.State, tmp string, sp storePlan, res *results, progress io.Writer) ([]*phaseRun, error) {
	seeded := filepath.Join(tmp, dirName(sp.name))
	env := &phaseEnv{}
	var check mintedToken
	// Seeding runs on its own server process, so that each phase's peak RSS
	// is what serving cost, not what creating the keys did.
	if err := seedStore(ctx, o, st, tmp, seeded, sp, env, &check, res, progress); err != nil {
		return nil, err
	}
	runs := make([]*phaseRun, len(sp.phases))
	for i, ph := range sp.phases {
		r := &phaseRun{ph: ph, dataDir: seeded, check: check, env: &phaseEnv{keys: env.keys, pool: env.pool}}
		if i > 0 {
			r.dataDir = filepath.Join(tmp, dirName(ph.variant))
			t0 := time.Now()
			if err := copyDir(seeded, r.dataDir); err != nil {
				return nil, fmt.Errorf("%w: copy store %s for %s: %w", errHarness, sp.name, ph.variant, err)
			}
			fmt.Fprintf(progress, "copied store %s for %s in %s\n", sp.name, ph.variant, time.Since(t0).Round(time.Millisecond))
		}
		runs[i] = r
	}
	// Copies come first: each is of the store as seeded, before any import.
	for _, r := range runs {
		n := r.ph.revocations
		if n == 0 {
			continue
		}
		t0 := time.Now()
		if err := importRevocations(ctx, st, r.dataDir, n, check.jti); err != nil {
			return nil, fmt.Errorf("%w: seed %d revocations: %w", errHarness, n, err)
		}
		res.Seeds = append(res.Seeds, seedResult{sp.name, fmt.Sprintf("%d revocations (direct import)", n), time.Since(t0)})
		fmt.Fprintf(progress, "seeded %d revocations into %s in %s\n", n, r.ph.variant, time.Since(t0).Round(time.Millisecond))
	}
	return runs, nil
}

// startPhase starts r's server, dials it and checks that it holds what was
// seeded.
func startPhase(ctx context.Context, o *options, st devstate.State, tmp string, r *phaseRun, progress io.Writer) error {
	t0 := time.Now()
	srv, err := startServer(ctx, o.latchkey, st, tmp, r.dataDir, r.ph.alg, o.profileDir != "")
	if err != nil {
		return fmt.Errorf("%w: %s: %w", errHarness, r.ph.variant, err)
	}
	r.srv, r.started = srv, time.Since(t0)
	c, err := dialConns(st, srv.addr, o.conns)
	if err != nil {
		return fmt.Errorf("%w: %s: dial: %w", errHarness, r.ph.variant, err)
	}
	r.env.conns = c
	if err := verifyPhase(ctx, c, r.env, r.ph, r.check); err != nil {
		return fmt.Errorf("%w: %s: seed check: %w", errHarness, r.ph.variant, err)
	}
	fmt.Fprintf(progress, "started %s on %s in %s, seed check passed\n", r.ph.variant, filepath.Base(r.dataDir), r.started.Round(time.Millisecond))
	return nil
}

// measure takes every measurement of the matrix in schedule's order, each
// against its own phase's server while the others idle, and summarises the
// cells once all repetitions are in.
func measure(ctx context.Context, o *options, runs []*phaseRun, res *results, progress io.Writer) error {
	// Cells are made in plan order, so the report lists them as before; a
	// concurrency given twice adds runs to one cell.
	type key struct{ phase, scenario, conc int }
	cells := map[key]*cell{}
	counts := make([]int, len(runs))
	for i, r := range runs {
		counts[i] = len(r.ph.scenarios)
		for j, sc := range r.ph.scenarios {
			for _, conc := range o.concurrency {
				if cells[key{i, j, conc}] == nil {
					cl := &cell{Scenario: sc.name, Variant: r.ph.variant, Concurrency: conc}
					cells[key{i, j, conc}] = cl
					res.Cells = append(res.Cells, cl)
				}
			}
		}
	}
	for _, s := range schedule(o.reps, o.concurrency, counts) {
		r, sc := runs[s.phase], runs[s.phase].ph.scenarios[s.scenario]
		cl := cells[key{s.phase, s.scenario, s.conc}]
		spec := loadSpec{concurrency: s.conc, warmup: o.warmup, duration: o.duration, maxRequests: maxRequestsPerRun, callTimeout: callTimeout}
		stop, sampled := make(chan struct{}), make(chan rssSample, 1)
		go func() { sampled <- sampleRSS(r.srv.pid(), stop) }()
		rr, err := runLoad(ctx, spec, func(w int) caller { return sc.newCaller(r.env, w) },
			func() (time.Duration, error) { return processCPU(r.srv.pid()) })
		close(stop)
		peak := <-sampled
		if err != nil {
			return fmt.Errorf("%s c=%d: %w", sc.name, s.conc, err)
		}
		rr.PeakRSS, _ = processPeakRSS(r.srv.pid())
		rr.LoadRSS, rr.LoadAnon, rr.LoadFile = peak.total, peak.anon, peak.file
		cl.Runs = append(cl.Runs, rr)
		fmt.Fprintf(progress, "%-40s c=%-4d rep %d: %9.0f rps  p50 %7.0fµs  p99 %7.0fµs  cpu %6.1fµs/op  errors %d\n",
			sc.name, s.conc, s.rep+1, rr.RPS, us(rr.P50), us(rr.P99), rr.CPUPerOpUS, rr.Errors)
	}
	for _, c := range res.Cells {
		c.summarise()
	}
	return nil
}

// runExtras takes r's profiles, at the highest concurrency of each
// scenario, and its ghz cross-checks.
func runExtras(ctx context.Context, o *options, st devstate.State, r *phaseRun, res *results, progress io.Writer) error {
	if o.profileDir != "" {
		conc := o.concurrency[len(o.concurrency)-1]
		for _, sc := range r.ph.scenarios {
			if err := profileScenario(ctx, o, r.srv, sc, conc, r.env); err != nil {
				return fmt.Errorf("%w: profile %s: %w", errHarness, sc.name, err)
			}
		}
	}
	for _, g := range r.ph.ghz {
		if o.ghz == "" {
			break
		}
		gr, err := runGhz(ctx, o, st, r.srv.addr, g, r.env, filepath.Dir(r.srv.logPath))
		if err != nil {
			return fmt.Errorf("%w: ghz %s: %w", errHarness, g, err)
		}
		res.Ghz = append(res.Ghz, gr)
		fmt.Fprintf(progress, "ghz %-36s c=%-4d: %9.0f rps  p50 %7.0fµs  p99 %7.0fµs  errors %d\n",
			g, gr.Concurrency, gr.RPS, gr.P50US, gr.P99US, gr.Errors)
	}
	return nil
}

// phaseMemory is what r's server showed: its start-up time, its peak
// resident set since start, and the largest sample of its measured runs.
func phaseMemory(r *phaseRun, res *results) phaseResult {
	pr := phaseResult{Variant: r.ph.variant, StartTook: r.started}
	if rss, err := processPeakRSS(r.srv.pid()); err == nil {
		pr.PeakRSS = rss
	}
	for _, c := range res.Cells {
		if c.Variant != r.ph.variant {
			continue
		}
		for _, run := range c.Runs {
			if run.LoadRSS > pr.LoadRSS {
				pr.LoadRSS, pr.LoadAnon, pr.LoadFile = run.LoadRSS, run.LoadAnon, run.LoadFile
			}
		}
	}
	return pr
}

// seedStore creates the store's root keys and token pool through a server
// of its own, stopped afterwards.
func seedStore(ctx context.Context, o *options, st devstate.State, tmp, dataDir string, sp storePlan,
	env *phaseEnv, check *mintedToken, res *results, progress io.Writer) error {
	srv, err := startServer(ctx, o.latchkey, st, tmp, dataDir, sp.phases[0].alg, false)
	if err != nil {
		return fmt.Errorf("%w: seed %s: %w", errHarness, sp.name, err)
	}
	c, err := dialConns(st, srv.addr, o.conns)
	if err == nil {
		err = seedKeysAndTokens(ctx, c, sp, env, check, res, progress)
		c.close()
	} else {
		err = fmt.Errorf("%w: dial: %w", errHarness, err)
	}
	if serr := srv.stop(); err == nil && serr != nil {
		err = fmt.Errorf("%w: seed %s: %w", errHarness, sp.name, serr)
	}
	return err
}

func seedKeysAndTokens(ctx context.Context, c *conns, sp storePlan, env *phaseEnv, check *mintedToken, res *results, progress io.Writer) error {
	t0 := time.Now()
	keys, err := createKeys(ctx, c, sp.keys)
	if err != nil {
		return fmt.Errorf("%w: seed keys: %w", errHarness, err)
	}
	env.keys = keys
	res.Seeds = append(res.Seeds, seedResult{sp.name, fmt.Sprintf("%d root keys (admin API)", sp.keys), time.Since(t0)})
	fmt.Fprintf(progress, "seeded %d root keys into %s in %s\n", sp.keys, sp.name, time.Since(t0).Round(time.Millisecond))
	if sp.pool == 0 {
		return nil
	}
	t0 = time.Now()
	toks, err := mintTokens(ctx, c, keys[0], sp.pool+1)
	if err != nil {
		return fmt.Errorf("%w: mint token pool: %w", errHarness, err)
	}
	env.pool, *check = toks[:sp.pool], toks[sp.pool]
	res.Seeds = append(res.Seeds, seedResult{sp.name, fmt.Sprintf("%d tokens (exchange)", sp.pool+1), time.Since(t0)})
	return nil
}

// verifyPhase checks that the server holds what was seeded, so that a
// change of layout stops the run instead of measuring an empty store.
func verifyPhase(ctx context.Context, c *conns, env *phaseEnv, ph phasePlan, check mintedToken) error {
	if err := ensureAlg(ctx, c, env.keys[0], ph.alg); err != nil {
		return err
	}
	if len(env.keys) > 1 {
		// The last key created must exchange as well as the first.
		if _, err := mintTokens(ctx, c, env.keys[len(env.keys)-1], 1); err != nil {
			return fmt.Errorf("last seeded key: %w", err)
		}
	}
	if len(env.pool) > 0 {
		if err := checkIntrospect(ctx, c, env.pool[0].token, true); err != nil {
			return fmt.Errorf("pool token: %w", err)
		}
		// The check token's jti is the last seeded revocation.
		if err := checkIntrospect(ctx, c, check.token, ph.revocations == 0); err != nil {
			return fmt.Errorf("token revoked by the seed (revocations=%d): %w", ph.revocations, err)
		}
	}
	return nil
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
