package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkeyhq/latchkey/rootkey"
)

// runScanCmd runs the scan command in-process and returns its exit status
// and output.
func runScanCmd(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	code := 0
	cmd := newScanCmdWith(func(c int) { code = c })
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	_ = cmd.ExecuteContext(context.Background())
	return code, out.String(), errOut.String()
}

func TestScanCommand(t *testing.T) {
	k, err := rootkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	key := k.Reveal()
	bad := []byte(key)
	bad[30] = map[bool]byte{true: 'b', false: 'a'}[bad[30] == 'a']

	leaky, clean, lookalike := t.TempDir(), t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(leaky, "app.env"), []byte("X=1\nLATCHKEY_ROOT_KEY="+key+"\n"), 0o644)
	os.WriteFile(filepath.Join(clean, "main.go"), []byte("package main\n"), 0o644)
	os.WriteFile(filepath.Join(lookalike, "doc.md"), []byte("example: "+string(bad)+"\n"), 0o644)
	os.WriteFile(filepath.Join(lookalike, "big.txt"), bytes.Repeat([]byte("a"), 3000), 0o644)

	tests := []struct {
		name   string
		args   []string
		stdin  string
		code   int
		stdout []string
		stderr []string
	}{
		{"clean", []string{clean}, "", 0, []string{"0 finding(s) in 1 file(s)"}, nil},
		{"default path is the working folder", nil, "", -1, []string{"finding(s)"}, nil},
		{"key found", []string{leaky}, "", 1, []string{filepath.Join(leaky, "app.env") + ":2:19: Latchkey root key (key id " + k.ID() + "): " + k.PublicPrefix() + "****"}, nil},
		{"near miss alone passes", []string{lookalike}, "", 0, []string{"0 finding(s)"}, nil},
		{"near miss counts when shown", []string{"--show-invalid", lookalike}, "", 1, []string{"look-alike"}, nil},
		{"max size note with -v", []string{"--max-size", "1K", "-v", lookalike}, "", 0, nil, []string{"big.txt: skipped (too-large)"}},
		{"routine note summarised", []string{"--max-size", "1K", lookalike}, "", 0, nil, []string{"1 more skipped"}},
		{"stdin", []string{"-"}, "\n" + key, 1, []string{"-:2:1: Latchkey root key"}, nil},
		{"json", []string{"--format", "json", leaky}, "", 1, []string{`"key_id": "` + k.ID() + `"`, `"rule": "latchkey/root-key"`}, nil},
		{"sarif", []string{"-o", "sarif", leaky}, "", 1, []string{`"version": "2.1.0"`, `"ruleId": "latchkey/root-key"`}, nil},
		{"unknown format", []string{"--format", "yaml", leaky}, "", 2, nil, []string{`--output "yaml"`}},
		{"unknown flag", []string{"--nope", leaky}, "", 2, nil, []string{"unknown flag: --nope"}},
		{"missing path", []string{filepath.Join(clean, "absent")}, "", 2, nil, []string{"no such file or directory"}},
		{"revoke and disable", []string{"--revoke", "--disable", leaky}, "", 2, nil, []string{"exclude each other"}},
		{"git and staged", []string{"--git", "--staged", leaky}, "", 2, nil, []string{"exclude each other"}},
		{"bad size", []string{"--max-size", "lots", leaky}, "", 2, nil, []string{"--max-size"}},
		{"revoke without a server fails", []string{"--revoke", "--state", clean, leaky}, "", 2, nil, []string{"client certificate"}},
		{"revoke with nothing found needs no server", []string{"--revoke", "--state", clean, clean}, "", 0, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runScanCmd(t, tc.stdin, tc.args...)
			if tc.code >= 0 && code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errOut)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(out, s) {
					t.Fatalf("stdout lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(errOut, s) {
					t.Fatalf("stderr lacks %q:\n%s", s, errOut)
				}
			}
			if strings.Contains(out+errOut, key[len(key)-30:]) {
				t.Fatal("output holds the secret")
			}
		})
	}
}

func TestScanJSONShape(t *testing.T) {
	k, _ := rootkey.Generate()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "k"), []byte(k.Reveal()), 0o644)
	code, out, _ := runScanCmd(t, "", "-o", "json", dir)
	var got struct {
		Findings []map[string]any `json:"findings"`
		Notes    []any            `json:"notes"`
		Files    int              `json:"files"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if code != 1 || len(got.Findings) != 1 || got.Findings[0]["line"] != 1.0 || got.Findings[0]["column"] != 1.0 ||
		got.Findings[0]["confidence"] != "high" || got.Notes == nil || got.Files != 1 {
		t.Fatalf("exit %d, %+v", code, got)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"1024", 1024}, {"10MiB", 10 << 20}, {"10MB", 10 << 20}, {"512K", 512 << 10}, {"1G", 1 << 30}, {"7B", 7},
		{"0", 0}, {"-1", 0}, {"x", 0}, {"MiB", 0}, {"99999999999G", 0},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseSize(tc.in)
			if tc.want == 0 {
				if err == nil {
					t.Fatalf("parseSize(%q) = %d, want an error", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}
