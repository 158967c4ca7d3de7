//go:build !linux

package audit

import "os"

// Elsewhere a segment is synced with fsync, (*os.File).Sync.
func openSegment(name string) (walFile, error) {
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// segmentOpener returns how the log opens its segments, and what it
// releases when it closes. Here fsync is the only way to sync.
func segmentOpener() (func(string) (walFile, error), func(), error) {
	return openSegment, func() {}, nil
}

// syncDir tries to make a new name in dir durable; not every system can
// sync a folder, so a failure is not an error.
func syncDir(dir string) error {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// freeSpace is unknown here: spares are always full size.
func freeSpace(string) (int64, bool) { return 0, false }
