package badger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/latchkeyhq/latchkey/store"
	"github.com/latchkeyhq/latchkey/store/storetest"
)

func TestRevocationLogReopen(t *testing.T) {
	key := newKey(t)
	storetest.RunReopen(t, func(t *testing.T, dir string, now func() time.Time) store.Store {
		s, err := Open(Options{Dir: dir, EncryptionKey: key, Now: now})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

// The stored layout is what other tools and later versions read: entries
// under rlog/<16 hex digits>, a TTL no earlier than ExpiresAt, and the
// counter beside them.
func TestRevocationLogLayout(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, Options{InMemory: true, EncryptionKey: newKey(t)})
	base := time.Now().Add(time.Hour).Truncate(time.Second)
	cases := []struct {
		name    string
		expires time.Time
		wantTTL uint64
	}{
		{"whole second", base, uint64(base.Unix())},
		{"a nanosecond past a second rounds up", base.Add(time.Nanosecond), uint64(base.Unix()) + 1},
		{"just under a second rounds up", base.Add(time.Second - time.Nanosecond), uint64(base.Unix()) + 1},
		{"zero keeps for ever", time.Time{}, 0},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := s.AppendRevocation(ctx, store.Revocation{Kind: store.RevokeJTI, Value: "j", ExpiresAt: tc.expires})
			if err != nil {
				t.Fatalf("AppendRevocation: %v", err)
			}
			if r.Rev != uint64(i+1) {
				t.Fatalf("Rev = %d, want %d", r.Rev, i+1)
			}
			wantKey := fmt.Sprintf("rlog/%016x", r.Rev)
			err = s.db.View(func(txn *badger.Txn) error {
				item, err := txn.Get([]byte(wantKey))
				if err != nil {
					return fmt.Errorf("get %s: %w", wantKey, err)
				}
				if got := item.ExpiresAt(); got != tc.wantTTL {
					return fmt.Errorf("TTL = %d, want %d", got, tc.wantTTL)
				}
				seq, err := txn.Get([]byte("rlog-seq"))
				if err != nil {
					return fmt.Errorf("get rlog-seq: %w", err)
				}
				if seq.ExpiresAt() != 0 {
					return errors.New("rlog-seq has a TTL; it must never expire")
				}
				v, err := seq.ValueCopy(nil)
				if err != nil {
					return err
				}
				if len(v) != 8 || binary.BigEndian.Uint64(v) != r.Rev {
					return fmt.Errorf("rlog-seq = %x, want %d", v, r.Rev)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRevLogKeyOrder(t *testing.T) {
	revs := []uint64{0, 1, 15, 16, 255, 256, 1 << 32, 1<<64 - 2, 1<<64 - 1}
	for i, rev := range revs {
		k := revLogKey(rev)
		if want := fmt.Sprintf("rlog/%016x", rev); string(k) != want {
			t.Fatalf("revLogKey(%d) = %q, want %q", rev, k, want)
		}
		if got, err := parseRevLogKey(k); err != nil || got != rev {
			t.Fatalf("parseRevLogKey(%q) = %d, %v; want %d", k, got, err, rev)
		}
		if i > 0 && string(revLogKey(revs[i-1])) >= string(k) {
			t.Fatalf("key of %d does not sort before key of %d", revs[i-1], rev)
		}
	}
	for _, bad := range []string{"rlog/", "rlog/123", "rlog/000000000000000g", "rlog/00000000000000001"} {
		if _, err := parseRevLogKey([]byte(bad)); err == nil {
			t.Fatalf("parseRevLogKey(%q) succeeded, want an error", bad)
		}
	}
}

func TestRevocationCodec(t *testing.T) {
	zone := time.FixedZone("UTC+9", 9*3600)
	valid := store.Revocation{Kind: store.RevokeKeyTokens, Value: "key-1",
		Before: time.Date(2025, 6, 7, 8, 9, 10, 11, zone), At: time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC),
		ExpiresAt: time.Date(2300, 1, 1, 0, 0, 0, 999999999, zone), Actor: "admin", Reason: "stolen laptop"}
	t.Run("round trip", func(t *testing.T) {
		got, err := decodeRevocation(42, encodeRevocation(valid))
		want := valid
		want.Rev = 42
		if err != nil || got.Rev != 42 || got.Kind != want.Kind || got.Value != want.Value ||
			!got.Before.Equal(want.Before) || !got.At.Equal(want.At) || !got.ExpiresAt.Equal(want.ExpiresAt) ||
			got.Actor != want.Actor || got.Reason != want.Reason {
			t.Fatalf("decode(encode) = %+v, %v; want %+v", got, err, want)
		}
	})

	good := encodeRevocation(valid)
	with := func(i int, b byte) []byte {
		c := append([]byte(nil), good...)
		c[i] = b
		return c
	}
	noTimes := encodeRevocation(store.Revocation{Kind: store.RevokeJTI, Value: "j"})
	cases := map[string][]byte{
		"empty":             nil,
		"header only":       good[:3],
		"truncated":         good[:len(good)-1],
		"trailing byte":     append(append([]byte(nil), good...), 0),
		"unknown version":   with(0, revWireVersion+1),
		"unspecified kind":  with(1, 0),
		"unknown kind":      with(1, 9),
		"unknown flag":      with(2, good[2]|0x08),
		"missing Before":    with(2, good[2]&^flagBefore),
		"nanoseconds >= 1s": append([]byte{revWireVersion, byte(store.RevokeJTI), flagAt, 0}, binary.AppendUvarint(nil, uint64(time.Second))...),
		"length overflow":   append(noTimes[:3], binary.AppendUvarint(nil, 1<<63)...),
		"value not utf8":    append(noTimes[:3], 2, 0xc3, 0x28, 0, 0),
		"empty value":       append(noTimes[:3], 0, 0, 0),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			if r, err := decodeRevocation(7, b); !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("decodeRevocation(%x) = %+v, %v; want ErrUnavailable", b, r, err)
			}
		})
	}
}

// A corrupt entry or counter fails the whole load rather than being
// skipped: a silently dropped revocation would re-activate tokens.
func TestLoadRevocationsCorrupt(t *testing.T) {
	cases := map[string]struct{ key, val string }{
		"entry":   {"rlog/0000000000000001", "\x01\x01"},
		"key":     {"rlog/zz", string(encodeRevocation(store.Revocation{Kind: store.RevokeJTI, Value: "j"}))},
		"counter": {"rlog-seq", "\x00\x01"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := mustOpen(t, Options{InMemory: true, EncryptionKey: newKey(t)})
			if err := s.db.Update(func(txn *badger.Txn) error {
				return txn.Set([]byte(tc.key), []byte(tc.val))
			}); err != nil {
				t.Fatal(err)
			}
			if got, last, err := s.LoadRevocations(context.Background()); !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("LoadRevocations = %d entries, %d, %v; want ErrUnavailable", len(got), last, err)
			}
		})
	}
}

// bulkAppend writes n revocations straight into Badger, as n appends
// would, without a disk sync per entry.
func bulkAppend(tb testing.TB, s *Store, n int) {
	tb.Helper()
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	now := time.Now()
	for i := 1; i <= n; i++ {
		r := store.Revocation{Kind: store.RevocationKind(1 + i%4), Value: fmt.Sprintf("value-%09d", i),
			At: now, ExpiresAt: now.Add(time.Hour), Actor: "spiffe://example.org/admin", Reason: "bulk"}
		if r.Kind == store.RevokeKeyTokens || r.Kind == store.RevokeSubjectTokens {
			r.Before = now
		}
		e := badger.NewEntry(revLogKey(uint64(i)), encodeRevocation(r))
		e.ExpiresAt = expiresAt(r.ExpiresAt)
		if err := wb.SetEntry(e); err != nil {
			tb.Fatal(err)
		}
	}
	var seq [8]byte
	binary.BigEndian.PutUint64(seq[:], uint64(n))
	if err := wb.Set([]byte(revLogSeqKey), seq[:]); err != nil {
		tb.Fatal(err)
	}
	if err := wb.Flush(); err != nil {
		tb.Fatal(err)
	}
}

func TestLoadRevocations100k(t *testing.T) {
	const n = 100_000
	s := mustOpen(t, Options{Dir: t.TempDir(), EncryptionKey: newKey(t)})
	bulkAppend(t, s, n)
	got, last, err := s.LoadRevocations(context.Background())
	if err != nil {
		t.Fatalf("LoadRevocations: %v", err)
	}
	if len(got) != n || last != n {
		t.Fatalf("loaded %d entries, last %d; want %d, %d", len(got), last, n, n)
	}
	for i, r := range got {
		if want := fmt.Sprintf("value-%09d", i+1); r.Rev != uint64(i+1) || r.Value != want {
			t.Fatalf("entry %d = rev %d %q, want rev %d %q", i, r.Rev, r.Value, i+1, want)
		}
	}
}

// BenchmarkLoadRevocations1M measures a start-up load of a million live
// entries from disk; it must stay well under 5 s per op on two cores.
func BenchmarkLoadRevocations1M(b *testing.B) {
	const n = 1_000_000
	s, err := Open(Options{Dir: b.TempDir(), EncryptionKey: newKey(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	bulkAppend(b, s, n)
	for b.Loop() {
		got, last, err := s.LoadRevocations(context.Background())
		if err != nil || len(got) != n || last != n {
			b.Fatalf("LoadRevocations = %d entries, %d, %v", len(got), last, err)
		}
	}
}
