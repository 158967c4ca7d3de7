package issuer

import "testing"

func BenchmarkMint(b *testing.B) {
	iss := newTestIssuer(b, testConfig(), fixedKey("active"))
	g := testGrant()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iss.Mint(g); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	iss := newTestIssuer(b, testConfig(), fixedKey("active"))
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
}
