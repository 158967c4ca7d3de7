package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// copyDir copies the tree under src, a stopped server's data directory,
// into dst, which must not exist yet: folders and regular files, byte for
// byte and with their permission bits. Anything else (a symlink, a socket,
// a FIFO) fails the copy, since a Badger directory holds none and reading
// one could block or leave the copy sharing state with the source.
func copyDir(src, dst string) error {
	info, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return fmt.Errorf("copy %s: not a directory", src)
	}
	// Folders get their modes once filled, so that a read-only folder
	// copies as well as any other.
	type dirMode struct {
		path string
		perm fs.FileMode
	}
	var dirs []dirMode
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case info.IsDir():
			dirs = append(dirs, dirMode{to, info.Mode().Perm()})
			return os.Mkdir(to, 0o700)
		case info.Mode().IsRegular():
			return copyFile(path, to, info.Mode().Perm())
		default:
			return fmt.Errorf("copy %s: not a regular file or folder (%s)", path, info.Mode().Type())
		}
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chmod(dirs[i].path, dirs[i].perm); err != nil {
			return err
		}
	}
	return nil
}

// copyFile copies the regular file src to the new file dst with mode perm.
func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, perm)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	err = errors.Join(err, out.Chmod(perm), out.Close())
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}
