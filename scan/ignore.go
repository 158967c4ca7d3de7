package scan

import (
	"bytes"
	"path"
	"strings"
)

// ignoreRule is one line of a .gitignore file.
//
// Supported: comments, blank lines, "\#" and "\!" escapes, negation with
// "!", "*", "?" and "[...]" globs, "**" as a whole segment (leading,
// trailing or in the middle), a leading or middle "/" anchoring the pattern
// to the .gitignore's folder, a trailing "/" matching folders only, and
// nested .gitignore files whose rules override their parents'.
//
// Not supported: .git/info/exclude, core.excludesFile and the global
// ignore file; "**" inside a segment (treated as "*"); escaped trailing
// spaces (trailing spaces are always trimmed).
type ignoreRule struct {
	base     string // folder of the .gitignore, slash-separated, "" at the root
	segs     []string
	negate   bool
	dirOnly  bool
	anchored bool
}

// ignorer holds the rules in force in one folder, parents' first. It is
// never mutated after creation, so subfolders can share it.
type ignorer struct {
	rules []ignoreRule
}

// with returns an ignorer that adds the rules of the .gitignore found in
// folder base (slash-separated, relative to the scan root).
func (ig *ignorer) with(base string, data []byte) *ignorer {
	var added []ignoreRule
	for line := range bytes.Lines(data) {
		if r, ok := parseIgnoreLine(base, string(line)); ok {
			added = append(added, r)
		}
	}
	if len(added) == 0 {
		return ig
	}
	n := &ignorer{}
	if ig != nil {
		n.rules = append(n.rules, ig.rules...)
	}
	n.rules = append(n.rules, added...)
	return n
}

func parseIgnoreLine(base, line string) (ignoreRule, bool) {
	line = strings.TrimRight(line, "\r\n")
	line = strings.TrimRight(line, " \t")
	if line == "" || line[0] == '#' {
		return ignoreRule{}, false
	}
	r := ignoreRule{base: base}
	switch {
	case line[0] == '!':
		r.negate, line = true, line[1:]
	case strings.HasPrefix(line, `\#`), strings.HasPrefix(line, `\!`):
		line = line[1:]
	}
	if strings.HasSuffix(line, "/") {
		r.dirOnly, line = true, strings.TrimRight(line, "/")
	}
	if line == "" {
		return ignoreRule{}, false
	}
	if strings.Contains(line, "/") {
		r.anchored = true
		line = strings.TrimPrefix(line, "/")
	}
	r.segs = strings.Split(line, "/")
	return r, true
}

// ignored reports whether rel (slash-separated, relative to the scan root)
// is excluded. The last matching rule wins, so a negation re-includes.
// Callers check folders before descending, so a file inside an excluded
// folder is never asked about, just as git never re-includes it.
func (ig *ignorer) ignored(rel string, isDir bool) bool {
	if ig == nil {
		return false
	}
	for i := len(ig.rules) - 1; i >= 0; i-- {
		r := &ig.rules[i]
		if r.dirOnly && !isDir {
			continue
		}
		if r.match(rel) {
			return !r.negate
		}
	}
	return false
}

func (r *ignoreRule) match(rel string) bool {
	if r.base != "" {
		if !strings.HasPrefix(rel, r.base+"/") {
			return false
		}
		rel = rel[len(r.base)+1:]
	}
	if !r.anchored {
		ok, _ := path.Match(r.segs[0], path.Base(rel))
		return ok
	}
	return matchSegs(r.segs, strings.Split(rel, "/"))
}

// matchSegs matches path segments, where a "**" pattern segment stands for
// zero or more path segments; a trailing "**" needs at least one.
func matchSegs(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			if len(pat) == 1 {
				return len(name) > 0
			}
			for k := 0; k <= len(name); k++ {
				if matchSegs(pat[1:], name[k:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}
