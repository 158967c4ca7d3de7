package scan

import (
	"cmp"
	"slices"

	"github.com/latchkeyhq/latchkey/rootkey"
)

// Rule names what kind of secret a finding is. The values double as SARIF
// rule ids.
type Rule string

const (
	// RuleRootKey is a valid Latchkey root key: its checksum matches.
	RuleRootKey Rule = "latchkey/root-key"
	// RuleNearMiss has a root key's shape but a wrong checksum: a typo, a
	// truncated copy, or a deliberately altered example.
	RuleNearMiss Rule = "latchkey/near-miss"
	// RuleHighEntropy is a random-looking base64 or hex token that may be
	// some other secret.
	RuleHighEntropy Rule = "latchkey/high-entropy"
)

// Confidence says how sure a finding is.
type Confidence string

const (
	High   Confidence = "high"
	Medium Confidence = "medium"
	Low    Confidence = "low"
)

// Finding is one secret found. It never holds the secret itself.
type Finding struct {
	Rule       Rule       `json:"rule"`
	Confidence Confidence `json:"confidence"`
	// Path is the file, "archive.zip!inner/path" for an archive entry, or
	// "-" for standard input.
	Path string `json:"path"`
	// Commit is set for findings in git history.
	Commit string `json:"commit,omitempty"`
	// Line and Column are 1-based; Column counts bytes.
	Line   int `json:"line"`
	Column int `json:"column"`
	// Length is the number of bytes the secret spans.
	Length int `json:"length"`
	// KeyID is the public key id, for root keys and near misses.
	KeyID string `json:"key_id,omitempty"`
	// Redacted identifies the secret without revealing it.
	Redacted string `json:"redacted"`
}

// NoteReason says why something was not scanned.
type NoteReason string

const (
	NoteBinary        NoteReason = "binary"
	NoteTooLarge      NoteReason = "too-large"
	NoteNestedArchive NoteReason = "nested-archive"
	NoteSpecial       NoteReason = "not-a-regular-file"
	NoteUnreadable    NoteReason = "unreadable"
	NoteSymlinkLoop   NoteReason = "symlink-loop"
	NoteBadArchive    NoteReason = "bad-archive"
)

// Routine reports whether the reason is an expected, by-design skip rather
// than something a user should look at.
func (r NoteReason) Routine() bool {
	switch r {
	case NoteBinary, NoteTooLarge, NoteNestedArchive, NoteSpecial:
		return true
	}
	return false
}

// Note records a path that was skipped, wholly or partly.
type Note struct {
	Path   string     `json:"path"`
	Reason NoteReason `json:"reason"`
	Detail string     `json:"detail,omitempty"`
}

// Result is what a scan found and what it skipped, sorted.
type Result struct {
	Findings []Finding `json:"findings"`
	Notes    []Note    `json:"notes"`
	// Files and Bytes count what was actually scanned.
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
}

// KeyIDs returns the distinct ids of valid root keys found, sorted.
func (r *Result) KeyIDs() []string {
	var ids []string
	for _, f := range r.Findings {
		if f.Rule == RuleRootKey {
			ids = append(ids, f.KeyID)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

func (r *Result) sort() {
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	if r.Notes == nil {
		r.Notes = []Note{}
	}
	slices.SortFunc(r.Findings, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column), cmp.Compare(a.Commit, b.Commit), cmp.Compare(a.Rule, b.Rule))
	})
	slices.SortFunc(r.Notes, func(a, b Note) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Reason, b.Reason), cmp.Compare(a.Detail, b.Detail))
	})
}

const (
	secretPos = len(rootkey.Prefix) + rootkey.IDLen + 1
	hidden    = "****"
)

// redactKey keeps the public prefix and the last four checksum characters,
// enough to tell two secrets of one key id apart without revealing either.
func redactKey(k []byte) string {
	return string(k[:secretPos]) + hidden + string(k[len(k)-4:])
}

// redactToken keeps four characters of a token that may be anything.
func redactToken(t []byte) string {
	return string(t[:4]) + hidden
}
