package scan

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// gitRepo makes a repository in a temporary folder; it skips the test when
// git is missing.
func gitRepo(t *testing.T) (dir string, git func(args ...string) string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir = t.TempDir()
	git = func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_SYSTEM=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	git("config", "user.name", "Test")
	git("config", "user.email", "test@example.com")
	git("config", "commit.gpgsign", "false")
	return dir, git
}

func TestGitHistoryAndStaged(t *testing.T) {
	dir, git := gitRepo(t)
	key, id := newKey(t)
	staged, stagedID := newKey(t)
	writeFile(t, filepath.Join(dir, "README"), []byte("one\ntwo\n"))
	git("add", ".")
	git("commit", "-q", "-m", "start")
	writeFile(t, filepath.Join(dir, "cfg", "app env.txt"), []byte("a\nb\nKEY="+key+"\n"))
	writeFile(t, filepath.Join(dir, "README"), []byte("one\n+++ b/fake\n++ "+key+"\ntwo\n"))
	git("add", ".")
	git("commit", "-q", "-m", "leak")
	leak := git("rev-parse", "HEAD")
	if err := os.Remove(filepath.Join(dir, "cfg", "app env.txt")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "README"), []byte("one\ntwo\n"))
	git("add", "-A")
	git("commit", "-q", "-m", "remove the key")

	tree, err := mustWalker(t, Config{}).Scan(context.Background(), dir)
	if err != nil || len(tree.Findings) != 0 {
		t.Fatalf("working tree: %+v, %v; want nothing", tree.Findings, err)
	}
	hist, err := ScanGitHistory(context.Background(), dir, Detector{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Finding{
		{Rule: RuleRootKey, Path: "README", Commit: leak, Line: 3, Column: 4, KeyID: id},
		{Rule: RuleRootKey, Path: "cfg/app env.txt", Commit: leak, Line: 3, Column: 5, KeyID: id},
	}
	if got := commits(hist.Findings); !slices.Equal(got, want) {
		t.Fatalf("history:\n got %+v\nwant %+v", got, want)
	}

	writeFile(t, filepath.Join(dir, "new.yaml"), []byte("x: 1\nk: "+staged+"\n"))
	st, err := ScanGitStaged(context.Background(), dir, Detector{})
	if err != nil || len(st.Findings) != 0 {
		t.Fatalf("nothing staged yet: %+v, %v", st.Findings, err)
	}
	git("add", "new.yaml")
	st, err = ScanGitStaged(context.Background(), dir, Detector{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := commits(st.Findings), []Finding{{Rule: RuleRootKey, Path: "new.yaml", Line: 2, Column: 4, KeyID: stagedID}}; !slices.Equal(got, want) {
		t.Fatalf("staged: %+v, want %+v", got, want)
	}
}

func commits(fs []Finding) []Finding {
	out := make([]Finding, 0, len(fs))
	for _, f := range fs {
		out = append(out, Finding{Rule: f.Rule, Path: f.Path, Commit: f.Commit, Line: f.Line, Column: f.Column, KeyID: f.KeyID})
	}
	return out
}

func TestGitNotARepository(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	var ge *GitError
	if _, err := ScanGitHistory(context.Background(), t.TempDir(), Detector{}); !errors.As(err, &ge) {
		t.Fatalf("err = %v, want a GitError", err)
	}
}
