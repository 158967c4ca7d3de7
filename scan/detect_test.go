package scan

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

func TestDetectInSourceFormats(t *testing.T) {
	key, id := newKey(t)
	tests := []struct {
		name      string
		text      string
		line, col int
	}{
		{"go", "package main\n\nconst rootKey = \"%s\"\n", 3, 18},
		{"json", "{\n  \"name\": \"svc\",\n  \"root_key\": \"%s\"\n}\n", 3, 16},
		{"yaml", "service:\n  auth:\n    root_key: %s # prod\n", 3, 15},
		{"env", "# creds\nLATCHKEY_ROOT_KEY=%s", 2, 19},
		{"crlf and invalid utf-8", "\xff\xfe\r\nx\xc3(=%s\r\n", 2, 5},
		{"first byte", "%s", 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := detectAll(Detector{}, fmt.Appendf(nil, tc.text, key))
			want := []where{{RuleRootKey, "", tc.line, tc.col, id}}
			if !slices.Equal(wheres(got), want) {
				t.Fatalf("got %+v, want %+v", wheres(got), want)
			}
			f := got[0]
			if f.Confidence != High || f.Length != len(key) || f.Redacted != key[:secretPos]+"****"+key[len(key)-4:] {
				t.Fatalf("finding %+v", f)
			}
			if strings.Contains(fmt.Sprintf("%+v", f), key[secretPos:secretPos+20]) {
				t.Fatal("finding holds the secret")
			}
		})
	}
}

// The streaming reader must find a key wherever a block boundary cuts it,
// on one endless line or many, with or without the token search.
func TestDetectAcrossBlockBoundaries(t *testing.T) {
	key, id := newKey(t)
	const block = 128
	for _, entropy := range []bool{false, true} {
		for _, lines := range []bool{false, true} {
			for off := block - len(key) - 2; off <= 3*block; off++ {
				name := fmt.Sprintf("entropy=%v/lines=%v/offset=%d", entropy, lines, off)
				t.Run(name, func(t *testing.T) {
					fill := bytes.Repeat([]byte("ab cd. "), 200)
					line := 1
					if lines {
						fill = bytes.Repeat([]byte("xy\n"), 200)
						line = off/3 + 1
					}
					data := append(append(append([]byte{}, fill[:off]...), key...), " tail\n"...)
					var got []Finding
					// HalfReader also makes reads return less than was asked for.
					_, err := Detector{Entropy: entropy}.scan(iotest.HalfReader(bytes.NewReader(data)), func(f Finding) { got = append(got, f) }, block)
					if err != nil {
						t.Fatal(err)
					}
					col := off + 1
					if lines {
						col = off%3 + 1
					}
					want := []where{{RuleRootKey, "", line, col, id}}
					if !slices.Equal(wheres(got), want) {
						t.Fatalf("got %+v, want %+v", wheres(got), want)
					}
				})
			}
		}
	}
}

// A line far longer than the read size is scanned in overlapping blocks,
// not skipped.
func TestDetectHugeLine(t *testing.T) {
	key, id := newKey(t)
	data := bytes.Repeat([]byte{'x', ' '}, 3<<20)
	at := 2*readSize - 20
	copy(data[at:], key)
	var got []Finding
	n, err := Detector{}.Scan(bytes.NewReader(data), func(f Finding) { got = append(got, f) })
	if err != nil || n != int64(len(data)) {
		t.Fatalf("read %d, %v", n, err)
	}
	if want := []where{{RuleRootKey, "", 1, at + 1, id}}; !slices.Equal(wheres(got), want) {
		t.Fatalf("got %+v, want %+v", wheres(got), want)
	}
}

func TestDetectLookAlikes(t *testing.T) {
	key, id := newKey(t)
	bad := flip(key)
	b64 := base64.StdEncoding.EncodeToString([]byte(key))
	tests := []struct {
		name string
		d    Detector
		text string
		want []where
	}{
		{"flipped checksum hidden", Detector{}, "k=" + bad + "\n", nil},
		{"flipped checksum shown", Detector{ShowInvalid: true}, "k=" + bad + "\n", []where{{RuleNearMiss, "", 1, 3, id}}},
		{"look-alike inside a longer run is no near miss", Detector{ShowInvalid: true}, "x" + bad + "y", nil},
		{"truncated key", Detector{ShowInvalid: true}, key[:len(key)-1] + "\n", nil},
		{"wrong separator", Detector{ShowInvalid: true}, strings.Replace(key, "_", "-", 2), nil},
		{"base64 of a key is not detected", Detector{ShowInvalid: true}, b64, nil},
		{"key and look-alike", Detector{ShowInvalid: true}, key + "\n" + bad, []where{{RuleRootKey, "", 1, 1, id}, {RuleNearMiss, "", 2, 1, id}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := wheres(detectAll(tc.d, []byte(tc.text))); !slices.Equal(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDetectEntropy(t *testing.T) {
	key, id := newKey(t)
	tests := []struct {
		name string
		text string
		want []where
	}{
		{"random base64", "token: aB3xQ9zK1mN7pL2vR8sT5wY4\n", []where{{RuleHighEntropy, "", 1, 8, ""}}},
		{"random hex", "sha=9f86d081884c7d659a2feaa0c55ad015\n", []where{{RuleHighEntropy, "", 1, 5, ""}}},
		{"identifier", "func TestScannerFindsEverythingInTheTree()\n", nil},
		{"uuid", "id: 123e4567-e89b-12d3-a456-426614174000\n", nil},
		{"short", "k=aB3xQ9zK1mN7pL2\n", nil},
		{"repeated", "pad=0000000000000000000000000000aaaa\n", nil},
		{"too long is a blob", "x=" + strings.Repeat("aB3xQ9zK1mN7pL2vR8sT5wY4", 20) + "\n", nil},
		{"a root key is reported once, as a key", key + "\n", []where{{RuleRootKey, "", 1, 1, id}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := detectAll(Detector{Entropy: true}, []byte(tc.text))
			if !slices.Equal(wheres(got), tc.want) {
				t.Fatalf("got %+v, want %+v", wheres(got), tc.want)
			}
			for _, f := range got {
				if f.Rule == RuleHighEntropy && (f.Confidence != Low || !strings.HasSuffix(f.Redacted, "****") || len(f.Redacted) != 8) {
					t.Fatalf("entropy finding %+v", f)
				}
			}
		})
	}
	if got := detectAll(Detector{}, []byte(tests[0].text)); len(got) != 0 {
		t.Fatalf("entropy findings without Entropy: %+v", got)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errTest }

var errTest = fmt.Errorf("disk on fire")

func TestDetectReadError(t *testing.T) {
	_, err := Detector{}.Scan(failingReader{}, func(Finding) { t.Fatal("finding from nothing") })
	if err != errTest {
		t.Fatalf("err = %v, want %v", err, errTest)
	}
}
