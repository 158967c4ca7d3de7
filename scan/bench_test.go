package scan

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"testing"
)

// BenchmarkScanTree scans 2,000 text files of 50 KB (100 MB) holding a few
// keys, with one worker and with GOMAXPROCS workers. The MB/s column is
// the figure to watch.
func BenchmarkScanTree(b *testing.B) {
	const files, size = 2000, 50_000
	root := b.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"func", "return", "config", "value", "latch", "key", "the", "lookup", "if", "err", "nil", "{", "}", "=", "\"name\":", "127.0.0.1", "42"}
	key, _ := newKey(b)
	var total int64
	for i := range files {
		buf := make([]byte, 0, size+100)
		for len(buf) < size {
			if rng.IntN(12) == 0 {
				buf = append(buf, '\n')
				continue
			}
			buf = append(buf, words[rng.IntN(len(words))]...)
			buf = append(buf, ' ')
		}
		if i%400 == 0 {
			buf = append(buf, key...)
		}
		total += int64(len(buf))
		writeFile(b, filepath.Join(root, fmt.Sprintf("d%02d", i%50), fmt.Sprintf("f%04d.txt", i)), buf)
	}
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			w, err := NewWalker(Config{Workers: workers})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(total)
			for b.Loop() {
				res, err := w.Scan(context.Background(), root)
				if err != nil || len(res.Findings) != files/400 || res.Bytes != total {
					b.Fatalf("%d findings, %d bytes, %v", len(res.Findings), res.Bytes, err)
				}
			}
		})
	}
}

// BenchmarkDetect measures the detector alone on text with no keys.
func BenchmarkDetect(b *testing.B) {
	data := []byte(fmt.Sprint(make([]int, 200_000)))
	for _, d := range []Detector{{}, {ShowInvalid: true, Entropy: true}} {
		b.Run(fmt.Sprintf("entropy=%v", d.Entropy), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				d.ScanBytes(data, func(Finding) {})
			}
		})
	}
}
