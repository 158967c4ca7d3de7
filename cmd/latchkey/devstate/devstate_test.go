package devstate

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestPaths(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "never-created")
	s := Paths(dir)
	want := State{
		Dir:              dir,
		CAFile:           filepath.Join(dir, "ca.pem"),
		CAKeyFile:        filepath.Join(dir, "ca-key.pem"),
		ServerCertFile:   filepath.Join(dir, "server.pem"),
		ServerKeyFile:    filepath.Join(dir, "server-key.pem"),
		AdminCertFile:    filepath.Join(dir, "admin.pem"),
		AdminKeyFile:     filepath.Join(dir, "admin-key.pem"),
		WorkloadCertFile: filepath.Join(dir, "workload.pem"),
		WorkloadKeyFile:  filepath.Join(dir, "workload-key.pem"),
		PepperFile:       filepath.Join(dir, "pepper"),
		StoreKeyFile:     filepath.Join(dir, "store.key"),
		PolicyFile:       filepath.Join(dir, "policy.yaml"),
		DataDir:          filepath.Join(dir, "data"),
		DemoRootKeyFile:  filepath.Join(dir, "demo-root-key"),
	}
	if s != want {
		t.Fatalf("Paths(%q) =\n%+v\nwant\n%+v", dir, s, want)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("Paths touched the file system: %v", err)
	}
	if got := Paths("").CAFile; got != filepath.Join(".latchkey", "ca.pem") {
		t.Fatalf("Paths(\"\").CAFile = %q, want .latchkey/ca.pem", got)
	}
}

func TestEnsureCreatesState(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Ensure(dir, t0)
	if err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	if s != Paths(dir) {
		t.Fatalf("Ensure returned %+v, want Paths(dir)", s)
	}

	modes := []struct {
		path string
		dir  bool
		mode fs.FileMode
	}{
		{s.Dir, true, 0o700},
		{s.DataDir, true, 0o700},
		{s.CAFile, false, 0o644},
		{s.CAKeyFile, false, 0o600},
		{s.ServerCertFile, false, 0o644},
		{s.ServerKeyFile, false, 0o600},
		{s.AdminCertFile, false, 0o644},
		{s.AdminKeyFile, false, 0o600},
		{s.WorkloadCertFile, false, 0o644},
		{s.WorkloadKeyFile, false, 0o600},
		{s.PepperFile, false, 0o600},
		{s.StoreKeyFile, false, 0o600},
		{s.PolicyFile, false, 0o644},
	}
	for _, m := range modes {
		t.Run("mode "+filepath.Base(m.path), func(t *testing.T) {
			fi, err := os.Lstat(m.path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.IsDir() != m.dir || (!m.dir && !fi.Mode().IsRegular()) {
				t.Fatalf("type %v, want dir=%v", fi.Mode().Type(), m.dir)
			}
			if fi.Mode().Perm() != m.mode {
				t.Fatalf("mode %#o, want %#o", fi.Mode().Perm(), m.mode)
			}
		})
	}

	t.Run("CA", func(t *testing.T) {
		c := loadCA(t, s).Certificate()
		if c.Subject.CommonName != "latchkey-dev-ca" || !c.IsCA {
			t.Errorf("CA subject %q IsCA=%v", c.Subject.CommonName, c.IsCA)
		}
		if !c.NotBefore.Equal(t0.Add(-time.Minute)) || !c.NotAfter.Equal(t0.AddDate(10, 0, 0)) {
			t.Errorf("CA validity %v..%v, want %v..%v", c.NotBefore, c.NotAfter, t0.Add(-time.Minute), t0.AddDate(10, 0, 0))
		}
	})
	for _, lc := range leafCases(s) {
		t.Run(lc.name, func(t *testing.T) { assertLeaf(t, s, lc, t0, t0.AddDate(1, 0, 0)) })
	}
	t.Run("secrets", func(t *testing.T) {
		pepper, storeKey := mustRead(t, s.PepperFile), mustRead(t, s.StoreKeyFile)
		if len(pepper) != 32 || len(storeKey) != 32 {
			t.Fatalf("pepper %d bytes, store key %d bytes, want 32 each", len(pepper), len(storeKey))
		}
		if bytes.Equal(pepper, storeKey) || bytes.Equal(pepper, make([]byte, 32)) {
			t.Fatal("pepper and store key are not independent random values")
		}
	})
	t.Run("policy", func(t *testing.T) {
		if got := string(mustRead(t, s.PolicyFile)); got != devPolicy {
			t.Fatalf("policy.yaml =\n%s\nwant\n%s", got, devPolicy)
		}
	})
	t.Run("only the listed files", func(t *testing.T) {
		entries, err := os.ReadDir(s.Dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		want := []string{"admin-key.pem", "admin.pem", "ca-key.pem", "ca.pem", "data", "pepper", "policy.yaml",
			"server-key.pem", "server.pem", "store.key", "workload-key.pem", "workload.pem"}
		if !slices.Equal(names, want) {
			t.Fatalf("folder holds %v, want %v", names, want)
		}
	})
}

func TestEnsureIsIdempotent(t *testing.T) {
	s := freshState(t)
	before := snapshot(t, s)
	tests := []struct {
		name string
		now  time.Time
	}{
		{"same instant", t0},
		{"a month later", t0.AddDate(0, 1, 0)},
		{"eight days before the leaves expire", t0.AddDate(1, 0, 0).Add(-8 * 24 * time.Hour)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Ensure(s.Dir, tc.now); err != nil {
				t.Fatalf("Ensure: %v", err)
			}
			assertUnchanged(t, before, snapshot(t, s), s.writtenFiles()...)
		})
	}
}

func TestEnsureKeepsUserFiles(t *testing.T) {
	s := freshState(t)
	edited := []byte("# my edits\n" + devPolicy)
	mustWrite(t, s.PolicyFile, edited, 0o644)
	if _, err := Ensure(s.Dir, t0); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	if !bytes.Equal(mustRead(t, s.PolicyFile), edited) {
		t.Fatal("Ensure overwrote an edited policy")
	}
}

func TestEnsureRemovesLeftoverTempFiles(t *testing.T) {
	s := freshState(t)
	before := snapshot(t, s)
	leftover := filepath.Join(s.Dir, ".ca-key.pem"+tempInfix+"12345")
	unrelated := filepath.Join(s.Dir, ".notes"+tempInfix+"1")
	mustWrite(t, leftover, []byte("-----BEGIN PRIVATE KEY-----\nhalf"), 0o600)
	mustWrite(t, unrelated, []byte("mine"), 0o600)
	if _, err := Ensure(s.Dir, t0); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	if _, err := os.Lstat(leftover); !os.IsNotExist(err) {
		t.Fatalf("leftover temporary file still there: %v", err)
	}
	if _, err := os.Lstat(unrelated); err != nil {
		t.Fatalf("unrelated file removed: %v", err)
	}
	assertUnchanged(t, before, snapshot(t, s), s.writtenFiles()...)
}
