package devstate

import (
	"errors"
	"fmt"
	"io/fs"
)

var (
	// ErrInsecurePermissions is matched by every *PermissionError.
	ErrInsecurePermissions = errors.New("devstate: permissions too open")

	// ErrNotRegular means a private file is a symlink, directory or device.
	ErrNotRegular = errors.New("devstate: not a regular file")

	// ErrCAExpiring means the dev CA is not yet valid, has expired or expires
	// within the renewal margin, so no leaf it signs would last.
	ErrCAExpiring = errors.New("devstate: dev CA is expired or about to expire")

	// ErrBadSecret means a pepper or store key file does not hold exactly
	// the expected number of bytes.
	ErrBadSecret = errors.New("devstate: secret file has the wrong length")
)

// PermissionError reports a private file or folder that other users may
// read, and says how to fix it.
type PermissionError struct {
	Path string
	Mode fs.FileMode // the mode found
	Want fs.FileMode // the mode to set
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("devstate: %s has mode %#o, which other users can read; run `chmod %o %s`",
		e.Path, e.Mode.Perm(), e.Want, e.Path)
}

// Is makes errors.Is(err, ErrInsecurePermissions) match.
func (e *PermissionError) Is(target error) bool { return target == ErrInsecurePermissions }
