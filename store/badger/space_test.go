//go:build unix

package badger

import (
	"errors"
	"testing"

	"github.com/latchkeyhq/latchkey/store"
)

func TestCheckSpace(t *testing.T) {
	dir := t.TempDir()
	if err := checkSpace(dir, 1); err != nil {
		t.Fatalf("1 byte reserve: %v", err)
	}
	if err := checkSpace(dir, 1<<62); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("an impossible reserve: %v, want ErrUnavailable", err)
	}
	if err := checkSpace(dir+"/missing", 1); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("a missing directory: %v, want ErrUnavailable", err)
	}
}
