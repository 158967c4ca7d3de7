package scan

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/latchkeyhq/latchkey/rootkey"
)

// newKey returns a fresh key's text and id.
func newKey(t testing.TB) (string, string) {
	t.Helper()
	k, err := rootkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return k.Reveal(), k.ID()
}

// flip changes one secret character, which breaks the checksum: CRC32
// catches every single-character change.
func flip(key string) string {
	b := []byte(key)
	i := secretPos + 5
	if b[i] == 'a' {
		b[i] = 'b'
	} else {
		b[i] = 'a'
	}
	return string(b)
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func detectAll(d Detector, data []byte) []Finding {
	var out []Finding
	d.ScanBytes(data, func(f Finding) { out = append(out, f) })
	return out
}

// where is the part of a finding a test pins down.
type where struct {
	Rule   Rule
	Path   string
	Line   int
	Column int
	KeyID  string
}

func wheres(fs []Finding) []where {
	out := make([]where, 0, len(fs))
	for _, f := range fs {
		out = append(out, where{f.Rule, f.Path, f.Line, f.Column, f.KeyID})
	}
	return out
}
