package scan

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

type archive int

const (
	notArchive archive = iota
	zipArchive
	tarArchive
	tarGzArchive
)

// ArchiveSeparator joins an archive's path and an entry's name.
const ArchiveSeparator = "!"

func archiveKind(name string) archive {
	n := strings.ToLower(name)
	switch {
	case strings.HasSuffix(n, ".zip"):
		return zipArchive
	case strings.HasSuffix(n, ".tar"):
		return tarArchive
	case strings.HasSuffix(n, ".tar.gz"), strings.HasSuffix(n, ".tgz"):
		return tarGzArchive
	}
	return notArchive
}

// scanArchive scans each regular entry as a file of its own. Entries that
// are archives themselves are noted, not opened: following them would need
// unbounded buffering.
func (w *Walker) scanArchive(c *collector, j job) {
	f, err := os.Open(j.path)
	if err != nil {
		c.note(j.name, NoteUnreadable, err)
		return
	}
	defer f.Close()
	switch archiveKind(j.name) {
	case zipArchive:
		err = w.scanZip(c, j.name, f)
	case tarGzArchive:
		var gz *gzip.Reader
		if gz, err = gzip.NewReader(f); err == nil {
			err = w.scanTar(c, j.name, gz)
		}
	default:
		err = w.scanTar(c, j.name, f)
	}
	if err != nil {
		c.note(j.name, NoteBadArchive, err)
	}
}

func (w *Walker) scanZip(c *collector, name string, f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	zr, err := zip.NewReader(f, fi.Size())
	if err != nil {
		return err
	}
	for _, e := range zr.File {
		if e.FileInfo().IsDir() {
			continue
		}
		entry := name + ArchiveSeparator + e.Name
		if w.skipEntry(c, entry, e.FileInfo().Mode().IsRegular(), int64(e.UncompressedSize64)) {
			continue
		}
		rc, err := e.Open()
		if err != nil {
			c.note(entry, NoteBadArchive, err)
			continue
		}
		// The limit guards against entries that lie about their size.
		w.scanReader(c, entry, io.LimitReader(rc, w.cfg.MaxFileSize))
		rc.Close()
	}
	return nil
}

func (w *Walker) scanTar(c *collector, name string, r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if h.Typeflag == tar.TypeDir {
			continue
		}
		entry := name + ArchiveSeparator + h.Name
		if w.skipEntry(c, entry, h.Typeflag == tar.TypeReg, h.Size) {
			continue
		}
		w.scanReader(c, entry, io.LimitReader(tr, w.cfg.MaxFileSize))
	}
}

func (w *Walker) skipEntry(c *collector, entry string, regular bool, size int64) bool {
	switch {
	case !regular:
		c.note(entry, NoteSpecial, nil)
	case size > w.cfg.MaxFileSize:
		c.note(entry, NoteTooLarge, fmt.Errorf("%d bytes, limit %d", size, w.cfg.MaxFileSize))
	case archiveKind(entry) != notArchive:
		c.note(entry, NoteNestedArchive, nil)
	default:
		return false
	}
	return true
}
