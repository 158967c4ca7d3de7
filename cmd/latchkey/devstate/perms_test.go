package devstate

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnsureRefusesExposedPrivateFiles(t *testing.T) {
	if !checkModes {
		t.Skip("permission bits are not enforced on this platform")
	}
	private := []struct {
		name string
		path func(State) string
	}{
		{"ca-key.pem", func(s State) string { return s.CAKeyFile }},
		{"server-key.pem", func(s State) string { return s.ServerKeyFile }},
		{"admin-key.pem", func(s State) string { return s.AdminKeyFile }},
		{"workload-key.pem", func(s State) string { return s.WorkloadKeyFile }},
		{"pepper", func(s State) string { return s.PepperFile }},
		{"store.key", func(s State) string { return s.StoreKeyFile }},
		{"demo-root-key", func(s State) string { return s.DemoRootKeyFile }},
	}
	for _, f := range private {
		for _, mode := range []fs.FileMode{0o644, 0o640, 0o604} {
			t.Run(f.name+" "+mode.String(), func(t *testing.T) {
				s := freshState(t)
				path := f.path(s)
				if path == s.DemoRootKeyFile {
					mustWrite(t, path, []byte("lk_demo"), 0o600)
				}
				if err := os.Chmod(path, mode); err != nil {
					t.Fatal(err)
				}
				before := snapshot(t, s)
				_, err := Ensure(s.Dir, t0)
				var pe *PermissionError
				if !errors.As(err, &pe) || !errors.Is(err, ErrInsecurePermissions) {
					t.Fatalf("Ensure error = %v, want a *PermissionError", err)
				}
				if pe.Path != path || pe.Mode.Perm() != mode || pe.Want != 0o600 {
					t.Fatalf("PermissionError %+v, want path %s mode %v want 0600", pe, path, mode)
				}
				if msg := err.Error(); !strings.Contains(msg, "chmod 600 "+path) {
					t.Fatalf("error %q does not say to chmod 600 %s", msg, path)
				}
				assertUnchanged(t, before, snapshot(t, s), s.writtenFiles()...)
			})
		}
	}

	t.Run("owner-only read is accepted", func(t *testing.T) {
		s := freshState(t)
		if err := os.Chmod(s.PepperFile, 0o400); err != nil {
			t.Fatal(err)
		}
		if _, err := Ensure(s.Dir, t0); err != nil {
			t.Fatalf("Ensure: %v", err)
		}
	})
}

func TestEnsureRefusesExposedFolders(t *testing.T) {
	if !checkModes {
		t.Skip("permission bits are not enforced on this platform")
	}
	tests := []struct {
		name string
		path func(State) string
		mode fs.FileMode
	}{
		{"state folder 0755", func(s State) string { return s.Dir }, 0o755},
		{"state folder 0701", func(s State) string { return s.Dir }, 0o701},
		{"data folder 0750", func(s State) string { return s.DataDir }, 0o750},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := freshState(t)
			path := tc.path(s)
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			_, err := Ensure(s.Dir, t0)
			var pe *PermissionError
			if !errors.As(err, &pe) || pe.Path != path || pe.Want != 0o700 {
				t.Fatalf("Ensure error = %v, want a *PermissionError for %s", err, path)
			}
			if !strings.Contains(err.Error(), "chmod 700 "+path) {
				t.Fatalf("error %q does not say to chmod 700 %s", err, path)
			}
		})
	}

	t.Run("nested new folder is 0700", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "a", "b")
		if _, err := Ensure(dir, t0); err != nil {
			t.Fatalf("Ensure: %v", err)
		}
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o700 {
			t.Fatalf("mode %#o, want 0700", fi.Mode().Perm())
		}
	})
}

func TestEnsureRefusesSymlinkedSecret(t *testing.T) {
	s := freshState(t)
	elsewhere := filepath.Join(t.TempDir(), "pepper")
	mustWrite(t, elsewhere, mustRead(t, s.PepperFile), 0o600)
	if err := os.Remove(s.PepperFile); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, s.PepperFile); err != nil {
		t.Skipf("symlinks unavailable: %v", err)
	}
	_, err := Ensure(s.Dir, t0)
	if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), s.PepperFile) {
		t.Fatalf("Ensure error = %v, want ErrNotRegular naming %s", err, s.PepperFile)
	}
}

func TestEnsureRefusesMisshapenSecrets(t *testing.T) {
	tests := []struct {
		name string
		path func(State) string
		data []byte
	}{
		{"short pepper", func(s State) string { return s.PepperFile }, make([]byte, 31)},
		{"long store key", func(s State) string { return s.StoreKeyFile }, make([]byte, 64)},
		{"empty store key", func(s State) string { return s.StoreKeyFile }, []byte{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := freshState(t)
			path := tc.path(s)
			mustWrite(t, path, tc.data, 0o600)
			_, err := Ensure(s.Dir, t0)
			if !errors.Is(err, ErrBadSecret) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Ensure error = %v, want ErrBadSecret naming %s", err, path)
			}
			if got := mustRead(t, path); len(got) != len(tc.data) {
				t.Fatalf("Ensure replaced %s", path)
			}
		})
	}
}
