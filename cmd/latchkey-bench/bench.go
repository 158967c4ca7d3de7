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

// runMatrix seeds and serves every store of the plan in turn. progress
// receives one line per step.
func runMatrix(ctx context.Context, o *options, st devstate.State, tmp string, plan []storePlan, progress io.Writer) (*results, error) {
	res := &results{}
	for _, sp := range plan {
		if err := runStore(ctx, o, st, tmp, sp, res, progress); err != nil {
			return res, err
		}
	}
	return res, nil
}

func runStore(ctx context.Context, o *options, st devstate.State, tmp string, sp storePlan, res *results, progress io.Writer) error {
	dataDir := filepath.Join(tmp, dirName(sp.name))
	env := &phaseEnv{}
	var check mintedToken
	// Seeding runs on its own server process, so that each phase's peak RSS
	// is what serving cost, not what creating the keys did.
	if err := seedStore(ctx, o, st, tmp, dataDir, sp, env, &check, res, progress); err != nil {
		return err
	}
	seeded := 0
	for _, ph := range sp.phases {
		if ph.revocations > seeded {
			t0 := time.Now()
			if err := importRevocations(ctx, st, dataDir, ph.revocations-seeded, check.jti); err != nil {
				return fmt.Errorf("%w: seed %d revocations: %w", errHarness, ph.revocations-seeded, err)
			}
			res.Seeds = append(res.Seeds, seedResult{sp.name, fmt.Sprintf("%d revocations (direct import)", ph.revocations-seeded), time.Since(t0)})
			fmt.Fprintf(progress, "seeded %d revocations into %s in %s\n", ph.revocations-seeded, sp.name, time.Since(t0).Round(time.Millisecond))
			seeded = ph.revocations
		}
		t0 := time.Now()
		srv, err := startServer(ctx, o.latchkey, st, tmp, dataDir, ph.alg, o.profileDir != "")
		if err != nil {
			return fmt.Errorf("%w: %s: %w", errHarness, ph.variant, err)
		}
		pr := phaseResult{Variant: ph.variant, StartTook: time.Since(t0)}
		err = runPhase(ctx, o, st, srv, ph, env, check, res, progress)
		if rss, rerr := processPeakRSS(srv.pid()); rerr == nil {
			pr.PeakRSS = rss
		}
		for _, c := range res.Cells {
			if c.Variant != ph.variant {
				continue
			}
			for _, r := range c.Runs {
				if r.LoadRSS > pr.LoadRSS {
					pr.LoadRSS, pr.LoadAnon, pr.LoadFile = r.LoadRSS, r.LoadAnon, r.LoadFile
				}
			}
		}
		res.Phases = append(res.Phases, pr)
		if serr := srv.stop(); err == nil && serr != nil {
			err = fmt.Errorf("%w: %s: %w", errHarness, ph.variant, serr)
		}
		if err != nil {
			return err
		}
	}
	return nil
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

func runPhase(ctx context.Context, o *options, st devstate.State, srv *serverProc, ph phasePlan,
	env *phaseEnv, check mintedToken, res *results, progress io.Writer) error {
	c, err := dialConns(st, srv.addr, o.conns)
	if err != nil {
		return fmt.Errorf("%w: dial: %w", errHarness, err)
	}
	defer c.close()
	env.conns = c
	if err := verifyPhase(ctx, c, env, ph, check); err != nil {
		return fmt.Errorf("%w: %s: seed check: %w", errHarness, ph.variant, err)
	}
	for _, sc := range ph.scenarios {
		for _, conc := range o.concurrency {
			cl := res.find(sc.name, conc)
			if cl == nil {
				cl = &cell{Scenario: sc.name, Variant: ph.variant, Concurrency: conc}
				res.Cells = append(res.Cells, cl)
			}
			for rep := range o.reps {
				spec := loadSpec{concurrency: conc, warmup: o.warmup, duration: o.duration, maxRequests: maxRequestsPerRun, callTimeout: callTimeout}
				stop, sampled := make(chan struct{}), make(chan rssSample, 1)
				go func() { sampled <- sampleRSS(srv.pid(), stop) }()
				r, err := runLoad(ctx, spec, func(w int) caller { return sc.newCaller(env, w) },
					func() (time.Duration, error) { return processCPU(srv.pid()) })
				close(stop)
				peak := <-sampled
				if err != nil {
					return fmt.Errorf("%s c=%d: %w", sc.name, conc, err)
				}
				r.PeakRSS, _ = processPeakRSS(srv.pid())
				r.LoadRSS, r.LoadAnon, r.LoadFile = peak.total, peak.anon, peak.file
				cl.Runs = append(cl.Runs, r)
				fmt.Fprintf(progress, "%-40s c=%-4d rep %d: %9.0f rps  p50 %7.0fµs  p99 %7.0fµs  cpu %6.1fµs/op  errors %d\n",
					sc.name, conc, rep+1, r.RPS, us(r.P50), us(r.P99), r.CPUPerOpUS, r.Errors)
			}
			cl.summarise()
			if o.profileDir != "" && conc == o.concurrency[len(o.concurrency)-1] {
				if err := profileScenario(ctx, o, srv, sc, conc, env); err != nil {
					return fmt.Errorf("%w: profile %s: %w", errHarness, sc.name, err)
				}
			}
		}
	}
	for _, g := range ph.ghz {
		if o.ghz == "" {
			break
		}
		gr, err := runGhz(ctx, o, st, srv.addr, g, env, filepath.Dir(srv.logPath))
		if err != nil {
			return fmt.Errorf("%w: ghz %s: %w", errHarness, g, err)
		}
		res.Ghz = append(res.Ghz, gr)
		fmt.Fprintf(progress, "ghz %-36s c=%-4d: %9.0f rps  p50 %7.0fµs  p99 %7.0fµs  errors %d\n",
			g, gr.Concurrency, gr.RPS, gr.P50US, gr.P99US, gr.Errors)
	}
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
