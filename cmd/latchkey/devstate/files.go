package devstate

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

const (
	dirMode     fs.FileMode = 0o700
	privateMode fs.FileMode = 0o600
	publicMode  fs.FileMode = 0o644

	// groupOther are the bits that let anyone but the owner in.
	groupOther fs.FileMode = 0o077

	tempInfix = ".tmp-"
)

// checkModes is skipped on Windows, where Unix permission bits mean nothing.
var checkModes = runtime.GOOS != "windows"

// ensureDir creates dir 0700 if missing and refuses one that others can
// enter.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return fmt.Errorf("devstate: create %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("devstate: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("devstate: %s is not a directory", dir)
	}
	if checkModes && fi.Mode().Perm()&groupOther != 0 {
		return &PermissionError{Path: dir, Mode: fi.Mode(), Want: dirMode}
	}
	return nil
}

// checkPrivate accepts a missing file or a regular file only its owner can
// read. Symlinks are refused so a secret is never read from, or written
// through to, somewhere outside the folder.
func checkPrivate(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("devstate: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s", ErrNotRegular, path)
	}
	if checkModes && fi.Mode().Perm()&groupOther != 0 {
		return &PermissionError{Path: path, Mode: fi.Mode(), Want: privateMode}
	}
	return nil
}

// readOptional reads path, reporting a missing file as found=false rather
// than as an error.
func readOptional(path string) (data []byte, found bool, err error) {
	data, err = os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("devstate: %w", err)
	}
	return data, true, nil
}

// ensureSecret keeps an existing secret of the right size and never replaces
// one of the wrong size: data already written may depend on it.
func ensureSecret(path string, size int) error {
	b, found, err := readOptional(path)
	if err != nil {
		return err
	}
	if found {
		if len(b) != size {
			return fmt.Errorf("%w: %s holds %d bytes, want %d", ErrBadSecret, path, len(b), size)
		}
		return nil
	}
	secret := make([]byte, size)
	if _, err := rand.Read(secret); err != nil {
		return fmt.Errorf("devstate: generate %s: %w", path, err)
	}
	return writeAtomic(path, secret, privateMode)
}

// ensureFile writes data only if path does not exist yet, so user edits
// survive.
func ensureFile(path string, data []byte, mode fs.FileMode) error {
	_, err := os.Lstat(path)
	if err == nil {
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("devstate: %w", err)
	}
	return writeAtomic(path, data, mode)
}

// writeAtomic writes a temporary file beside path and renames it into place,
// so a crash leaves either the old file or the new one, never half a key. The
// temporary file is created 0600, so a secret is never readable by others
// even for a moment.
func writeAtomic(path string, data []byte, mode fs.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+tempInfix+"*")
	if err != nil {
		return fmt.Errorf("devstate: write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
			err = fmt.Errorf("devstate: write %s: %w", path, err)
		}
	}()
	if err = f.Chmod(mode); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename durable where the platform allows it. Failure is
// ignored: the rename itself is already atomic, and some filesystems refuse
// to sync a directory.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// removeTemps deletes temporary files a crash left behind for any of names;
// they may hold part of a key.
func removeTemps(dir string, names []string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("devstate: %w", err)
	}
	for _, e := range entries {
		for _, n := range names {
			if strings.HasPrefix(e.Name(), "."+n+tempInfix) {
				if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
					return fmt.Errorf("devstate: %w", err)
				}
				break
			}
		}
	}
	return nil
}
