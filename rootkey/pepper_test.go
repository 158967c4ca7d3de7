package rootkey

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func testPepper(t testing.TB, seed byte) Pepper {
	t.Helper()
	b := make([]byte, MinPepperLen)
	for i := range b {
		b[i] = seed + byte(i)
	}
	p, err := NewPepper(b)
	if err != nil {
		t.Fatalf("NewPepper: %v", err)
	}
	return p
}

// The expected digest was computed with Python's hmac module over the
// secret part alone, pinning both the algorithm and what it covers.
func TestHashKnownAnswer(t *testing.T) {
	const want = "267d566a121c7d48e39eeb5ddc2ada30e4877cc3d0a2a302fd43f260c1462943"
	got := testPepper(t, 0).Hash(mustParse(t, fixedKey))
	if hex.EncodeToString(got) != want {
		t.Fatalf("Hash = %x, want %s", got, want)
	}
	if len(got) != HashLen {
		t.Fatalf("len(Hash) = %d, want %d", len(got), HashLen)
	}
}

func TestNewPepper(t *testing.T) {
	secretish := []byte(strings.Repeat("do-not-print-me-", 3))
	tests := []struct {
		name    string
		b       []byte
		wantErr bool
	}{
		{"nil", nil, true},
		{"empty", []byte{}, true},
		{"31 bytes", secretish[:31], true},
		{"32 bytes", secretish[:32], false},
		{"48 bytes", secretish[:48], false},
		{"longer than the HMAC block", bytes.Repeat(secretish, 3), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPepper(tt.b)
			if !tt.wantErr {
				if err != nil || p.IsZero() {
					t.Fatalf("NewPepper: err = %v, zero = %v", err, p.IsZero())
				}
				return
			}
			if !errors.Is(err, ErrPepperTooShort) {
				t.Fatalf("err = %v, want ErrPepperTooShort", err)
			}
			if !p.IsZero() {
				t.Fatalf("a rejected pepper is not zero")
			}
			if len(tt.b) > 0 && strings.Contains(err.Error(), string(tt.b[:8])) {
				t.Fatalf("error %q quotes the pepper", err)
			}
			if !strings.Contains(err.Error(), "32 bytes") {
				t.Fatalf("error %q does not state the length rule", err)
			}
		})
	}
}

func TestNewPepperCopiesInput(t *testing.T) {
	b := bytes.Repeat([]byte{7}, MinPepperLen)
	p, err := NewPepper(b)
	if err != nil {
		t.Fatalf("NewPepper: %v", err)
	}
	k := mustParse(t, fixedKey)
	before := p.Hash(k)
	b[0] ^= 0xff
	if !p.Verify(k, before) {
		t.Fatalf("changing the caller's slice changed the pepper")
	}
}

func TestVerify(t *testing.T) {
	p := testPepper(t, 0)
	k := mustParse(t, fixedKey)
	good := p.Hash(k)
	flipped := bytes.Clone(good)
	flipped[len(flipped)-1] ^= 1
	sameIDOtherSecret := mustParse(t, withChecksum(t, replaceAt(fixedBody, secretPos+5, "Q")))

	tests := []struct {
		name   string
		pepper Pepper
		key    Key
		stored []byte
		want   bool
	}{
		{"right key and pepper", p, k, good, true},
		{"same key parsed again", p, mustParse(t, fixedKey), good, true},
		{"wrong pepper", testPepper(t, 1), k, good, false},
		{"wrong secret, same id", p, sameIDOtherSecret, good, false},
		{"other key", p, mustGenerate(t), good, false},
		{"last bit flipped", p, k, flipped, false},
		{"truncated to 31 bytes", p, k, good[:31], false},
		{"truncated to 16 bytes", p, k, good[:16], false},
		{"one byte too long", p, k, append(bytes.Clone(good), 0), false},
		{"nil stored", p, k, nil, false},
		{"empty stored", p, k, []byte{}, false},
		{"zero key against its own hash", p, Key{}, p.Hash(Key{}), false},
		{"zero key against a real hash", p, Key{}, good, false},
		{"zero pepper, nil stored", Pepper{}, k, nil, false},
		{"zero pepper, real hash", Pepper{}, k, good, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.pepper.Verify(tt.key, tt.stored); got != tt.want {
				t.Fatalf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHashEdgeCases(t *testing.T) {
	p := testPepper(t, 0)
	t.Run("zero pepper hashes nothing", func(t *testing.T) {
		if got := (Pepper{}).Hash(mustParse(t, fixedKey)); got != nil {
			t.Fatalf("Hash = %x, want nil", got)
		}
	})
	t.Run("zero key gives a full-length decoy", func(t *testing.T) {
		if got := p.Hash(Key{}); len(got) != HashLen {
			t.Fatalf("len(Hash(Key{})) = %d, want %d", len(got), HashLen)
		}
	})
	t.Run("zero key decoy matches no real key", func(t *testing.T) {
		decoy := p.Hash(Key{})
		for range 100 {
			if p.Verify(mustGenerate(t), decoy) {
				t.Fatalf("a generated key verified against the decoy")
			}
		}
	})
	t.Run("hash is deterministic", func(t *testing.T) {
		k := mustGenerate(t)
		if !bytes.Equal(p.Hash(k), p.Hash(k)) {
			t.Fatalf("two hashes of one key differ")
		}
	})
	t.Run("pepper changes the hash", func(t *testing.T) {
		k := mustGenerate(t)
		if bytes.Equal(p.Hash(k), testPepper(t, 1).Hash(k)) {
			t.Fatalf("two peppers gave the same hash")
		}
	})
}

func TestDerive(t *testing.T) {
	p := testPepper(t, 1)
	a, b := p.Derive("audit-chain"), p.Derive("webhook")
	if len(a) != 32 || len(b) != 32 {
		t.Fatalf("derived %d and %d bytes, want 32", len(a), len(b))
	}
	if bytes.Equal(a, b) {
		t.Error("two labels derived the same key")
	}
	if !bytes.Equal(a, p.Derive("audit-chain")) {
		t.Error("Derive is not deterministic")
	}
	if bytes.Equal(a, testPepper(t, 2).Derive("audit-chain")) {
		t.Error("two peppers derived the same key")
	}
	if (Pepper{}).Derive("x") != nil {
		t.Error("the zero Pepper derived a key")
	}
}

// Hashes share pooled HMAC states: many goroutines hashing different keys
// at once each get their own key's value, the one a fresh HMAC gives.
func TestHashConcurrentMatchesAFreshHMAC(t *testing.T) {
	p := testPepper(t, 7)
	keys := make([]Key, 16)
	want := make([][]byte, len(keys))
	for i := range keys {
		k, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
		m := hmac.New(sha256.New, p.k.b)
		m.Write(k.secret())
		want[i] = m.Sum(nil)
	}
	var wg sync.WaitGroup
	errs := make(chan string, len(keys))
	for i := range keys {
		wg.Go(func() {
			for range 200 {
				if got := p.Hash(keys[i]); !bytes.Equal(got, want[i]) {
					errs <- fmt.Sprintf("key %d: Hash = %x, want %x", i, got, want[i])
					return
				}
				if !p.Verify(keys[i], want[i]) || p.Verify(keys[(i+1)%len(keys)], want[i]) {
					errs <- fmt.Sprintf("key %d: Verify disagrees with Hash", i)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
