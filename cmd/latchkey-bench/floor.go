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
	// The spread of the runs behind each median.
	EdDSASign   spread `json:"eddsa_sign"`
	EdDSAVerify spread `json:"eddsa_verify"`
	ES256Sign   spread `json:"es256_sign"`
	ES256Verify spread `json:"es256_verify"`
	Reps        int    `json:"reps"`
	BenchTime   string `json:"benchtime"`
}

// floorSamples collects the runs of each floor micro-benchmark. The floor
// is sampled before the scenarios and again after them: a machine busy
// for a moment at the start would otherwise shift every ratio of the run.
type floorSamples struct {
	edSign, edVerify, esSign, esVerify []float64
	benchTime                          time.Duration
}

// result is the median of every run sampled so far.
func (fs *floorSamples) result() floorResult {
	out := floorResult{Reps: len(fs.edSign), BenchTime: fs.benchTime.String(),
		EdDSASign: spreadOf(fs.edSign), EdDSAVerify: spreadOf(fs.edVerify),
		ES256Sign: spreadOf(fs.esSign), ES256Verify: spreadOf(fs.esVerify)}
	out.EdDSASignUS, out.EdDSAVerifyUS = out.EdDSASign.Median, out.EdDSAVerify.Median
	out.ES256SignUS, out.ES256VerifyUS = out.ES256Sign.Median, out.ES256Verify.Median
	return out
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
	into *[]float64
	fn   func(b *testing.B)
}

// sample runs each micro-benchmark reps times with testing.Benchmark for
// benchtime each and adds the runs to fs.
func (fs *floorSamples) sample(reps int, benchtime time.Duration) error {
	if flag.Lookup("test.benchtime") == nil {
		testing.Init()
	}
	if err := flag.Set("test.benchtime", benchtime.String()); err != nil {
		return err
	}
	fs.benchTime = benchtime
	msg := signingInput()
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	edPub := edPriv.Public().(ed25519.PublicKey)
	edSig := ed25519.Sign(edPriv, msg)
	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	digest := sha256.Sum256(msg)
	ecSig, err := ecdsa.SignASN1(rand.Reader, ecPriv, digest[:])
	if err != nil {
		return err
	}
	benches := []microBench{
		{&fs.edSign, func(b *testing.B) {
			for b.Loop() {
				ed25519.Sign(edPriv, msg)
			}
		}},
		{&fs.edVerify, func(b *testing.B) {
			for b.Loop() {
				if !ed25519.Verify(edPub, msg, edSig) {
					b.Fatal("ed25519 signature did not verify")
				}
			}
		}},
		{&fs.esSign, func(b *testing.B) {
			for b.Loop() {
				d := sha256.Sum256(msg)
				if _, err := ecdsa.SignASN1(rand.Reader, ecPriv, d[:]); err != nil {
					b.Fatal(err)
				}
			}
		}},
		{&fs.esVerify, func(b *testing.B) {
			for b.Loop() {
				d := sha256.Sum256(msg)
				if !ecdsa.VerifyASN1(&ecPriv.PublicKey, d[:], ecSig) {
					b.Fatal("ES256 signature did not verify")
				}
			}
		}},
	}
	for _, bench := range benches {
		for range reps {
			r := testing.Benchmark(bench.fn)
			if r.N == 0 {
				return fmt.Errorf("a floor micro-benchmark failed")
			}
			*bench.into = append(*bench.into, float64(r.T)/float64(r.N)/1e3)
		}
	}
	return nil
}

// floorNote describes how the floor was measured, for the report.
func (f floorResult) note() string {
	var b strings.Builder
	fmt.Fprintf(&b, "median of %d testing.Benchmark runs of %s each, half before the scenarios and half after, one goroutine, ~%d-byte JWT signing input", f.Reps, f.BenchTime, len(signingInput()))
	return b.String()
}
