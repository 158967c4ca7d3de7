package lifecycle

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/store"
)

// BenchmarkSweep is one sweep over keys none of which needs work, the
// janitor's usual minute, for keys with longer and longer histories.
// Reported per key.
func BenchmarkSweep(b *testing.B) {
	const keys = 2000
	for _, events := range []int{0, 3, 10} {
		b.Run(fmt.Sprintf("history=%d", events), func(b *testing.B) {
			s := openStore(b)
			for i := range keys {
				rec := newKey(keyID(i))
				for n := range events {
					rec.AddEvent(store.KeyEvent{At: t0, Action: "attested", Actor: "alice", Detail: fmt.Sprint("attestation ", n)})
				}
				if err := s.CreateKey(context.Background(), rec); err != nil {
					b.Fatal(err)
				}
			}
			j, err := NewJanitor(JanitorConfig{
				Keys:   s,
				Policy: func() *policy.Policy { return &policy.Policy{Keys: rules(nil)} },
				Now:    func() time.Time { return t0.Add(time.Hour) },
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if r, err := j.Sweep(context.Background()); err != nil || r != (SweepReport{}) {
					b.Fatalf("sweep = %+v, %v; want nothing done", r, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/keys/1e3, "µs/key")
		})
	}
}
