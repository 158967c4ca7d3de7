package policy

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxFileBytes bounds a policy file; real ones are a few kilobytes.
const maxFileBytes = 1 << 20

// maxReported bounds how many problems one error lists.
const maxReported = 20

// file is the YAML schema. Optional durations are pointers so that an
// explicit "0s" can be told apart from an absent field.
type file struct {
	Issuer  string                  `yaml:"issuer"`
	Tokens  fileTokens              `yaml:"tokens"`
	Signing fileSigning             `yaml:"signing"`
	Roles   map[string][]string     `yaml:"roles"`
	Scopes  []fileScope             `yaml:"scopes"`
	Keys    fileKeyRules            `yaml:"keys"`
	Owners  map[string]fileKeyRules `yaml:"owners"`
	Limits  fileLimits              `yaml:"limits"`
	Alerts  fileAlerts              `yaml:"alerts"`
}

type fileTokens struct {
	DefaultTTL *duration `yaml:"default_ttl"`
	MaxTTL     *duration `yaml:"max_ttl"`
	Leeway     *duration `yaml:"leeway"`
}

type fileScope struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
}

// Parse decodes and validates a policy file, filling defaults. Unknown keys,
// anchors and aliases, and more than one YAML document are errors. Problems
// are reported as *FieldError values (joined when there are several), each
// naming the line and field path where known.
func Parse(data []byte) (*Policy, error) {
	return parse(data, "")
}

// Load reads the policy file at path and parses it; every error names the
// file. A file writable by everyone is refused, since whoever can edit the
// policy can make themselves admin.
func Load(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("policy: %s: not a regular file", path)
	}
	if info.Mode().Perm()&0o002 != 0 {
		return nil, fmt.Errorf("policy: %s: file is writable by everyone (mode %v)", path, info.Mode().Perm())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("policy: %s: %w", path, err)
	}
	return parse(data, path)
}

func parse(data []byte, name string) (*Policy, error) {
	problems := func(errs []*FieldError) error {
		for _, e := range errs {
			e.File = name
		}
		return joinErrors(errs)
	}
	if len(data) > maxFileBytes {
		return nil, problems([]*FieldError{{Err: fmt.Errorf("larger than %d bytes", maxFileBytes)}})
	}
	root, errs := decodeDocument(data)
	if len(errs) > 0 {
		return nil, problems(errs)
	}
	c := checker{lines: map[string]int{}}
	c.check(root, typeOfFile, "")
	if len(c.errs) > 0 {
		return nil, problems(c.errs)
	}
	// The schema walk above gives the friendly messages; the strict decoder
	// remains the authority on what is accepted.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var raw file
	if err := dec.Decode(&raw); err != nil {
		return nil, problems(yamlErrors(err))
	}
	p, errs := build(&raw)
	if len(errs) > 0 {
		for _, e := range errs {
			e.Line = c.lineOf(cmp.Or(e.at, e.Path))
		}
		slices.SortStableFunc(errs, func(a, b *FieldError) int { return sortLine(a.Line) - sortLine(b.Line) })
		return nil, problems(errs)
	}
	return p, nil
}

// decodeDocument parses data into a node tree and insists on exactly one
// document whose top level is a mapping.
func decodeDocument(data []byte) (*yaml.Node, []*FieldError) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, []*FieldError{{Err: errors.New("empty document")}}
		}
		return nil, yamlErrors(err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, yamlErrors(err)
	default:
		return nil, []*FieldError{{Line: next.Line, Err: errors.New("more than one YAML document")}}
	}
	if len(doc.Content) != 1 {
		return nil, []*FieldError{{Err: errors.New("empty document")}}
	}
	root := doc.Content[0]
	if isNull(root) {
		return nil, []*FieldError{{Line: root.Line, Err: errors.New("empty document")}}
	}
	if root.Kind != yaml.MappingNode {
		return nil, []*FieldError{{Line: root.Line, Err: errors.New("the top level must be a mapping")}}
	}
	return root, nil
}

// yamlErrors turns yaml.v3 errors ("yaml: line 3: ...", or a TypeError
// listing "line 3: ..." entries) into located FieldErrors.
func yamlErrors(err error) []*FieldError {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		out := make([]*FieldError, 0, len(te.Errors))
		for _, msg := range te.Errors {
			out = append(out, lineError(msg))
		}
		return out
	}
	return []*FieldError{lineError(strings.TrimPrefix(err.Error(), "yaml: "))}
}

// parserProblems are the yaml.v3 parser (not scanner) messages. yaml.v3
// v3.0.1 reports their line zero-based, one less than the real line.
var parserProblems = []string{
	"did not find expected <stream-start>",
	"did not find expected <document start>",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found undefined tag handle",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found duplicate %TAG directive",
}

func lineError(msg string) *FieldError {
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				if slices.Contains(parserProblems, text) {
					n++
				}
				return &FieldError{Line: n, Err: errors.New("invalid YAML: " + text)}
			}
		}
	}
	return &FieldError{Err: errors.New("invalid YAML: " + msg)}
}

// sortLine orders problems without a line after the located ones.
func sortLine(line int) int {
	if line == 0 {
		return math.MaxInt32
	}
	return line
}

// joinErrors returns the single error, or all of them (up to maxReported)
// joined one per line.
func joinErrors(errs []*FieldError) error {
	if len(errs) == 1 {
		return errs[0]
	}
	out := make([]error, 0, min(len(errs), maxReported)+1)
	for i, e := range errs {
		if i == maxReported {
			out = append(out, fmt.Errorf("policy: %d more problems not shown", len(errs)-maxReported))
			break
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}
