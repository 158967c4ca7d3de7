package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"
)

// floorResult is the median time of each cryptographic operation a token
// call cannot avoid, measured in this process on this machine.
type floorResult struct {
	EdDSASignUS   float64 `json:"eddsa_sign_us"`
	EdDSAVerifyUS float64 `json:"eddsa_verify_us"`
	ES256SignUS   float64 `json:"es256_sign_us"`
	ES256VerifyUS float64 `json:"es256_verify_us"`
	Reps          int     `json:"reps"`
	BenchTime     string  `json:"benchtime"`
}

// signingInput is a typical JWT signing input of about 300 bytes: header
// and claims as the issuer writes them, base64url-encoded and joined.
func signingInput() []byte {
	enc := base64.RawURLEncoding
	head := `{"alg":"EdDSA","kid":"k-3f2a9c1e0b7d4e6f","typ":"at+jwt"}`
	claims := `{"aud":["demo-api"],"exp":1767225600,"iat":1767222000,"iss":"https://localhost:7443",` +
		`"jti":"01HZX3KA0B1C2D3E4F5G6H","sub":"spiffe://dev.latchkey.local/workload/demo"}`
	return []byte(enc.EncodeToString([]byte(head)) + "." + enc.EncodeToString([]byte(claims)))
}

type microBench struct {
	into *float64
	fn   func(b *testing.B)
}

// measureFloor runs each micro-benchmark reps times with testing.Benchmark
// for benchtime each and keeps the median.
func measureFloor(reps int, benchtime time.Duration) (floorResult, error) {
	if flag.Lookup("test.benchtime") == nil {
		testing.Init()
	}
	if err := flag.Set("test.benchtime", benchtime.String()); err != nil {
		return floorResult{}, err
	}
	msg := signingInput()
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return floorResult{}, err
	}
	edPub := edPriv.Public().(ed25519.PublicKey)
	edSig := ed25519.Sign(edPriv, msg)
	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return floorResult{}, err
	}
	digest := sha256.Sum256(msg)
	ecSig, err := ecdsa.SignASN1(rand.Reader, ecPriv, digest[:])
	if err != nil {
		return floorResult{}, err
	}
	var out floorResult
	out.Reps, out.BenchTime = reps, benchtime.String()
	benches := []microBench{
		{&out.EdDSASignUS, func(b *testing.B) {
			for b.Loop() {
				ed25519.Sign(edPriv, msg)
			}
		}},
		{&out.EdDSAVerifyUS, func(b *testing.B) {
			for b.Loop() {
				if !ed25519.Verify(edPub, msg, edSig) {
					b.Fatal("ed25519 signature did not verify")
				}
			}
		}},
		{&out.ES256SignUS, func(b *testing.B) {
			for b.Loop() {
				d := sha256.Sum256(msg)
				if _, err := ecdsa.SignASN1(rand.Reader, ecPriv, d[:]); err != nil {
					b.Fatal(err)
				}
			}
		}},
		{&out.ES256VerifyUS, func(b *testing.B) {
			for b.Loop() {
				d := sha256.Sum256(msg)
				if !ecdsa.VerifyASN1(&ecPriv.PublicKey, d[:], ecSig) {
					b.Fatal("ES256 signature did not verify")
				}
			}
		}},
	}
	for _, bench := range benches {
		xs := make([]float64, 0, reps)
		for range reps {
			r := testing.Benchmark(bench.fn)
			if r.N == 0 {
				return floorResult{}, fmt.Errorf("a floor micro-benchmark failed")
			}
			xs = append(xs, float64(r.T)/float64(r.N)/1e3)
		}
		*bench.into = spreadOf(xs).Median
	}
	return out, nil
}

// floorNote describes how the floor was measured, for the report.
func (f floorResult) note() string {
	var b strings.Builder
	fmt.Fprintf(&b, "median of %d testing.Benchmark runs of %s each, one goroutine, ~%d-byte JWT signing input", f.Reps, f.BenchTime, len(signingInput()))
	return b.String()
}
