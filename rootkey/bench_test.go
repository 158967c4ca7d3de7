package rootkey

import "testing"

func BenchmarkParse(b *testing.B) {
	text := mustGenerate(b).Reveal()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(text); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHash(b *testing.B) {
	p := testPepper(b, 0)
	k := mustGenerate(b)
	b.ReportAllocs()
	for b.Loop() {
		p.Hash(k)
	}
}

func BenchmarkVerify(b *testing.B) {
	p := testPepper(b, 0)
	k := mustGenerate(b)
	stored := p.Hash(k)
	b.ReportAllocs()
	for b.Loop() {
		if !p.Verify(k, stored) {
			b.Fatal("Verify = false")
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Generate(); err != nil {
			b.Fatal(err)
		}
	}
}
