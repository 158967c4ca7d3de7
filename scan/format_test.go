package scan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func sampleResult(t *testing.T) (*Result, string) {
	key, id := newKey(t)
	r := &Result{
		Findings: []Finding{
			{Rule: RuleRootKey, Confidence: High, Path: `dir/a.go`, Line: 3, Column: 9, Length: len(key), KeyID: id, Redacted: redactKey([]byte(key))},
			{Rule: RuleNearMiss, Confidence: Medium, Path: "b.env", Commit: "abc123", Line: 1, Column: 1, Length: len(key), KeyID: id, Redacted: redactKey([]byte(key))},
			{Rule: RuleHighEntropy, Confidence: Low, Path: "x.zip!c.txt", Line: 2, Column: 5, Length: 30, Redacted: "aB3x****"},
		},
		Notes: []Note{{Path: "img.png", Reason: NoteBinary}, {Path: "locked", Reason: NoteUnreadable, Detail: "permission denied"}},
		Files: 4, Bytes: 1000,
	}
	return r, key
}

func TestWriteSARIF(t *testing.T) {
	r, key := sampleResult(t)
	var buf bytes.Buffer
	if err := WriteSARIF(&buf, r); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), key[secretPos:secretPos+30]) {
		t.Fatal("SARIF holds a secret")
	}
	var log map[string]any
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	if log["$schema"] != SARIFSchema || log["version"] != "2.1.0" {
		t.Fatalf("$schema/version: %v %v", log["$schema"], log["version"])
	}
	runs := log["runs"].([]any)
	if len(runs) != 1 {
		t.Fatalf("%d runs", len(runs))
	}
	run := runs[0].(map[string]any)
	driver := run["tool"].(map[string]any)["driver"].(map[string]any)
	if driver["name"] != "latchkey" {
		t.Fatalf("driver name %v", driver["name"])
	}
	var ruleIDs []string
	for _, r := range driver["rules"].([]any) {
		rule := r.(map[string]any)
		ruleIDs = append(ruleIDs, rule["id"].(string))
		if rule["shortDescription"].(map[string]any)["text"] == "" {
			t.Fatalf("rule %v lacks a description", rule["id"])
		}
	}
	if got := strings.Join(ruleIDs, ","); got != "latchkey/root-key,latchkey/near-miss,latchkey/high-entropy" {
		t.Fatalf("rules %s", got)
	}
	results := run["results"].([]any)
	want := []struct {
		rule, level, uri string
		line, col        float64
	}{
		{"latchkey/root-key", "error", "dir/a.go", 3, 9},
		{"latchkey/near-miss", "warning", "b.env", 1, 1},
		{"latchkey/high-entropy", "note", "x.zip!c.txt", 2, 5},
	}
	if len(results) != len(want) {
		t.Fatalf("%d results", len(results))
	}
	for i, w := range want {
		res := results[i].(map[string]any)
		if res["ruleId"] != w.rule || res["level"] != w.level || int(res["ruleIndex"].(float64)) != i {
			t.Fatalf("result %d: %v", i, res)
		}
		if msg := res["message"].(map[string]any)["text"].(string); msg == "" {
			t.Fatalf("result %d has no message", i)
		}
		loc := res["locations"].([]any)[0].(map[string]any)["physicalLocation"].(map[string]any)
		region := loc["region"].(map[string]any)
		if loc["artifactLocation"].(map[string]any)["uri"] != w.uri || region["startLine"] != w.line || region["startColumn"] != w.col {
			t.Fatalf("result %d location %v", i, loc)
		}
		if fp := res["partialFingerprints"].(map[string]any)["latchkeyFinding/v1"].(string); len(fp) != 32 {
			t.Fatalf("result %d fingerprint %q", i, fp)
		}
	}
	// The fingerprint follows the key, not its line.
	moved := r.Findings[0]
	moved.Line += 10
	if fingerprint(moved) != fingerprint(r.Findings[0]) {
		t.Fatal("fingerprint changes when the key moves down the file")
	}
}

func TestWriteSARIFEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteSARIF(&buf, &Result{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"results": []`) {
		t.Fatalf("an empty run must still list results:\n%s", buf.String())
	}
}

func TestWriteText(t *testing.T) {
	r, key := sampleResult(t)
	tests := []struct {
		verbose bool
		notes   string
	}{
		{false, "note: locked: skipped (unreadable): permission denied\nnote: 1 more skipped as binary, too large or not regular files (-v lists them)\n"},
		{true, "note: img.png: skipped (binary)\nnote: locked: skipped (unreadable): permission denied\n"},
	}
	for _, tc := range tests {
		var out, notes bytes.Buffer
		if err := WriteText(&out, &notes, r, tc.verbose); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != 4 || !strings.HasPrefix(lines[0], "dir/a.go:3:9: Latchkey root key (key id "+r.Findings[0].KeyID+"): lk_") ||
			!strings.Contains(lines[1], "in commit abc123") || lines[3] != "3 finding(s) in 4 file(s), 1000 bytes scanned" {
			t.Fatalf("text output:\n%s", out.String())
		}
		if strings.Contains(out.String(), key[secretPos:secretPos+30]) {
			t.Fatal("text output holds a secret")
		}
		if notes.String() != tc.notes {
			t.Fatalf("verbose=%v notes:\n%s", tc.verbose, notes.String())
		}
	}
}
