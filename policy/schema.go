package policy

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

var (
	typeOfFile     = reflect.TypeFor[file]()
	typeOfDuration = reflect.TypeFor[duration]()
)

// errAlias: anchors, aliases and merge keys let one line silently change
// another section (and expand exponentially); a policy must read as written.
var errAlias = errors.New("anchors, aliases and merge keys are not allowed")

// checker walks the node tree alongside the Go schema before decoding. It
// reports unknown fields, wrong shapes and bad durations with the field path,
// and records the line of every path for later validation errors.
type checker struct {
	lines map[string]int
	errs  []*FieldError
}

func (c *checker) fail(line int, path string, err error) {
	c.errs = append(c.errs, &FieldError{Line: line, Path: path, Err: err})
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func (c *checker) check(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		c.fail(n.Line, path, errAlias)
		return
	}
	if isNull(n) {
		return
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == typeOfDuration:
		c.checkDuration(n, path)
	case t.Kind() == reflect.Struct:
		if c.want(n, yaml.MappingNode, path, "a mapping") {
			c.checkStruct(n, t, path)
		}
	case t.Kind() == reflect.Map:
		if c.want(n, yaml.MappingNode, path, "a mapping") {
			c.checkMap(n, t, path)
		}
	case t.Kind() == reflect.Slice:
		if c.want(n, yaml.SequenceNode, path, "a list") {
			for i, item := range n.Content {
				p := path + "[" + strconv.Itoa(i) + "]"
				c.lines[p] = item.Line
				if isNull(item) {
					// yaml.v3 would drop the item without a word.
					c.fail(item.Line, p, errors.New("empty list item"))
					continue
				}
				c.check(item, t.Elem(), p)
			}
		}
	case t.Kind() == reflect.String:
		c.want(n, yaml.ScalarNode, path, "a string")
	case t.Kind() == reflect.Int:
		var v int
		if c.want(n, yaml.ScalarNode, path, "an integer") && (n.ShortTag() != "!!int" || n.Decode(&v) != nil) {
			c.fail(n.Line, path, fmt.Errorf("expected an integer, got %s", quote(n.Value)))
		}
	case t.Kind() == reflect.Float64:
		tag := n.ShortTag()
		if c.want(n, yaml.ScalarNode, path, "a number") && tag != "!!int" && tag != "!!float" {
			c.fail(n.Line, path, fmt.Errorf("expected a number, got %s", quote(n.Value)))
		}
	case t.Kind() == reflect.Bool:
		// Stricter than yaml.v3, which also takes YAML 1.1 spellings such as
		// "yes" and "on" for a bool field.
		if c.want(n, yaml.ScalarNode, path, "true or false") && n.ShortTag() != "!!bool" {
			c.fail(n.Line, path, fmt.Errorf("expected true or false, got %s", quote(n.Value)))
		}
	}
}

func (c *checker) want(n *yaml.Node, kind yaml.Kind, path, what string) bool {
	if n.Kind == kind {
		return true
	}
	c.fail(n.Line, path, fmt.Errorf("expected %s, got %s", what, describe(n)))
	return false
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return quote(n.Value)
}

// checkDuration insists on a duration with a unit, as parseDuration reads it.
func (c *checker) checkDuration(n *yaml.Node, path string) {
	if !c.want(n, yaml.ScalarNode, path, `a duration such as "10m"`) {
		return
	}
	if _, err := parseDuration(n.Value); err != nil || n.ShortTag() != "!!str" {
		c.fail(n.Line, path, fmt.Errorf(`invalid duration %s: write a number with a unit, such as "10m", "30s", "7d" or "0s"`, quote(n.Value)))
	}
}

func (c *checker) checkStruct(n *yaml.Node, t reflect.Type, path string) {
	fields := map[string]reflect.Type{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		fields[name] = f.Type
		names = append(names, name)
	}
	c.eachPair(n, path, func(key string, keyNode, value *yaml.Node) {
		ft, ok := fields[key]
		if !ok {
			c.fail(keyNode.Line, path, fmt.Errorf("unknown field %s (want one of %s)", quote(key), strings.Join(names, ", ")))
			return
		}
		p := join(path, key)
		c.lines[p] = keyNode.Line
		c.check(value, ft, p)
	})
}

func (c *checker) checkMap(n *yaml.Node, t reflect.Type, path string) {
	c.eachPair(n, path, func(key string, keyNode, value *yaml.Node) {
		p := join(path, key)
		c.lines[p] = keyNode.Line
		c.check(value, t.Elem(), p)
	})
}

// eachPair calls fn for every key of a mapping, refusing non-string and
// duplicate keys.
func (c *checker) eachPair(n *yaml.Node, path string, fn func(key string, keyNode, value *yaml.Node)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind == yaml.AliasNode || k.Anchor != "" || k.ShortTag() == "!!merge":
			c.fail(k.Line, path, errAlias)
			continue
		case k.Kind != yaml.ScalarNode:
			c.fail(k.Line, path, errors.New("keys must be plain strings"))
			continue
		case isNull(k):
			// yaml.v3 would drop the entry without a word.
			c.fail(k.Line, path, fmt.Errorf("null key %s (quote it if it is a name)", quote(k.Value)))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			c.fail(k.Line, join(path, k.Value), fmt.Errorf("duplicate key (first at line %d)", first))
			continue
		}
		seen[k.Value] = k.Line
		fn(k.Value, k, v)
	}
}

// lineOf returns the line of path, or of its nearest enclosing field when
// the field itself is absent (a missing "name" reports its list item).
func (c *checker) lineOf(path string) int {
	for path != "" {
		if line, ok := c.lines[path]; ok {
			return line
		}
		path = path[:max(strings.LastIndexAny(path, ".["), 0)]
	}
	return 0
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
