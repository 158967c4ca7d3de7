package scan

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func mustWalker(t *testing.T, cfg Config) *Walker {
	t.Helper()
	w, err := NewWalker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

type noteKey struct {
	Path   string
	Reason NoteReason
}

func noteKeys(ns []Note) []noteKey {
	out := make([]noteKey, 0, len(ns))
	for _, n := range ns {
		out = append(out, noteKey{n.Path, n.Reason})
	}
	return out
}

func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range sortedKeys(files) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(files[name]))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func tarOf(t *testing.T, files map[string]string, gz bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	var tw *tar.Writer
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(&buf)
		tw = tar.NewWriter(zw)
	} else {
		tw = tar.NewWriter(&buf)
	}
	for _, name := range sortedKeys(files) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg})
		tw.Write([]byte(files[name]))
	}
	tw.WriteHeader(&tar.Header{Name: "link", Linkname: "a.txt", Typeflag: tar.TypeSymlink})
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		zw.Close()
	}
	return buf.Bytes()
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// A tree with every kind of file the walker treats specially.
func TestWalkTree(t *testing.T) {
	key, id := newKey(t)
	key2, id2 := newKey(t)
	root := t.TempDir()
	p := func(s string) string { return filepath.Join(root, filepath.FromSlash(s)) }
	writeFile(t, p("main.go"), []byte("package main\n\nvar k = \""+key+"\"\n"))
	writeFile(t, p("conf/app.yaml"), []byte("a: 1\nkey: "+key2+"\n"))
	writeFile(t, p("conf/.env"), []byte("K="+flip(key)+"\n"))
	writeFile(t, p("image.bin"), append([]byte("GIF89a\x00\x01"), key...))
	writeFile(t, p("big.log"), append(bytes.Repeat([]byte("x"), 2000), key...))
	writeFile(t, p(".gitignore"), []byte("ignored/\n*.secret\n"))
	writeFile(t, p("ignored/k.txt"), []byte(key))
	writeFile(t, p("a.secret"), []byte(key))
	writeFile(t, p("sub/.gitignore"), []byte("!b.secret\n"))
	writeFile(t, p("sub/b.secret"), []byte("\n"+key))
	writeFile(t, p(".git/config"), []byte(key))
	writeFile(t, p("dist/bundle.zip"), zipOf(t, map[string]string{"inner/cfg.json": "{\"k\": \"" + key + "\"}", "nested.tar": "x", "blob": "\x00" + key}))
	writeFile(t, p("dist/src.tar"), tarOf(t, map[string]string{"a.txt": "\n\n  " + key2}, false))
	writeFile(t, p("dist/src.tgz"), tarOf(t, map[string]string{"b/c.txt": key}, true))
	writeFile(t, p("dist/broken.tar.gz"), []byte("not gzip"))

	tests := []struct {
		name      string
		cfg       Config
		findings  []where
		notes     []noteKey
		filesSeen int
	}{
		{
			name: "defaults",
			cfg:  Config{MaxFileSize: 1024, Workers: 3},
			findings: []where{
				{RuleRootKey, p("dist/bundle.zip") + "!inner/cfg.json", 1, 8, id},
				{RuleRootKey, p("dist/src.tar") + "!a.txt", 3, 3, id2},
				{RuleRootKey, p("dist/src.tgz") + "!b/c.txt", 1, 1, id},
				{RuleRootKey, p("conf/app.yaml"), 2, 6, id2},
				{RuleRootKey, p("main.go"), 3, 10, id},
				{RuleRootKey, p("sub/b.secret"), 2, 1, id},
			},
			notes: []noteKey{
				{p("big.log"), NoteTooLarge},
				{p("dist/broken.tar.gz"), NoteBadArchive},
				{p("dist/bundle.zip") + "!blob", NoteBinary},
				{p("dist/bundle.zip") + "!nested.tar", NoteNestedArchive},
				{p("dist/src.tar") + "!link", NoteSpecial},
				{p("dist/src.tgz") + "!link", NoteSpecial},
				{p("image.bin"), NoteBinary},
			},
		},
		{
			name: "no ignore, show invalid, bigger limit",
			cfg:  Config{MaxFileSize: 4096, NoIgnore: true, Detector: Detector{ShowInvalid: true}, Workers: 1},
			findings: []where{
				{RuleRootKey, p("a.secret"), 1, 1, id},
				{RuleRootKey, p("big.log"), 1, 2001, id},
				{RuleNearMiss, p("conf/.env"), 1, 3, id},
				{RuleRootKey, p("conf/app.yaml"), 2, 6, id2},
				{RuleRootKey, p("dist/bundle.zip") + "!inner/cfg.json", 1, 8, id},
				{RuleRootKey, p("dist/src.tar") + "!a.txt", 3, 3, id2},
				{RuleRootKey, p("dist/src.tgz") + "!b/c.txt", 1, 1, id},
				{RuleRootKey, p("ignored/k.txt"), 1, 1, id},
				{RuleRootKey, p("main.go"), 3, 10, id},
				{RuleRootKey, p("sub/b.secret"), 2, 1, id},
			},
			notes: []noteKey{
				{p("dist/broken.tar.gz"), NoteBadArchive},
				{p("dist/bundle.zip") + "!blob", NoteBinary},
				{p("dist/bundle.zip") + "!nested.tar", NoteNestedArchive},
				{p("dist/src.tar") + "!link", NoteSpecial},
				{p("dist/src.tgz") + "!link", NoteSpecial},
				{p("image.bin"), NoteBinary},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := mustWalker(t, tc.cfg).Scan(context.Background(), root)
			if err != nil {
				t.Fatal(err)
			}
			// Sorting is by path, so archive entries sort by their archive.
			want := slices.Clone(tc.findings)
			slices.SortFunc(want, func(a, b where) int { return strings.Compare(a.Path, b.Path) })
			if got := wheres(res.Findings); !slices.Equal(got, want) {
				t.Fatalf("findings:\n got %+v\nwant %+v", got, want)
			}
			if got := noteKeys(res.Notes); !slices.Equal(got, tc.notes) {
				t.Fatalf("notes:\n got %+v\nwant %+v", got, tc.notes)
			}
			if ids := res.KeyIDs(); !slices.Equal(ids, sortedIDs(id, id2)) {
				t.Fatalf("KeyIDs = %v", ids)
			}
		})
	}
}

func sortedIDs(ids ...string) []string {
	slices.Sort(ids)
	return ids
}

func TestWalkSymlinkLoops(t *testing.T) {
	key, id := newKey(t)
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "d/k.txt"), []byte(key))
	for link, target := range map[string]string{"d/up": "..", "self": "self", "d/alias.txt": "k.txt"} {
		if err := os.Symlink(target, filepath.Join(root, filepath.FromSlash(link))); err != nil {
			t.Skip("symlinks unsupported:", err)
		}
	}
	res, err := mustWalker(t, Config{}).Scan(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	wantF := []where{
		{RuleRootKey, filepath.Join(root, "d/alias.txt"), 1, 1, id},
		{RuleRootKey, filepath.Join(root, "d/k.txt"), 1, 1, id},
	}
	if got := wheres(res.Findings); !slices.Equal(got, wantF) {
		t.Fatalf("findings %+v, want %+v", got, wantF)
	}
	wantN := []noteKey{{filepath.Join(root, "d/up"), NoteSymlinkLoop}, {filepath.Join(root, "self"), NoteSymlinkLoop}}
	if got := noteKeys(res.Notes); !slices.Equal(got, wantN) {
		t.Fatalf("notes %+v, want %+v", got, wantN)
	}
}

func TestWalkUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads files whatever their mode")
	}
	key, id := newKey(t)
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), []byte(key))
	for _, p := range []string{"locked.txt", "locked/b.txt"} {
		writeFile(t, filepath.Join(root, p), []byte(key))
	}
	for _, p := range []string{"locked.txt", "locked"} {
		if err := os.Chmod(filepath.Join(root, p), 0); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(filepath.Join(root, p), 0o755) })
	}
	res, err := mustWalker(t, Config{}).Scan(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := wheres(res.Findings), []where{{RuleRootKey, filepath.Join(root, "a.txt"), 1, 1, id}}; !slices.Equal(got, want) {
		t.Fatalf("findings %+v", got)
	}
	want := []noteKey{{filepath.Join(root, "locked"), NoteUnreadable}, {filepath.Join(root, "locked.txt"), NoteUnreadable}}
	if got := noteKeys(res.Notes); !slices.Equal(got, want) {
		t.Fatalf("notes %+v, want %+v", got, want)
	}
	// An unreadable root is an error, not a note.
	var re *RootError
	if _, err := mustWalker(t, Config{}).Scan(context.Background(), filepath.Join(root, "locked")); !errors.As(err, &re) {
		t.Fatalf("unreadable root: %v", err)
	}
}

func TestWalkRootsAndStdin(t *testing.T) {
	key, id := newKey(t)
	root := t.TempDir()
	file := filepath.Join(root, "one.txt")
	writeFile(t, file, []byte("x "+key))
	writeFile(t, filepath.Join(root, ".gitignore"), []byte("one.txt\n"))
	tests := []struct {
		name  string
		roots []string
		stdin string
		want  []where
		err   error
	}{
		{"named file beats gitignore", []string{file}, "", []where{{RuleRootKey, file, 1, 3, id}}, nil},
		{"ignored in a folder walk", []string{root}, "", []where{}, nil},
		{"stdin", []string{StdinPath}, "\n\n" + key, []where{{RuleRootKey, "-", 3, 1, id}}, nil},
		{"binary stdin", []string{StdinPath}, "\x00" + key, []where{}, nil},
		{"missing root", []string{root, filepath.Join(root, "nope")}, "", nil, fs.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := mustWalker(t, Config{Stdin: strings.NewReader(tc.stdin)}).Scan(context.Background(), tc.roots...)
			if tc.err != nil {
				var re *RootError
				if !errors.Is(err, tc.err) || !errors.As(err, &re) {
					t.Fatalf("err = %v, want a RootError wrapping %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := wheres(res.Findings); !slices.Equal(got, tc.want) {
				t.Fatalf("findings %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestNewWalkerRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{{MaxFileSize: -1}, {Workers: -1}} {
		if _, err := NewWalker(cfg); !errors.Is(err, ErrConfig) {
			t.Fatalf("NewWalker(%+v) = %v, want ErrConfig", cfg, err)
		}
	}
}
