package issuer

import "testing"

func benchKeys(b *testing.B) []*SigningKey {
	return []*SigningKey{fixedKey("active"), fixedECKey(b, "active"), fixedRSAKey(b)}
}

func BenchmarkMint(b *testing.B) {
	for _, k := range benchKeys(b) {
		b.Run(k.Alg(), func(b *testing.B) {
			iss := newTestIssuer(b, testConfig(), k)
			g := testGrant()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := iss.Mint(g); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, k := range benchKeys(b) {
		b.Run(k.Alg(), func(b *testing.B) {
			iss := newTestIssuer(b, testConfig(), k)
			tok, err := iss.Mint(testGrant())
			if err != nil {
				b.Fatal(err)
			}
			opts := VerifyOptions{Audience: "svc"}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := iss.Verify(tok.Raw, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
