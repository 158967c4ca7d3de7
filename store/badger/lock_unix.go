//go:build unix

package badger

import (
	"errors"
	"os"
	"syscall"
)

// lockHeld reports whether another handle holds the flock Badger takes on
// dir. Badger flattens its lock error into text, so the lock is probed
// directly rather than by matching the message. The probe takes a shared
// lock and releases it at once; it never touches the LOCK file.
func lockHeld(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	return errors.Is(err, syscall.EWOULDBLOCK)
}
