//go:build linux

package audit

import (
	"os"
	"syscall"
)

// On Linux a segment is synced with fdatasync: writes into its
// preallocated blocks change neither its size nor its extents, so the
// inode times, which fsync would also commit through the journal, are
// all that is left out. Where the kernel offers native asynchronous I/O
// the fdatasync is submitted through it (see asyncSync), and blocking
// fdatasync is the fallback.
type dataSyncFile struct {
	*os.File
	async *asyncSync // nil: blocking fdatasync
}

var _ walFile = dataSyncFile{}

func openSegment(name string) (walFile, error) { return openSegmentWith(name, nil) }

func openSegmentWith(name string, async *asyncSync) (walFile, error) {
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	return dataSyncFile{File: f, async: async}, nil
}

// segmentOpener returns how the log opens its segments, and what it
// releases when it closes; and, when its segments sync with blocking
// fdatasync because the kernel refused asynchronous I/O, why.
func segmentOpener() (func(string) (walFile, error), func(), error) {
	async, err := startAsyncSync()
	if err != nil {
		return openSegment, func() {}, err
	}
	return func(name string) (walFile, error) { return openSegmentWith(name, async) }, async.close, nil
}

// startAsyncSync is newAsyncSync; tests replace it.
var startAsyncSync = newAsyncSync

func (f dataSyncFile) Sync() error {
	rc, err := f.SyscallConn()
	if err != nil {
		return f.File.Sync()
	}
	var serr error
	var done chan int64
	// Control holds the descriptor open while fdatasync runs, or while
	// it is submitted, so a concurrent Close cannot hand its number to
	// another file.
	err = rc.Control(func(fd uintptr) {
		if f.async != nil {
			if done, serr = f.async.submit(fd); serr == nil {
				return
			}
		}
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
	if done != nil {
		return flushError(f.Name(), <-done)
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}

// flushError is the error of an asynchronous fdatasync of name that the
// kernel answered with res: zero, or a negated errno.
func flushError(name string, res int64) error {
	if res < 0 {
		return &os.PathError{Op: "fdatasync", Path: name, Err: syscall.Errno(-res)}
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
