package server

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
	"github.com/latchkeyhq/latchkey/policy"
)

// pairedBlock is how many exchanges one server takes in a row in
// BenchmarkAuditPaired: about 1.5 s at this machine's rate, long beside
// the few tens of milliseconds a block takes to drain. With blocks of
// 4,000, both servers' CPU per exchange was a tenth or more above what
// separate runs measured.
const pairedBlock = 30000

// exchangeTarget is one child server ready for exchanges.
type exchangeTarget struct {
	srv  *childServer
	call func(context.Context) error
	// exchange returns the token of one exchange.
	exchange func(context.Context) (string, error)
}

func newExchangeTarget(b *testing.B, audit string) *exchangeTarget {
	b.Helper()
	srv := startChildServer(b, audit)
	b.Cleanup(srv.stop)
	resp, err := adminv1.NewKeyServiceClient(srv.dial(b, "admin")).CreateKey(context.Background(), &adminv1.CreateKeyRequest{
		Owner: "orders-team", Scopes: []string{"orders.read"}, Audiences: []string{"orders-api"},
		RateLimit: &adminv1.RateLimit{PerSecond: policy.MaxRatePerSecond, Burst: policy.MaxRateBurst},
	})
	if err != nil {
		b.Fatal(err)
	}
	root := resp.GetRootKey()
	var clients []latchkeyv1.TokenServiceClient
	for range exchangeConns {
		clients = append(clients, latchkeyv1.NewTokenServiceClient(srv.dial(b, "workload")))
	}
	var next atomic.Uint64
	t := &exchangeTarget{srv: srv, exchange: func(ctx context.Context) (string, error) {
		client := clients[next.Add(1)%exchangeConns]
		r, err := client.ExchangeToken(ctx, &latchkeyv1.ExchangeTokenRequest{RootKey: root})
		if err == nil && r.GetAccessToken() == "" {
			err = fmt.Errorf("no token")
		}
		return r.GetAccessToken(), err
	}}
	t.call = func(ctx context.Context) error {
		_, err := t.exchange(ctx)
		return err
	}
	return t
}

// callsFrom makes n calls from callers concurrent callers and returns
// the first error.
func callsFrom(n, callers int, call func(context.Context) error) error {
	var left atomic.Int64
	left.Store(int64(n))
	var wg sync.WaitGroup
	var first atomic.Pointer[error]
	for range min(callers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 && first.Load() == nil {
				if err := call(context.Background()); err != nil {
					first.CompareAndSwap(nil, &err)
				}
			}
		}()
	}
	wg.Wait()
	if p := first.Load(); p != nil {
		return *p
	}
	return nil
}

// BenchmarkAuditPaired is the audit trail's cost with both servers of
// BenchmarkExchangeProcess alive at once, one with the trail on and one
// without, taking turns: blocks of pairedBlock exchanges go to each in
// turn (off, on, on, off, ...), so the machine's drift, which moves the
// separate runs of BenchmarkExchangeProcess by a tenth or more, falls on
// both alike. on/off is the audited rate over the unaudited one, summed
// over every block; the median of the per-pair ratios is beside it.
// Run it with a count (make bench gives -benchtime 240000x: four pairs):
// a time lets b.N fall anywhere from one pair to two.
func BenchmarkAuditPaired(b *testing.B) {
	targets := [2]*exchangeTarget{newExchangeTarget(b, "off"), newExchangeTarget(b, "on")}
	callers := exchangeParallelism * 2
	// Connections and both servers warmed before anything is timed.
	for _, t := range targets {
		if err := callsFrom(callers, callers, t.call); err != nil {
			b.Fatal(err)
		}
	}
	pairs := max(1, b.N/(2*pairedBlock))
	block := max(1, b.N/(2*pairs))
	var took [2]time.Duration
	var cpu [2]time.Duration
	var ratios []float64
	b.ResetTimer()
	for p := range pairs {
		var pairTook [2]time.Duration
		for i := range 2 {
			which := i ^ p&1 // off first in even pairs, on first in odd ones
			t := targets[which]
			before, start := t.srv.cpu(b), time.Now()
			if err := callsFrom(block, callers, t.call); err != nil {
				b.Fatal(err)
			}
			pairTook[which] = time.Since(start)
			cpu[which] += t.srv.cpu(b) - before
		}
		took[0] += pairTook[0]
		took[1] += pairTook[1]
		ratios = append(ratios, pairTook[0].Seconds()/pairTook[1].Seconds())
	}
	b.StopTimer()
	n := float64(pairs * block)
	b.ReportMetric(n/took[0].Seconds(), "off_ops/s")
	b.ReportMetric(n/took[1].Seconds(), "on_ops/s")
	b.ReportMetric(took[0].Seconds()/took[1].Seconds(), "on/off")
	slices.Sort(ratios)
	mid := len(ratios) / 2
	median := ratios[mid]
	if len(ratios)%2 == 0 {
		median = (ratios[mid-1] + ratios[mid]) / 2
	}
	b.ReportMetric(median, "median_pair_on/off")
	b.ReportMetric(float64(cpu[0].Microseconds())/n, "off_cpu_us/op")
	b.ReportMetric(float64(cpu[1].Microseconds())/n, "on_cpu_us/op")
}
