//go:build unix

package audit

import (
	"fmt"
	"os"
	"syscall"
)

// readSegment maps a segment read-only for replay. A segment is 64 MiB,
// mostly zeros; reading it into the heap made every start take that much
// again per segment, which the runtime then held long after. The mapping
// is dropped by release, and nothing decoded from data may refer to it.
func readSegment(name string) (data []byte, release func(), err error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	size := st.Size()
	if size == 0 {
		return nil, func() {}, nil
	}
	if size != int64(int(size)) {
		return nil, nil, fmt.Errorf("segment %s too large to map: %d bytes", name, size)
	}
	data, err = syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("map %s: %w", name, err)
	}
	return data, func() { _ = syscall.Munmap(data) }, nil
}
