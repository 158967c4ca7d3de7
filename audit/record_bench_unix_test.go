//go:build unix

package audit

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// BenchmarkRecordLoaded is the trail's own cost per audited call under
// load: 256 callers record events on a trail with its log on disk, each
// waiting until its event is durable, as audited exchanges do. CPU per
// event is the process's user and system time over the events recorded.
func BenchmarkRecordLoaded(b *testing.B) {
	log := newMemLog()
	tr, err := Open(context.Background(), Config{Log: log, Key: testKey(b), WALDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	e := exchange("k", "spiffe://t/a", ResultOK, "")
	b.SetParallelism(128)
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := tr.RecordWithin(e, 10*time.Second); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano()+after.Stime.Nano()-before.Utime.Nano()-before.Stime.Nano()) * time.Nanosecond
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu_us/op")
}
