package verifier

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"runtime"
	"strings"
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

// BenchmarkSignatureFloor is the physical floor for BenchmarkVerify: the
// bare signature check of the same token with the standard library, in the
// same run, so Verify can be reported as a ratio to it.
func BenchmarkSignatureFloor(b *testing.B) {
	for _, alg := range []string{algEdDSA, algES256, algRS256} {
		b.Run(alg, func(b *testing.B) {
			k := newTestKey(b, alg)
			tok := k.sign(b, k.header(), claimsJSON(b, nil))
			last := strings.LastIndexByte(tok, '.')
			input := []byte(tok[:last])
			sig, err := base64.RawURLEncoding.DecodeString(tok[last+1:])
			if err != nil {
				b.Fatal(err)
			}
			check := floorCheck(b, k, input, sig)
			if !check() {
				b.Fatal("the floor check rejects a valid signature")
			}
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if !check() {
						b.Error("signature rejected")
						return
					}
				}
			})
			perCore := float64(b.N) / time.Since(start).Seconds() / float64(runtime.GOMAXPROCS(0))
			b.ReportMetric(perCore, "verifications/s/core")
		})
	}
}

func floorCheck(b *testing.B, k testKey, input, sig []byte) func() bool {
	switch pub := k.priv.Public().(type) {
	case ed25519.PublicKey:
		return func() bool { return ed25519.Verify(pub, input, sig) }
	case *ecdsa.PublicKey:
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return func() bool {
			sum := sha256.Sum256(input)
			return ecdsa.Verify(pub, sum[:], r, s)
		}
	case *rsa.PublicKey:
		return func() bool {
			sum := sha256.Sum256(input)
			return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) == nil
		}
	}
	b.Fatalf("unexpected key type %T", k.priv.Public())
	return nil
}
