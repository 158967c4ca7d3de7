package scan

import (
	"bytes"
	"testing"

	"github.com/latchkeyhq/latchkey/rootkey"
)

// FuzzDetect checks that detection never panics, that every reported key
// re-parses at the line and column given, and that the streaming reader
// agrees with the one-shot scan at any block size.
func FuzzDetect(f *testing.F) {
	// Valid keys are made here rather than committed, so that the
	// repository passes its own scan.
	key, _ := newKey(f)
	f.Add([]byte("k: "+key+"\n"), uint8(9))
	f.Add([]byte(key+key+"\n"+key[:40]), uint8(53))
	f.Add([]byte("lk_"), uint8(0))
	f.Add([]byte("x lk_AAAAAAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n"), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, blk uint8) {
		d := Detector{ShowInvalid: true, Entropy: true}
		all := detectAll(d, data)
		lines := bytes.Split(data, []byte{'\n'})
		for _, fd := range all {
			if fd.Line < 1 || fd.Line > len(lines) || fd.Column < 1 {
				t.Fatalf("position out of range: %+v", fd)
			}
			line := lines[fd.Line-1]
			if fd.Column-1+fd.Length > len(line) {
				t.Fatalf("finding runs past its line: %+v", fd)
			}
			text := string(line[fd.Column-1 : fd.Column-1+fd.Length])
			k, err := rootkey.Parse(text)
			switch fd.Rule {
			case RuleRootKey:
				if err != nil || k.ID() != fd.KeyID {
					t.Fatalf("reported key does not parse at its position: %+v, %v", fd, err)
				}
			case RuleNearMiss:
				if err == nil {
					t.Fatalf("valid key reported as a near miss: %+v", fd)
				}
			}
		}
		var streamed []Finding
		if _, err := d.scan(bytes.NewReader(data), func(f Finding) { streamed = append(streamed, f) }, int(blk)+1); err != nil {
			t.Fatal(err)
		}
		if len(streamed) != len(all) {
			t.Fatalf("streaming found %d, one-shot %d", len(streamed), len(all))
		}
		for i := range all {
			if streamed[i] != all[i] {
				t.Fatalf("streaming %+v, one-shot %+v", streamed[i], all[i])
			}
		}
	})
}
