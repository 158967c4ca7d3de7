package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/store"
	badgerstore "github.com/latchkeyhq/latchkey/store/badger"
)

// TestCopyDirCopiesTree checks that a nested tree arrives byte for byte,
// with every file's and folder's permission bits.
func TestCopyDirCopiesTree(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	rng := rand.New(rand.NewPCG(1, 2))
	big := make([]byte, 3<<20+17)
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	files := map[string]struct {
		data []byte
		mode fs.FileMode
	}{
		"000001.vlog":       {big, 0o600},
		"MANIFEST":          {[]byte("manifest"), 0o640},
		"empty":             {nil, 0o644},
		"sub/a.sst":         {[]byte("table a"), 0o600},
		"sub/deeper/b.sst":  {[]byte("table b\x00\xff"), 0o755},
		"other/c":           {[]byte("c"), 0o400},
		"other/emptydir/.d": {[]byte("d"), 0o600},
	}
	dirs := map[string]fs.FileMode{".": 0o700, "sub": 0o750, "sub/deeper": 0o700, "other": 0o755, "other/emptydir": 0o711, "hollow": 0o700}
	for d := range dirs {
		if err := os.MkdirAll(filepath.Join(src, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, f := range files {
		p := filepath.Join(src, name)
		if err := os.WriteFile(p, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	for d, mode := range dirs {
		if err := os.Chmod(filepath.Join(src, d), mode); err != nil {
			t.Fatal(err)
		}
	}
	dst := filepath.Join(t.TempDir(), "dst")
	if err := copyDir(src, dst); err != nil {
		t.Fatalf("copyDir: %v", err)
	}
	for name, f := range files {
		p := filepath.Join(dst, name)
		got, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(got, f.data) {
			t.Errorf("%s: %d bytes differ from the source's %d", name, len(got), len(f.data))
		}
		if info, err := os.Stat(p); err != nil || info.Mode() != f.mode {
			t.Errorf("%s: mode %v (%v), want %v", name, info.Mode(), err, f.mode)
		}
	}
	for d, mode := range dirs {
		info, err := os.Stat(filepath.Join(dst, d))
		if err != nil || !info.IsDir() || info.Mode().Perm() != mode {
			t.Errorf("folder %s: %v (%v), want a folder with mode %v", d, info.Mode(), err, mode)
		}
	}
	var n int
	filepath.WalkDir(dst, func(string, fs.DirEntry, error) error { n++; return nil })
	if want := len(files) + len(dirs); n != want {
		t.Errorf("copy holds %d entries, want %d", n, want)
	}
}

// TestCopyDirFails checks that the copy stops with the path at fault
// rather than copying part of a store or blocking.
func TestCopyDirFails(t *testing.T) {
	t.Run("missing source", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "nowhere")
		err := copyDir(src, filepath.Join(t.TempDir(), "dst"))
		if err == nil || !strings.Contains(err.Error(), src) {
			t.Errorf("copyDir of a missing folder: %v, want an error naming %s", err, src)
		}
	})
	t.Run("source is a file", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(src, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		err := copyDir(src, filepath.Join(t.TempDir(), "dst"))
		if err == nil || !strings.Contains(err.Error(), "not a directory") {
			t.Errorf("copyDir of a file: %v, want not a directory", err)
		}
	})
	t.Run("destination exists", func(t *testing.T) {
		src, dst := t.TempDir(), t.TempDir()
		if err := os.WriteFile(filepath.Join(src, "f"), []byte("new"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := copyDir(src, dst); err == nil {
			t.Error("copyDir into an existing folder succeeded")
		}
		if _, err := os.Stat(filepath.Join(dst, "f")); err == nil {
			t.Error("copyDir wrote into an existing folder")
		}
	})
	t.Run("unreadable file", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root reads files whatever their mode")
		}
		src := t.TempDir()
		p := filepath.Join(src, "secret")
		if err := os.WriteFile(p, []byte("x"), 0o000); err != nil {
			t.Fatal(err)
		}
		err := copyDir(src, filepath.Join(t.TempDir(), "dst"))
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("copyDir with an unreadable file: %v, want an error naming %s", err, p)
		}
	})
	t.Run("fifo", func(t *testing.T) {
		src := t.TempDir()
		p := filepath.Join(src, "pipe")
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Skip("mkfifo:", err)
		}
		done := make(chan error, 1)
		go func() { done <- copyDir(src, filepath.Join(t.TempDir(), "dst")) }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("copyDir with a FIFO: %v, want an error naming %s as not a regular file", err, p)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("copyDir blocked on a FIFO")
		}
	})
}

// TestCopyDirBadgerStore checks that a copy of a closed store opens as a
// store of its own, beside the original, with what the original held.
func TestCopyDirBadgerStore(t *testing.T) {
	ctx := context.Background()
	key := bytes.Repeat([]byte{7}, badgerstore.EncryptionKeySize)
	src, dst := filepath.Join(t.TempDir(), "src"), filepath.Join(t.TempDir(), "dst")
	now := time.Now().UTC().Truncate(time.Second)
	rev := func(tag string) func(int) store.Revocation {
		return func(i int) store.Revocation {
			return store.Revocation{Kind: store.RevokeJTI, Value: fmt.Sprintf("%s-%d", tag, i), At: now,
				ExpiresAt: now.Add(time.Hour), Actor: "test", Reason: "copy test"}
		}
	}
	s, err := badgerstore.Open(badgerstore.Options{Dir: src, EncryptionKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ImportRevocations(ctx, 100, rev("orig")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := copyDir(src, dst); err != nil {
		t.Fatalf("copyDir: %v", err)
	}
	orig, err := badgerstore.Open(badgerstore.Options{Dir: src, EncryptionKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	cp, err := badgerstore.Open(badgerstore.Options{Dir: dst, EncryptionKey: key})
	if err != nil {
		t.Fatalf("open the copy while the original is open: %v", err)
	}
	defer cp.Close()
	if _, err := cp.ImportRevocations(ctx, 50, rev("copy")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		s    *badgerstore.Store
		want int
	}{{"original", orig, 100}, {"copy", cp, 150}} {
		revs, _, err := c.s.LoadRevocations(ctx)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(revs) != c.want {
			t.Errorf("%s holds %d revocations, want %d", c.name, len(revs), c.want)
		}
	}
}
