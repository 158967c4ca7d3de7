package client

import (
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// allowedImport is the rule for what the workload library may import
// directly: the standard library, gRPC, protobuf and the generated API.
func allowedImport(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	if !strings.Contains(first, ".") {
		return true // standard library
	}
	for _, module := range []string{"google.golang.org/grpc", "google.golang.org/protobuf"} {
		if path == module || strings.HasPrefix(path, module+"/") {
			return true
		}
	}
	return strings.HasPrefix(path, "github.com/latchkeyhq/latchkey/gen/")
}

func TestAllowedImport(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"context", true},
		{"crypto/subtle", true},
		{"google.golang.org/grpc", true},
		{"google.golang.org/grpc/credentials", true},
		{"google.golang.org/grpcfake", false},
		{"google.golang.org/protobuf/types/known/durationpb", true},
		{"github.com/latchkeyhq/latchkey/gen/latchkey/v1", true},
		{"github.com/latchkeyhq/latchkey/server", false},
		{"github.com/latchkeyhq/latchkey/store/badger", false},
		{"github.com/latchkeyhq/latchkey/issuer", false},
		{"github.com/latchkeyhq/latchkey/policy", false},
		{"github.com/latchkeyhq/latchkey/generated", false},
		{"github.com/dgraph-io/badger/v4", false},
		{"github.com/golang-jwt/jwt/v5", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := allowedImport(tt.path); got != tt.want {
				t.Fatalf("allowedImport(%q) = %v, want %v", tt.path, got, tt.want)
			}
		})
	}
}

// TestImportRule parses every non-test file of the package.
func TestImportRule(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatal(err)
			}
			if !allowedImport(path) {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
	if checked < 5 {
		t.Fatalf("checked only %d files; is the test running in the package directory?", checked)
	}
}

// TestNoServerSideDependencies walks the transitive dependencies: even
// through gRPC or the generated code, nothing server-side may come in.
func TestNoServerSideDependencies(t *testing.T) {
	gobin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	out, err := exec.Command(gobin, "list", "-deps", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 20 {
		t.Fatalf("go list returned %d packages, suspiciously few", len(deps))
	}
	const self = "github.com/latchkeyhq/latchkey/"
	for _, dep := range deps {
		forbidden := strings.Contains(dep, "dgraph-io") || strings.Contains(dep, "golang-jwt") ||
			strings.Contains(dep, "go-jose") ||
			(strings.HasPrefix(dep, self) && !strings.HasPrefix(dep, self+"gen/") && dep != self+"client")
		if forbidden {
			t.Errorf("client depends on %s", dep)
		}
	}
}
