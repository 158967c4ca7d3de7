package scan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
)

// DefaultMaxFileSize is the size above which files are skipped with a note.
const DefaultMaxFileSize = 10 << 20

// sniffLen is how much of a file is searched for a NUL byte to call it
// binary, as git and grep do.
const sniffLen = 8 << 10

// StdinPath names standard input among the roots.
const StdinPath = "-"

// Config configures a Walker.
type Config struct {
	Detector Detector
	// MaxFileSize skips larger files and archive entries (not archives
	// themselves, which are streamed); 0 means DefaultMaxFileSize.
	MaxFileSize int64
	// NoIgnore scans what .gitignore files exclude too.
	NoIgnore bool
	// Workers scan files in parallel; 0 means GOMAXPROCS.
	Workers int
	// Stdin is read for the root "-".
	Stdin io.Reader
}

// ErrConfig is returned, wrapped, for an invalid Config.
var ErrConfig = errors.New("scan: invalid config")

// RootError reports a root path that cannot be scanned at all.
type RootError struct {
	Path string
	Err  error
}

func (e *RootError) Error() string { return fmt.Sprintf("scan %s: %v", e.Path, e.Err) }
func (e *RootError) Unwrap() error { return e.Err }

// Walker scans files and folder trees.
type Walker struct {
	cfg Config
}

// NewWalker validates cfg and fills its defaults.
func NewWalker(cfg Config) (*Walker, error) {
	if cfg.MaxFileSize < 0 {
		return nil, fmt.Errorf("%w: negative maximum file size", ErrConfig)
	}
	if cfg.Workers < 0 {
		return nil, fmt.Errorf("%w: negative worker count", ErrConfig)
	}
	if cfg.MaxFileSize == 0 {
		cfg.MaxFileSize = DefaultMaxFileSize
	}
	if cfg.Workers == 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Stdin == nil {
		cfg.Stdin = eofReader{}
	}
	return &Walker{cfg: cfg}, nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

type job struct {
	path, name string
}

// collector gathers what the workers and the walk produce.
type collector struct {
	mu  sync.Mutex
	res Result
}

func (c *collector) note(path string, reason NoteReason, err error) {
	n := Note{Path: path, Reason: reason}
	if err != nil {
		n.Detail = err.Error()
	}
	c.mu.Lock()
	c.res.Notes = append(c.res.Notes, n)
	c.mu.Unlock()
}

func (c *collector) add(fs []Finding, bytes int64) {
	c.mu.Lock()
	c.res.Findings = append(c.res.Findings, fs...)
	c.res.Files++
	c.res.Bytes += bytes
	c.mu.Unlock()
}

// Scan scans every root: a file, a folder (recursively) or "-" for
// standard input. A root that does not exist or cannot be read is an error
// (*RootError); anything below a root that cannot be scanned becomes a
// Note. Explicitly named files are scanned even when a .gitignore
// excludes them.
func (w *Walker) Scan(ctx context.Context, roots ...string) (*Result, error) {
	infos := make([]fs.FileInfo, len(roots))
	for i, r := range roots {
		if r == StdinPath {
			continue
		}
		fi, err := os.Stat(r)
		if err != nil {
			return nil, &RootError{Path: r, Err: err}
		}
		if fi.IsDir() {
			if _, err := os.ReadDir(r); err != nil {
				return nil, &RootError{Path: r, Err: err}
			}
		}
		infos[i] = fi
	}
	c := &collector{}
	jobs := make(chan job, 4*w.cfg.Workers)
	var wg sync.WaitGroup
	for range w.cfg.Workers {
		wg.Go(func() {
			for j := range jobs {
				w.scanFile(c, j)
			}
		})
	}
	for i, r := range roots {
		switch {
		case ctx.Err() != nil:
		case r == StdinPath:
			w.scanStdin(c)
		case infos[i].IsDir():
			w.walkDir(ctx, c, jobs, r, "", nil, []fs.FileInfo{infos[i]})
		default:
			w.enqueue(c, jobs, r, r, infos[i])
		}
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.res.sort()
	return &c.res, nil
}

func (w *Walker) enqueue(c *collector, jobs chan<- job, path, name string, fi fs.FileInfo) {
	switch {
	case !fi.Mode().IsRegular():
		c.note(name, NoteSpecial, nil)
	// An archive is read as a stream of entries, each held to the limit.
	case fi.Size() > w.cfg.MaxFileSize && archiveKind(name) == notArchive:
		c.note(name, NoteTooLarge, fmt.Errorf("%d bytes, limit %d", fi.Size(), w.cfg.MaxFileSize))
	default:
		jobs <- job{path: path, name: name}
	}
}

// walkDir lists dir, whose path relative to the root is rel. ancestors are
// the folders above it, to catch symlink loops.
func (w *Walker) walkDir(ctx context.Context, c *collector, jobs chan<- job, dir, rel string, ig *ignorer, ancestors []fs.FileInfo) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		c.note(dir, NoteUnreadable, err)
		return
	}
	if !w.cfg.NoIgnore {
		if data, err := os.ReadFile(filepath.Join(dir, ".gitignore")); err == nil {
			ig = ig.with(rel, data)
		}
	}
	for _, e := range entries {
		if ctx.Err() != nil {
			return
		}
		if e.Name() == ".git" {
			continue
		}
		full := filepath.Join(dir, e.Name())
		childRel := e.Name()
		if rel != "" {
			childRel = rel + "/" + e.Name()
		}
		fi, err := os.Stat(full) // follows symlinks
		if err != nil {
			reason := NoteUnreadable
			if errors.Is(err, syscall.ELOOP) {
				reason = NoteSymlinkLoop
			}
			c.note(full, reason, err)
			continue
		}
		if ig.ignored(childRel, fi.IsDir()) {
			continue
		}
		if !fi.IsDir() {
			w.enqueue(c, jobs, full, full, fi)
			continue
		}
		if loops(ancestors, fi) {
			c.note(full, NoteSymlinkLoop, errors.New("links back to a folder above it"))
			continue
		}
		w.walkDir(ctx, c, jobs, full, childRel, ig, append(ancestors[:len(ancestors):len(ancestors)], fi))
	}
}

func loops(ancestors []fs.FileInfo, fi fs.FileInfo) bool {
	for _, a := range ancestors {
		if os.SameFile(a, fi) {
			return true
		}
	}
	return false
}

func (w *Walker) scanFile(c *collector, j job) {
	if archiveKind(j.name) != notArchive {
		w.scanArchive(c, j)
		return
	}
	f, err := os.Open(j.path)
	if err != nil {
		c.note(j.name, NoteUnreadable, err)
		return
	}
	defer f.Close()
	w.scanReader(c, j.name, io.LimitReader(f, w.cfg.MaxFileSize))
}

func (w *Walker) scanStdin(c *collector) {
	w.scanReader(c, StdinPath, w.cfg.Stdin)
}

// scanReader scans one text stream named name, unless it looks binary.
func (w *Walker) scanReader(c *collector, name string, r io.Reader) {
	var head [sniffLen]byte
	n, err := io.ReadFull(r, head[:])
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		c.note(name, NoteUnreadable, err)
		return
	}
	if bytes.IndexByte(head[:n], 0) >= 0 {
		c.note(name, NoteBinary, nil)
		return
	}
	var found []Finding
	total, err := w.cfg.Detector.Scan(io.MultiReader(bytes.NewReader(head[:n]), r), func(f Finding) {
		f.Path = name
		found = append(found, f)
	})
	if err != nil {
		c.note(name, NoteUnreadable, err)
	}
	c.add(found, total)
}
