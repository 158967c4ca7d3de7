package main

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// loadSpec bounds one run in time and in count.
type loadSpec struct {
	concurrency int
	warmup      time.Duration
	duration    time.Duration
	// maxRequests ends the measured window early once this many calls have
	// completed in it, so that no run can grow without bound.
	maxRequests uint64
	// callTimeout is each call's deadline, so a stuck server cannot hold a
	// worker past the end of the run for longer than this.
	callTimeout time.Duration
}

// caller makes one call; each worker gets its own from a scenario, so that
// per-worker state (a random source, a request message) is never shared.
type caller func(ctx context.Context) error

// runResult is what one run of one scenario at one concurrency measured.
type runResult struct {
	Requests   uint64        `json:"requests"`
	Window     time.Duration `json:"window_ns"`
	RPS        float64       `json:"rps"`
	P50        time.Duration `json:"p50_ns"`
	P99        time.Duration `json:"p99_ns"`
	P999       time.Duration `json:"p999_ns"`
	Errors     uint64        `json:"errors"`
	FirstError string        `json:"first_error,omitempty"`
	ServerCPU  time.Duration `json:"server_cpu_ns"`
	// CPUPerOpUS is server CPU microseconds per completed call in the window.
	CPUPerOpUS float64 `json:"server_cpu_us_per_op"`
	// PeakRSS is the server's VmHWM in bytes, read after the run.
	PeakRSS uint64 `json:"server_peak_rss_bytes"`
	// LoadRSS is the largest resident set sampled while the run's load
	// was on (warm-up included), every rssSampleEvery; LoadAnon and
	// LoadFile split that sample into anonymous and file-backed pages.
	LoadRSS  uint64 `json:"server_load_rss_bytes"`
	LoadAnon uint64 `json:"server_load_rss_anon_bytes"`
	LoadFile uint64 `json:"server_load_rss_file_bytes"`
}

const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseStop
)

type workerState struct {
	hist     histogram
	errors   uint64
	firstErr error
}

// runLoad drives spec.concurrency workers, each calling its own caller in a
// closed loop, for spec.warmup and then spec.duration. Latencies and calls
// are counted only for calls that complete inside the measured window;
// errors in the warm-up count too. cpu reads the server's CPU time at the
// window's two edges.
func runLoad(ctx context.Context, spec loadSpec, newCaller func(worker int) caller, cpu func() (time.Duration, error)) (runResult, error) {
	if spec.concurrency < 1 {
		return runResult{}, errors.New("concurrency must be at least 1")
	}
	states := make([]*workerState, spec.concurrency)
	callers := make([]caller, spec.concurrency)
	for i := range states {
		states[i] = new(workerState)
		callers[i] = newCaller(i)
	}
	var (
		phase    atomic.Int32
		measured atomic.Uint64
		full     = make(chan struct{})
		fullOnce sync.Once
		wg       sync.WaitGroup
	)
	for i := range states {
		st, call := states[i], callers[i]
		wg.Go(func() {
			for {
				p := phase.Load()
				if p == phaseStop || ctx.Err() != nil {
					return
				}
				cctx, cancel := context.WithTimeout(ctx, spec.callTimeout)
				start := time.Now()
				err := call(cctx)
				lat := time.Since(start)
				cancel()
				if err != nil {
					if st.errors == 0 {
						st.firstErr = err
					}
					st.errors++
					continue
				}
				if phase.Load() != phaseMeasure {
					continue
				}
				st.hist.record(lat)
				if measured.Add(1) >= spec.maxRequests {
					fullOnce.Do(func() { close(full) })
				}
			}
		})
	}
	stopAll := func() { phase.Store(phaseStop); wg.Wait() }
	if err := sleepCtx(ctx, spec.warmup); err != nil {
		stopAll()
		return runResult{}, err
	}
	cpu0, err := cpu()
	if err != nil {
		stopAll()
		return runResult{}, err
	}
	t0 := time.Now()
	phase.Store(phaseMeasure)
	timer := time.NewTimer(spec.duration)
	select {
	case <-timer.C:
	case <-full:
	case <-ctx.Done():
	}
	timer.Stop()
	phase.Store(phaseStop)
	window := time.Since(t0)
	cpu1, cpuErr := cpu()
	wg.Wait()
	if err := errors.Join(cpuErr, ctx.Err()); err != nil {
		return runResult{}, err
	}
	var all histogram
	res := runResult{Window: window, ServerCPU: cpu1 - cpu0}
	for _, st := range states {
		all.merge(&st.hist)
		if st.errors > 0 && res.FirstError == "" {
			res.FirstError = st.firstErr.Error()
		}
		res.Errors += st.errors
	}
	res.Requests = all.n
	res.RPS = float64(all.n) / window.Seconds()
	res.P50, res.P99, res.P999 = all.quantile(0.50), all.quantile(0.99), all.quantile(0.999)
	if all.n > 0 {
		res.CPUPerOpUS = float64(res.ServerCPU) / float64(time.Microsecond) / float64(all.n)
	}
	return res, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
