package scan

import (
	"testing"
)

func TestGitignoreRules(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string // folder -> .gitignore content, parents first
		path  string
		isDir bool
		want  bool
	}{
		{"plain name anywhere", map[string]string{"": "secret.txt\n"}, "a/b/secret.txt", false, true},
		{"plain name other file", map[string]string{"": "secret.txt\n"}, "a/b/public.txt", false, false},
		{"star glob", map[string]string{"": "*.env\n"}, "deploy/prod.env", false, true},
		{"question mark", map[string]string{"": "key?.pem\n"}, "key1.pem", false, true},
		{"char class", map[string]string{"": "key[0-9].pem\n"}, "keyx.pem", false, false},
		{"comment and blank", map[string]string{"": "# *.go\n\n"}, "main.go", false, false},
		{"escaped hash", map[string]string{"": "\\#notes\n"}, "#notes", false, true},
		{"trailing spaces trimmed", map[string]string{"": "out.txt   \n"}, "out.txt", false, true},
		{"leading slash anchors", map[string]string{"": "/build\n"}, "build", true, true},
		{"leading slash not deeper", map[string]string{"": "/build\n"}, "src/build", true, false},
		{"middle slash anchors", map[string]string{"": "docs/*.md\n"}, "docs/a.md", false, true},
		{"middle slash not deeper", map[string]string{"": "docs/*.md\n"}, "x/docs/a.md", false, false},
		{"star does not cross slash", map[string]string{"": "docs/*.md\n"}, "docs/x/a.md", false, false},
		{"trailing slash matches folder", map[string]string{"": "tmp/\n"}, "a/tmp", true, true},
		{"trailing slash skips file", map[string]string{"": "tmp/\n"}, "a/tmp", false, false},
		{"leading double star", map[string]string{"": "**/cache\n"}, "a/b/cache", true, true},
		{"leading double star at top", map[string]string{"": "**/cache\n"}, "cache", false, true},
		{"trailing double star", map[string]string{"": "vendor/**\n"}, "vendor/x/y.go", false, true},
		{"trailing double star not the folder", map[string]string{"": "vendor/**\n"}, "vendor", true, false},
		{"middle double star zero", map[string]string{"": "a/**/b.txt\n"}, "a/b.txt", false, true},
		{"middle double star many", map[string]string{"": "a/**/b.txt\n"}, "a/x/y/b.txt", false, true},
		{"negation re-includes", map[string]string{"": "*.env\n!example.env\n"}, "example.env", false, false},
		{"later rule wins", map[string]string{"": "!example.env\n*.env\n"}, "example.env", false, true},
		{"nested file applies below it", map[string]string{"": "", "sub": "*.log\n"}, "sub/x/a.log", false, true},
		{"nested file not beside it", map[string]string{"": "", "sub": "*.log\n"}, "other/a.log", false, false},
		{"nested negation overrides parent", map[string]string{"": "*.log\n", "sub": "!keep.log\n"}, "sub/keep.log", false, false},
		{"nested anchor is relative to its folder", map[string]string{"sub": "/gen\n"}, "sub/gen", true, true},
		{"nested anchor elsewhere", map[string]string{"sub": "/gen\n"}, "gen", true, false},
		{"crlf line endings", map[string]string{"": "a.txt\r\nb.txt\r\n"}, "b.txt", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ig *ignorer
			// Parents first, as the walk meets them.
			for _, dir := range []string{"", "sub"} {
				if c, ok := tc.files[dir]; ok {
					ig = ig.with(dir, []byte(c))
				}
			}
			if got := ig.ignored(tc.path, tc.isDir); got != tc.want {
				t.Fatalf("ignored(%q, dir=%v) = %v, want %v", tc.path, tc.isDir, got, tc.want)
			}
		})
	}
}
