package server

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
//
// Both servers share the machine's CPUs with this process's callers, so
// the rates follow the whole machine's time per exchange; its account is
// reported per exchange beside the server's: the callers' CPU
// (client_us/op), everything else busy (other_us/op: the kernel's
// workers and interrupts, other processes) and the time left idle.
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
	var cpu, client [2]time.Duration
	var machine [2]machineTime
	var ratios []float64
	b.ResetTimer()
	for p := range pairs {
		var pairTook [2]time.Duration
		for i := range 2 {
			which := i ^ p&1 // off first in even pairs, on first in odd ones
			t := targets[which]
			m0, self0 := readMachineTime(), selfCPU()
			before, start := t.srv.cpu(b), time.Now()
			if err := callsFrom(block, callers, t.call); err != nil {
				b.Fatal(err)
			}
			pairTook[which] = time.Since(start)
			cpu[which] += t.srv.cpu(b) - before
			client[which] += selfCPU() - self0
			machine[which] = machine[which].add(readMachineTime().sub(m0))
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
	for i, name := range [2]string{"off", "on"} {
		if machine[i].ok {
			b.ReportMetric(float64(client[i].Microseconds())/n, name+"_client_us/op")
			b.ReportMetric(float64((machine[i].busy-cpu[i]-client[i]).Microseconds())/n, name+"_other_us/op")
			b.ReportMetric(float64(machine[i].idle.Microseconds())/n, name+"_idle_us/op")
		}
	}
}

// machineTime is the machine's CPU time, summed over its CPUs, from
// /proc/stat: busy (user, nice, system, irq, softirq) and idle (idle,
// iowait). Time stolen by a hypervisor is in neither.
type machineTime struct {
	busy, idle time.Duration
	ok         bool
}

func readMachineTime() machineTime {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineTime{}
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return machineTime{}
	}
	var ticks [7]int64
	for i := range ticks {
		if ticks[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
			return machineTime{}
		}
	}
	// user nice system idle iowait irq softirq, in clock ticks of 1/100 s.
	tick := func(v int64) time.Duration { return time.Duration(v) * 10 * time.Millisecond }
	return machineTime{
		busy: tick(ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6]),
		idle: tick(ticks[3] + ticks[4]),
		ok:   true,
	}
}

func (m machineTime) sub(o machineTime) machineTime {
	return machineTime{busy: m.busy - o.busy, idle: m.idle - o.idle, ok: m.ok && o.ok}
}

func (m machineTime) add(o machineTime) machineTime {
	first := m == machineTime{}
	return machineTime{busy: m.busy + o.busy, idle: m.idle + o.idle, ok: (first || m.ok) && o.ok}
}

// selfCPU is this process's CPU time, user and system.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
