package rootkey

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// parseSources parses the package's non-test files.
func parseSources(t *testing.T) (map[string]*ast.File, *token.FileSet) {
	t.Helper()
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]*ast.File{}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = f
	}
	if len(files) == 0 {
		t.Fatal("no source files found")
	}
	return files, fset
}

func selectorName(e ast.Expr) string {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok {
		return ""
	}
	x, ok := sel.X.(*ast.Ident)
	if !ok {
		return ""
	}
	return x.Name + "." + sel.Sel.Name
}

// Secrets must be compared in constant time; variable-time comparisons are
// banned from the package's source outright.
func TestSourceHasNoVariableTimeComparison(t *testing.T) {
	banned := map[string]bool{
		"bytes.Equal": true, "bytes.Compare": true, "reflect.DeepEqual": true,
		"slices.Equal": true, "strings.Compare": true, "strings.EqualFold": true,
	}
	files, fset := parseSources(t)
	for name, f := range files {
		t.Run(name, func(t *testing.T) {
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if ok && banned[selectorName(call.Fun)] {
					t.Errorf("%s: call to %s", fset.Position(call.Pos()), selectorName(call.Fun))
				}
				return true
			})
		})
	}
}

func TestVerifyComparesWithHMACEqual(t *testing.T) {
	files, _ := parseSources(t)
	var verify *ast.FuncDecl
	for _, f := range files {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if ok && fn.Name.Name == "Verify" && fn.Recv != nil {
				verify = fn
			}
		}
	}
	if verify == nil {
		t.Fatal("Pepper.Verify not found")
	}
	var calls []string
	ast.Inspect(verify.Body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			calls = append(calls, selectorName(n.Fun))
		case *ast.BinaryExpr:
			if n.Op == token.EQL || n.Op == token.NEQ {
				if _, isNil := n.Y.(*ast.Ident); !isNil || n.Y.(*ast.Ident).Name != "nil" {
					t.Errorf("Verify uses %s on something other than nil", n.Op)
				}
			}
		}
		return true
	})
	found := false
	for _, c := range calls {
		if c == "hmac.Equal" {
			found = true
		}
	}
	if !found {
		t.Fatalf("Verify calls %v, none of them hmac.Equal", calls)
	}
}
