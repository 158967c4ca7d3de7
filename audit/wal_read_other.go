//go:build !unix

package audit

import "os"

// readSegment reads a segment whole for replay where it cannot be mapped.
func readSegment(name string) (data []byte, release func(), err error) {
	data, err = os.ReadFile(name)
	return data, func() {}, err
}
