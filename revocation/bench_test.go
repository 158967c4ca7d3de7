package revocation

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

// benchEntries makes n entries spread over the four kinds, mostly jti
// entries as in production.
func benchEntries(n int) []store.Revocation {
	out := make([]store.Revocation, n)
	for i := range out {
		e := store.Revocation{Rev: uint64(i + 1), Value: fmt.Sprintf("value-%08d", i), At: t0, ExpiresAt: t0.Add(time.Hour)}
		switch i % 100 {
		case 0:
			e.Kind, e.Before = store.RevokeKeyTokens, t0
		case 1:
			e.Kind, e.Before = store.RevokeSubjectTokens, t0
		case 2:
			e.Kind = store.RevokeSigningKeyTokens
		default:
			e.Kind = store.RevokeJTI
		}
		out[i] = e
	}
	return out
}

// BenchmarkRevoked measures the hot path for a token that is not revoked,
// which is the common case and does all four lookups.
func BenchmarkRevoked(b *testing.B) {
	for _, n := range []int{0, 1_000_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			v := NewView(benchEntries(n), uint64(n))
			c := Claims{JTI: "value-x", ClientID: "value-y", Subject: "value-z", KID: "kid", IssuedAt: t0.Add(time.Second)}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if v.Revoked(c) {
						b.Error("unrevoked token reported revoked")
						return
					}
				}
			})
		})
	}
}

// BenchmarkNewView1M measures building a view from a 1M-entry load and
// reports the heap the finished view retains.
func BenchmarkNewView1M(b *testing.B) {
	entries := benchEntries(1_000_000)
	var retained int64
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		v := NewView(entries, 1_000_000)
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		retained = int64(after.HeapAlloc) - int64(before.HeapAlloc)
		runtime.KeepAlive(v)
		b.StartTimer()
	}
	b.ReportMetric(float64(retained), "heap-bytes")
}

// garbageRate is how many bytes per millisecond the background allocator in
// BenchmarkRevokedUnderGC turns into garbage: enough to run several GC
// cycles a second over a 200 MB heap, as a busy server does.
const garbageRate = 512 << 10

var garbageSink []byte

// allocateGarbage allocates garbageRate bytes for every millisecond that
// passes until stop is closed. It catches up on whatever it owes when it
// wakes, because the lookup goroutines keep every P busy and a ticker alone
// would let the rate fall with how often the scheduler gets to it.
func allocateGarbage(stop <-chan struct{}) {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start, done := time.Now(), 0
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			owed := int(time.Since(start).Milliseconds()) * garbageRate
			for ; done < owed; done += 4096 {
				garbageSink = make([]byte, 4096)
			}
		}
	}
}

// BenchmarkRevokedUnderGC measures the hot path while another goroutine
// allocates at a steady rate, with an empty view and with a million
// entries. Every GC cycle marks whatever the view holds that contains
// pointers, so a view that the GC must scan loses throughput in proportion
// to its size. throughput-vs-empty is the 1M throughput over the empty
// view's, from the same run.
// heap-MB is the heap after building the view, gc-cpu-% the share of CPU
// time the GC took while the lookups ran.
func BenchmarkRevokedUnderGC(b *testing.B) {
	nsPerOp := map[int]float64{}
	for _, n := range []int{0, 1_000_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			v := NewView(benchEntries(n), uint64(n))
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			c := Claims{JTI: "value-x", ClientID: "value-y", Subject: "value-z", KID: "kid", IssuedAt: t0.Add(time.Second)}
			stop, done := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(done)
				allocateGarbage(stop)
			}()
			cpu := readCPUMetrics()
			gcBefore := ms.NumGC
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if v.Revoked(c) {
						b.Error("unrevoked token reported revoked")
						return
					}
				}
			})
			b.StopTimer()
			close(stop)
			<-done
			gcShare := readCPUMetrics().gcShareSince(cpu)
			var end runtime.MemStats
			runtime.ReadMemStats(&end)
			runtime.KeepAlive(v)
			nsPerOp[n] = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MB")
			b.ReportMetric(100*gcShare, "gc-cpu-%")
			b.ReportMetric(float64(end.NumGC-gcBefore), "gcs")
			b.ReportMetric(end.GCCPUFraction, "gc-cpu-fraction-lifetime")
			if base := nsPerOp[0]; n > 0 && base > 0 {
				b.ReportMetric(base/nsPerOp[n], "throughput-vs-empty")
			}
		})
	}
}

// cpuMetrics is a reading of the runtime's cumulative CPU accounting.
type cpuMetrics struct{ gc, total float64 }

func readCPUMetrics() cpuMetrics {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/cpu/classes/total:cpu-seconds"}}
	metrics.Read(s)
	return cpuMetrics{gc: s[0].Value.Float64(), total: s[1].Value.Float64()}
}

// gcShareSince is the fraction of CPU time spent in the GC since start.
func (m cpuMetrics) gcShareSince(start cpuMetrics) float64 {
	if m.total <= start.total {
		return 0
	}
	return (m.gc - start.gc) / (m.total - start.total)
}

// BenchmarkPrune1M is the minute's prune of a view holding a million
// entries none of which has expired: the time it holds the view's write
// lock, during which no lookup proceeds.
func BenchmarkPrune1M(b *testing.B) {
	v := NewView(benchEntries(1_000_000), 1_000_000)
	b.ResetTimer()
	for b.Loop() {
		if n := v.Prune(t0.Add(time.Minute)); n != 0 {
			b.Fatalf("pruned %d entries, none has expired", n)
		}
	}
}

// BenchmarkPrune1MAllExpired is a prune that drops all of a million
// entries at once, as when a bulk import's entries share an expiry.
func BenchmarkPrune1MAllExpired(b *testing.B) {
	entries := benchEntries(1_000_000)
	for b.Loop() {
		b.StopTimer()
		v := NewView(entries, 1_000_000)
		b.StartTimer()
		if n := v.Prune(t0.Add(2 * time.Hour)); n != len(entries) {
			b.Fatalf("pruned %d entries, want all %d", n, len(entries))
		}
	}
}
