package badger

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/latchkeyhq/latchkey/store"
)

// A held data directory must be refused, even within one process, and be
// usable again once the holder closes it (SECURITY-CASES D4).
func TestOpenHeldDirectoryIsLocked(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	first, err := Open(Options{Dir: dir, EncryptionKey: key})
	if err != nil {
		t.Fatalf("first Open: %v", err)
	}
	for _, name := range []string{"same key", "other key"} {
		t.Run(name, func(t *testing.T) {
			k := key
			if name == "other key" {
				k = newKey(t)
			}
			second, err := Open(Options{Dir: dir, EncryptionKey: k})
			if err == nil {
				_ = second.Close()
				t.Fatal("second Open of a held directory succeeded")
			}
			if !errors.Is(err, store.ErrLocked) {
				t.Fatalf("second Open = %v, want ErrLocked", err)
			}
			if !strings.Contains(err.Error(), dir) {
				t.Fatalf("error %q does not name the directory %q", err, dir)
			}
		})
	}
	// The probe before badger.Open normally answers; Badger's own refusal,
	// for a lock taken between the two, must be classified the same way.
	t.Run("badger's own refusal", func(t *testing.T) {
		db, err := badger.Open(Options{Dir: dir, EncryptionKey: key}.badgerOptions())
		if err == nil {
			_ = db.Close()
			t.Fatal("badger.Open of a held directory succeeded")
		}
		if got := openError(dir, err); !errors.Is(got, store.ErrLocked) || !strings.Contains(got.Error(), dir) {
			t.Fatalf("openError(%v) = %v, want ErrLocked naming %s", err, got, dir)
		}
	})
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	third := mustOpen(t, Options{Dir: dir, EncryptionKey: key})
	if _, err := third.ListKeys(context.Background(), store.KeyQuery{}); err != nil {
		t.Fatalf("ListKeys after reopening: %v", err)
	}
}

// Only the right 32-byte key opens a data directory, and a refusal says
// why without echoing the key (SECURITY-CASES D5).
func TestOpenRejectsWrongKeys(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	s, err := Open(Options{Dir: dir, EncryptionKey: key})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.CreateKey(context.Background(), store.KeyRecord{ID: "k", State: store.KeyStateActive}); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	wrong := newKey(t)
	cases := []struct {
		name     string
		key      []byte
		wantErr  error
		wantText string
	}{
		{"wrong key", wrong, ErrWrongEncryptionKey, "encryption key does not match the data directory"},
		{"one bit off", flipBit(key), ErrWrongEncryptionKey, "encryption key does not match the data directory"},
		{"nil key", nil, ErrInvalidEncryptionKey, "exactly 32 bytes"},
		{"AES-128 key", key[:16], ErrInvalidEncryptionKey, "exactly 32 bytes"},
		{"AES-192 key", key[:24], ErrInvalidEncryptionKey, "exactly 32 bytes"},
		{"31 bytes", key[:31], ErrInvalidEncryptionKey, "exactly 32 bytes"},
		{"33 bytes", append(append([]byte(nil), key...), 0), ErrInvalidEncryptionKey, "exactly 32 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(Options{Dir: dir, EncryptionKey: tc.key})
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("Open = %q, want %v mentioning %q", err, tc.wantErr, tc.wantText)
			}
			assertNoKey(t, err.Error(), key, tc.key)
		})
	}

	// The failed attempts must neither hold the lock nor damage the data.
	s = mustOpen(t, Options{Dir: dir, EncryptionKey: key})
	if _, err := s.GetKey(context.Background(), "k"); err != nil {
		t.Fatalf("GetKey with the right key after failed opens: %v", err)
	}
}

// A directory written without encryption cannot be opened as if it were
// ours; the error says the key does not match.
func TestOpenRejectsUnencryptedDirectory(t *testing.T) {
	dir := t.TempDir()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(Options{Dir: dir, EncryptionKey: newKey(t)})
	if err == nil {
		_ = s.Close()
		t.Fatal("Open of an unencrypted directory succeeded")
	}
	if !errors.Is(err, ErrWrongEncryptionKey) {
		t.Fatalf("Open = %v, want ErrWrongEncryptionKey", err)
	}
}

func flipBit(k []byte) []byte {
	out := append([]byte(nil), k...)
	out[len(out)-1] ^= 1
	return out
}

func assertNoKey(t *testing.T, text string, keys ...[]byte) {
	t.Helper()
	for _, k := range keys {
		if len(k) < 8 {
			continue
		}
		for _, form := range []string{string(k), hex.EncodeToString(k), base64.StdEncoding.EncodeToString(k), fmt.Sprint(k)} {
			if strings.Contains(text, form) {
				t.Fatalf("%q contains the encryption key", text)
			}
		}
	}
}

// Nothing written through the store may be readable in the data directory
// (SECURITY-CASES D5, K3). The control case writes the same values without
// encryption, to show the scan finds them when they are there.
func TestNoPlaintextOnDisk(t *testing.T) {
	const owner = "owner-plaintext-marker-5f1c"
	const jti = "jti-plaintext-marker-a93e"
	hash := []byte("hash-plaintext-marker-0c77-32byt")
	private := []byte("private-plaintext-marker-77e2-pkcs8")
	prevHash := []byte("prev-hash-plaintext-marker-4d2a-x")
	// Distinct from every other marker: Badger compresses blocks, and a
	// substring repeated from earlier in the record would be stored as a
	// back-reference the control scan cannot see.
	const detail = "Hq7ZmV2xKw9RtJ4c"
	const disabledReason = "Ub3NyG8pLs5DfE6j"
	rec := store.KeyRecord{ID: "k1", Owner: owner, SecretHash: hash, State: store.KeyStateActive,
		PreviousSecretHash: prevHash, DisabledReason: disabledReason,
		History: []store.KeyEvent{{At: time.Unix(1, 0), Action: "rotated", Detail: detail}}}
	sk := store.SigningKeyRecord{KID: "s1", Alg: "EdDSA", Private: private}

	markers := map[string][]byte{}
	for name, secret := range map[string][]byte{"owner": []byte(owner), "jti": []byte(jti),
		"secret hash": hash, "private key": private, "previous secret hash": prevHash,
		"history detail": []byte(detail), "disabled reason": []byte(disabledReason)} {
		markers[name] = secret
		markers[name+" (base64)"] = []byte(base64.StdEncoding.EncodeToString(secret))
		markers[name+" (hex)"] = []byte(hex.EncodeToString(secret))
	}

	t.Run("control without encryption", func(t *testing.T) {
		dir := t.TempDir()
		db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil).WithSyncWrites(true))
		if err != nil {
			t.Fatal(err)
		}
		val, err := encodeKey(rec)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(func(txn *badger.Txn) error { return txn.Set(keyKey(rec.ID), val) }); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		// Every field the encrypted run relies on must be visible here, or
		// the encrypted run would pass without proving anything about it.
		found := strings.Join(scanDir(t, dir, markers), "\n")
		for _, name := range []string{"owner", "secret hash (base64)", "previous secret hash (base64)",
			"history detail", "disabled reason"} {
			if !strings.Contains(found, ": "+name+"\n") && !strings.HasSuffix(found, ": "+name) {
				t.Fatalf("scan of an unencrypted directory missed %s; the scan is broken:\n%s", name, found)
			}
		}
	})

	t.Run("encrypted store", func(t *testing.T) {
		ctx := context.Background()
		dir, key := t.TempDir(), newKey(t)
		s, err := Open(Options{Dir: dir, EncryptionKey: key})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateKey(ctx, rec); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendRevocation(ctx, store.Revocation{Kind: store.RevokeJTI, Value: jti, At: time.Now(),
			ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutSigningKey(ctx, sk); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if found := scanDir(t, dir, markers); len(found) != 0 {
			t.Fatalf("plaintext on disk: %v", found)
		}
	})
}

// scanDir returns "file: marker" for every marker found in any file under dir.
func scanDir(t *testing.T, dir string, markers map[string][]byte) []string {
	t.Helper()
	var found []string
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for name, m := range markers {
			if bytes.Contains(data, m) {
				found = append(found, filepath.Base(path)+": "+name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatalf("no files under %s", dir)
	}
	return found
}

func TestOptionsValidation(t *testing.T) {
	key := make([]byte, EncryptionKeySize)
	cases := []struct {
		name string
		opts Options
		want string
	}{
		{"no directory", Options{EncryptionKey: key}, "data directory is required"},
		{"negative GC interval", Options{Dir: "d", EncryptionKey: key, GCInterval: -time.Second}, "GC interval"},
		{"no key in memory", Options{InMemory: true}, "exactly 32 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(tc.opts)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open = %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

// The Badger options carry the durability and safety settings the store
// promises (SECURITY-CASES D2, D5, D9).
func TestBadgerOptions(t *testing.T) {
	key := []byte(strings.Repeat("k", EncryptionKeySize))
	opts := Options{Dir: "/data", EncryptionKey: key}
	b := opts.badgerOptions()
	checks := []struct {
		name string
		ok   bool
	}{
		{"SyncWrites", b.SyncWrites},
		{"DetectConflicts", b.DetectConflicts},
		{"BlockCacheSize set", b.BlockCacheSize > 0},
		{"IndexCacheSize set", b.IndexCacheSize > 0},
		{"no lock bypass", !b.BypassLockGuard},
		{"encryption key", bytes.Equal(b.EncryptionKey, key)},
		{"dir", b.Dir == "/data" && b.ValueDir == "/data"},
		{"nil logger discards", b.Logger == nil},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !c.ok {
				t.Fatalf("badger option %s not as required", c.name)
			}
		})
	}
	t.Run("key is copied", func(t *testing.T) {
		key[0] = 'X'
		if b.EncryptionKey[0] != 'k' {
			t.Fatal("changing the caller's key changed the key handed to Badger")
		}
	})
	t.Run("in memory ignores dir", func(t *testing.T) {
		m := Options{Dir: "/data", InMemory: true, EncryptionKey: key}.badgerOptions()
		if !m.InMemory || m.Dir != "" {
			t.Fatalf("in-memory options: InMemory=%v Dir=%q", m.InMemory, m.Dir)
		}
	})
	// Why the cache sizes are set explicitly: Badger panics otherwise.
	t.Run("encryption without block cache panics in Badger", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Fatal("Badger accepted encryption with no block cache; the explicit cache size may no longer be needed")
			}
		}()
		db, err := badger.Open(Options{InMemory: true, EncryptionKey: key}.badgerOptions().WithBlockCacheSize(0))
		if err == nil {
			_ = db.Close()
		}
	})
}

func TestOptionsRedactKey(t *testing.T) {
	key := []byte("ENCRYPTION-KEY-MARKER-0123456789")
	opts := Options{Dir: "/d", EncryptionKey: key}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("open", "opts", opts)
	outputs := map[string]string{
		"%v":   fmt.Sprintf("%v", opts),
		"%+v":  fmt.Sprintf("%+v", opts),
		"%#v":  fmt.Sprintf("%#v", opts),
		"%s":   fmt.Sprintf("%s", opts),
		"%x":   fmt.Sprintf("%x", opts),
		"&%v":  fmt.Sprintf("%v", &opts),
		"slog": logged.String(),
	}
	for name, out := range outputs {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(out, "[REDACTED]") {
				t.Fatalf("%q does not mark the key as redacted", out)
			}
			assertNoKey(t, out, key)
		})
	}
}

func TestBadgerLogLevels(t *testing.T) {
	cases := []struct {
		name string
		log  func(badger.Logger)
		want string
	}{
		{"error", func(l badger.Logger) { l.Errorf("disk %s\n", "full") }, "level=ERROR msg=\"disk full\" component=badger\n"},
		{"warning", func(l badger.Logger) { l.Warningf("slow %d", 3) }, "level=WARN msg=\"slow 3\" component=badger\n"},
		{"cache report at debug", func(l badger.Logger) {
			l.Warningf("%s might be too small. Metrics: %s\n", "Block cache", "hit: 3 miss: 95")
		}, "level=DEBUG msg=\"Block cache might be too small. Metrics: hit: 3 miss: 95\" component=badger\n"},
		{"index cache report at debug", func(l badger.Logger) {
			l.Warningf("%s might be too small. Metrics: %s\n", "Index cache", "hit: 1")
		}, "level=DEBUG msg=\"Index cache might be too small. Metrics: hit: 1\" component=badger\n"},
		{"cache life at debug", func(l badger.Logger) {
			l.Warningf("Cache life expectancy (in seconds): %+v\n", "50p: 2.00")
		}, "level=DEBUG msg=\"Cache life expectancy (in seconds): 50p: 2.00\" component=badger\n"},
		{"other cache warning kept", func(l badger.Logger) { l.Warningf("Block cache is full") }, "level=WARN msg=\"Block cache is full\" component=badger\n"},
		{"info dropped", func(l badger.Logger) { l.Infof("compaction") }, ""},
		{"debug dropped", func(l badger.Logger) { l.Debugf("detail") }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			h := slog.NewTextHandler(&buf, &slog.HandlerOptions{
				Level: slog.LevelDebug,
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey {
						return slog.Attr{}
					}
					return a
				},
			})
			tc.log(slogAdapter{slog.New(h)})
			if buf.String() != tc.want {
				t.Fatalf("logged %q, want %q", buf.String(), tc.want)
			}
		})
	}
}
