//go:build linux

package audit

import (
	"os"
	"syscall"
)

// On Linux a segment is synced with fdatasync: writes into its
// preallocated blocks change neither its size nor its extents, so the
// inode times, which fsync would also commit through the journal, are
// all that is left out.
type dataSyncFile struct{ *os.File }

var _ walFile = dataSyncFile{}

func openSegment(name string) (walFile, error) {
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	return dataSyncFile{f}, nil
}

func (f dataSyncFile) Sync() error {
	rc, err := f.SyscallConn()
	if err != nil {
		return f.File.Sync()
	}
	var serr error
	// Control holds the descriptor open while fdatasync runs, so a
	// concurrent Close cannot hand its number to another file.
	err = rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	})
	if err != nil {
		// The file is closed: Sync says so as os.ErrClosed, which the
		// syncers expect of a segment rotated out.
		return f.File.Sync()
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}

// syncDir makes a new name in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// freeSpace is the room left to unprivileged users on dir's filesystem.
func freeSpace(dir string) (int64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), true
}
