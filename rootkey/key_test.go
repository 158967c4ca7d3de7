package rootkey

import (
	"bytes"
	"errors"
	"hash/crc32"
	"io"
	"math/big"
	"regexp"
	"strings"
	"testing"
)

var keyShape = regexp.MustCompile(`^lk_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}$`)

func TestGenerateProperties(t *testing.T) {
	const n = 100_000
	seenKeys := make(map[string]struct{}, n)
	seenIDs := make(map[string]struct{}, n)
	for i := range n {
		k := mustGenerate(t)
		text := k.Reveal()
		if !keyShape.MatchString(text) {
			t.Fatalf("key %d has the wrong shape (length %d)", i, len(text))
		}
		if _, dup := seenKeys[text]; dup {
			t.Fatalf("key %d repeats an earlier key", i)
		}
		seenKeys[text] = struct{}{}
		if _, dup := seenIDs[k.ID()]; dup {
			t.Fatalf("key %d repeats an earlier id", i)
		}
		seenIDs[k.ID()] = struct{}{}
		back, err := Parse(text)
		if err != nil {
			t.Fatalf("key %d does not parse: %v", i, err)
		}
		if !back.Equal(k) {
			t.Fatalf("key %d parses to a different key", i)
		}
	}
}

func TestFillBase62IsUnbiased(t *testing.T) {
	// Every byte value once: the 248 below rejectFrom must map onto each of
	// the 62 digits exactly 4 times, in order, and the last 8 must be dropped.
	src := make([]byte, 256)
	for i := range src {
		src[i] = byte(i)
	}
	dst := make([]byte, rejectFrom)
	if err := fillBase62(bytes.NewReader(src), dst); err != nil {
		t.Fatalf("fillBase62: %v", err)
	}
	for i, c := range dst {
		if want := alphabet[i%len(alphabet)]; c != want {
			t.Fatalf("dst[%d] = %q, want %q", i, c, want)
		}
	}
	counts := map[byte]int{}
	for _, c := range dst {
		counts[c]++
	}
	if len(counts) != len(alphabet) {
		t.Fatalf("%d distinct digits, want %d", len(counts), len(alphabet))
	}
	for c, n := range counts {
		if n != rejectFrom/len(alphabet) {
			t.Errorf("digit %q appears %d times, want %d", c, n, rejectFrom/len(alphabet))
		}
	}
}

func TestFillBase62Rejection(t *testing.T) {
	tests := []struct {
		name    string
		src     []byte
		want    string
		wantErr bool
	}{
		{name: "highest accepted byte", src: append([]byte{247}, make([]byte, 63)...), want: "z"},
		{name: "rejected bytes are skipped", src: append(bytes.Repeat([]byte{248, 255}, 32), append([]byte{61}, make([]byte, 63)...)...), want: "z"},
		{name: "only rejected bytes then EOF", src: bytes.Repeat([]byte{250}, 64), wantErr: true},
		{name: "short read", src: []byte{1, 2, 3}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := make([]byte, 1)
			err := fillBase62(bytes.NewReader(tt.src), dst)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("err = nil, want an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("fillBase62: %v", err)
			}
			if string(dst) != tt.want {
				t.Fatalf("got %q, want %q", dst, tt.want)
			}
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("entropy source down") }

func TestGenerateReaderFailure(t *testing.T) {
	tests := []struct {
		name string
		r    io.Reader
	}{
		{name: "reader errors", r: failingReader{}},
		{name: "reader runs dry after the id", r: io.LimitReader(bytes.NewReader(make([]byte, 128)), 64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := generate(tt.r)
			if err == nil {
				t.Fatalf("err = nil, want an error")
			}
			if !k.IsZero() {
				t.Fatalf("key is not zero after a failure")
			}
		})
	}
}

func TestParseValid(t *testing.T) {
	k, err := Parse(fixedKey)
	if err != nil {
		t.Fatalf("Parse(fixedKey): %v", err)
	}
	checks := []struct {
		name, got, want string
	}{
		{"ID", k.ID(), fixedID},
		{"PublicPrefix", k.PublicPrefix(), "lk_" + fixedID + "_"},
		{"Reveal", k.Reveal(), fixedKey},
		{"secret", string(k.secret()), fixedSecret},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Fatalf("got %q, want %q", c.got, c.want)
			}
		})
	}
	if k.IsZero() {
		t.Fatalf("parsed key IsZero")
	}
}

func replaceAt(s string, i int, repl string) string {
	return s[:i] + repl + s[i+1:]
}

func TestParseRejects(t *testing.T) {
	huge := fixedKey + strings.Repeat("a", 1<<20-len(fixedKey))
	crc := big.NewInt(int64(crc32.ChecksumIEEE([]byte(fixedBody))))
	overflow := new(big.Int).Add(crc, big.NewInt(1<<32))
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"checksum last digit changed", fixedBody + "0VWoVa", errChecksum},
		{"checksum all zero", fixedBody + "000000", errChecksum},
		{"checksum above 2^32", fixedBody + "zzzzzz", errChecksum},
		{"checksum is crc plus 2^32", fixedBody + refBase62(overflow), errChecksum},
		{"secret changed, checksum kept", replaceAt(fixedKey, secretPos, "1"), errChecksum},
		{"id changed, checksum kept", replaceAt(fixedKey, len(Prefix), "a"), errChecksum},
		{"prefix LK_", withChecksum(t, "LK_"+fixedBody[3:]), errPrefix},
		{"prefix lk-", withChecksum(t, "lk-"+fixedBody[3:]), errPrefix},
		{"prefix xk_", withChecksum(t, "xk_"+fixedBody[3:]), errPrefix},
		{"length 53", fixedKey[:53], errLength},
		{"length 55", fixedKey + "a", errLength},
		{"length 0", "", errLength},
		{"length 1 MiB", huge, errLength},
		{"trailing newline", fixedKey + "\n", errLength},
		{"leading space", " " + fixedKey, errLength},
		{"dash in id", withChecksum(t, replaceAt(fixedBody, 5, "-")), errCharset},
		{"plus in secret", withChecksum(t, replaceAt(fixedBody, 20, "+")), errCharset},
		{"underscore in secret", withChecksum(t, replaceAt(fixedBody, 30, "_")), errCharset},
		{"NUL in id", withChecksum(t, replaceAt(fixedBody, 4, "\x00")), errCharset},
		{"non-ASCII in secret", withChecksum(t, fixedBody[:20]+"é"+fixedBody[22:]), errCharset},
		{"invalid UTF-8 in id", withChecksum(t, replaceAt(fixedBody, 10, "\xff")), errCharset},
		{"dash in checksum", fixedBody + "0VW-VZ", errCharset},
		{"separator replaced", withChecksum(t, replaceAt(fixedBody, sepPos, "A")), errSeparator},
		{"separator shifted left", withChecksum(t, fixedBody[:sepPos-1]+"_"+fixedBody[sepPos-1:sepPos]+fixedBody[secretPos:]), errSeparator},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := Parse(tt.in)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if err != tt.want {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if !k.IsZero() {
				t.Fatalf("a rejected input gave a non-zero key")
			}
			msg := err.Error()
			for _, part := range []string{tt.in, fixedID, fixedSecret, fixedSecret[:8]} {
				if part != "" && strings.Contains(msg, part) {
					t.Fatalf("error %q quotes its input", msg)
				}
			}
		})
	}
}

// CRC32 detects every error confined to 32 consecutive bits, so no
// single-byte substitution anywhere in a key, to any byte value, may parse.
func TestParseRejectsEverySingleSubstitution(t *testing.T) {
	for pos := range Len {
		t.Run(string(rune('A'+pos/26))+string(rune('a'+pos%26)), func(t *testing.T) {
			b := []byte(fixedKey)
			orig := b[pos]
			for v := range 256 {
				if byte(v) == orig {
					continue
				}
				b[pos] = byte(v)
				if _, err := Parse(string(b)); !errors.Is(err, ErrMalformed) {
					t.Fatalf("position %d set to byte %d: err = %v, want ErrMalformed", pos, v, err)
				}
			}
		})
	}
}

func TestParseRejectsAdjacentTranspositions(t *testing.T) {
	for _, key := range []string{fixedKey, mustGenerate(t).Reveal(), mustGenerate(t).Reveal()} {
		for i := range Len - 1 {
			if key[i] == key[i+1] {
				continue
			}
			b := []byte(key)
			b[i], b[i+1] = b[i+1], b[i]
			if _, err := Parse(string(b)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("swap at %d: err = %v, want ErrMalformed", i, err)
			}
		}
	}
}

func TestParseAllocations(t *testing.T) {
	huge := strings.Repeat("lk_", 1<<20/3+1)
	tests := []struct {
		name string
		in   string
		max  float64
	}{
		{"1 MiB input", huge, 0},
		{"bad prefix", withChecksum(t, "LK_"+fixedBody[3:]), 0},
		{"bad checksum", fixedBody + "000000", 1},
		{"valid key", fixedKey, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := testing.AllocsPerRun(100, func() { _, _ = Parse(tt.in) })
			if got > tt.max {
				t.Fatalf("%v allocations per Parse, want at most %v", got, tt.max)
			}
		})
	}
}

func TestValidID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{fixedID, true},
		{"000000000000", true},
		{"zzzzzzzzzzzz", true},
		{"", false},
		{fixedID[:11], false},
		{fixedID + "a", false},
		{"AbCdEf01234-", false},
		{"AbCdEf01234_", false},
		{"AbCdEf01234\x00", false},
		{"AbCdEf0123é", false},
		{"lk_" + fixedID[:9], false},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			if got := ValidID(tt.id); got != tt.want {
				t.Fatalf("ValidID(%q) = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
}

func TestZeroKey(t *testing.T) {
	var k Key
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"IsZero", k.IsZero(), true},
		{"ID", k.ID(), ""},
		{"PublicPrefix", k.PublicPrefix(), ""},
		{"Reveal", k.Reveal(), ""},
		{"Equal zero", k.Equal(Key{}), true},
		{"Equal real", k.Equal(mustParse(t, fixedKey)), false},
		{"real Equal zero", mustParse(t, fixedKey).Equal(k), false},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Fatalf("got %v, want %v", c.got, c.want)
			}
		})
	}
}

func TestEqual(t *testing.T) {
	a := mustParse(t, fixedKey)
	tests := []struct {
		name string
		b    Key
		want bool
	}{
		{"same text parsed twice", mustParse(t, fixedKey), true},
		{"itself", a, true},
		{"other generated key", mustGenerate(t), false},
		{"same id, other secret", mustParse(t, withChecksum(t, replaceAt(fixedBody, secretPos, "9"))), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := a.Equal(tt.b); got != tt.want {
				t.Fatalf("Equal = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestChecksumEncoding(t *testing.T) {
	tests := []struct {
		v    uint32
		want string
	}{
		{0, "000000"},
		{61, "00000z"},
		{62, "000010"},
		{62*62 - 1, "0000zz"},
		{crc32.ChecksumIEEE([]byte(fixedBody)), "0VWoVZ"},
		{1<<32 - 1, refBase62(big.NewInt(1<<32 - 1))},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			var got [checksumLen]byte
			putChecksum(got[:], tt.v)
			if string(got[:]) != tt.want {
				t.Fatalf("putChecksum(%d) = %q, want %q", tt.v, got, tt.want)
			}
			if back := checksumValue(tt.want); back != uint64(tt.v) {
				t.Fatalf("checksumValue(%q) = %d, want %d", tt.want, back, tt.v)
			}
		})
	}
}

func TestGenerateFor(t *testing.T) {
	a, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateFor(a.ID())
	if err != nil {
		t.Fatal(err)
	}
	if b.ID() != a.ID() || b.Equal(a) {
		t.Fatalf("GenerateFor kept id %q -> %q, equal=%v; want same id, new secret", a.ID(), b.ID(), b.Equal(a))
	}
	if p, err := Parse(b.Reveal()); err != nil || !p.Equal(b) {
		t.Fatalf("rotated key does not parse back: %v", err)
	}
	for _, bad := range []string{"", "short", "aaaaaaaaaaa-", "aaaaaaaaaaaaa"} {
		if _, err := GenerateFor(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("GenerateFor(%q) = %v, want ErrMalformed", bad, err)
		}
	}
}
