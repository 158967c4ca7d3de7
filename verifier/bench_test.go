package verifier

import (
	"runtime"
	"testing"
	"time"
)

// BenchmarkVerify measures local verification (signature, strict claims,
// revocation lookup) in parallel, per algorithm, and reports verifications
// per second per core.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{algEdDSA, algES256, algRS256} {
		b.Run(alg, func(b *testing.B) {
			k := newTestKey(b, alg)
			now := func() time.Time { return t0 }
			v := offlineVerifier(b, now, k)
			tok := k.sign(b, k.header(), claimsJSON(b, nil))
			if _, err := v.Verify(b.Context(), tok, nil); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := v.Verify(b.Context(), tok, nil); err != nil {
						b.Error(err)
						return
					}
				}
			})
			perCore := float64(b.N) / time.Since(start).Seconds() / float64(runtime.GOMAXPROCS(0))
			b.ReportMetric(perCore, "verifications/s/core")
		})
	}
}
