package badger

import (
	"crypto/rand"
	"testing"

	"github.com/latchkeyhq/latchkey/store"
)

func newKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, EncryptionKeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func mustOpen(t *testing.T, opts Options) *Store {
	t.Helper()
	s, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func openInMemory(t *testing.T) store.Store {
	return mustOpen(t, Options{InMemory: true, EncryptionKey: newKey(t)})
}

func openOnDisk(t *testing.T) store.Store {
	return mustOpen(t, Options{Dir: t.TempDir(), EncryptionKey: newKey(t)})
}
