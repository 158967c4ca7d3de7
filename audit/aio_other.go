//go:build linux && !(amd64 || arm64)

package audit

import "errors"

// asyncSync is built for little-endian 64-bit Linux only (see
// aio_linux.go); elsewhere on Linux segments sync with blocking
// fdatasync.
type asyncSync struct{}

func newAsyncSync() (*asyncSync, error) {
	return nil, errors.New("audit: no asynchronous sync on this architecture")
}

func (*asyncSync) submit(uintptr) (chan int64, error) { return nil, errors.ErrUnsupported }

func (*asyncSync) close() {}
