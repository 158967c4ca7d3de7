//go:build unix

package badger

import (
	"fmt"
	"syscall"

	"github.com/latchkeyhq/latchkey/store"
)

// checkSpace fails with store.ErrUnavailable when dir's filesystem has less
// than reserve bytes available to this process.
func checkSpace(dir string, reserve uint64) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return unavailable("statfs", err)
	}
	free := st.Bavail * uint64(st.Bsize)
	if free < reserve {
		return fmt.Errorf("%w: data directory has %d bytes free, below the %d bytes kept in reserve", store.ErrUnavailable, free, reserve)
	}
	return nil
}
