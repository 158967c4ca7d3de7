package verifier

import (
	"errors"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// New refuses configurations it cannot work with.
func TestConfigValidation(t *testing.T) {
	ok := func() Config { return Config{Conn: &spyConn{}, Issuer: testIssuer, Audience: testAudience} }
	cases := []struct {
		name string
		edit func(*Config)
	}{
		{"no connection", func(c *Config) { c.Conn = nil }},
		{"no issuer", func(c *Config) { c.Issuer = "" }},
		{"no audience", func(c *Config) { c.Audience = "" }},
		{"negative leeway", func(c *Config) { c.Leeway = -time.Second }},
		{"leeway over the maximum", func(c *Config) { c.Leeway = MaxLeeway + time.Second }},
		{"negative staleness", func(c *Config) { c.MaxStaleness = -time.Second }},
		{"unknown mode", func(c *Config) { c.Mode = 7 }},
		{"plain http JWKS", func(c *Config) { c.JWKSURL = "http://latchkey.test/jwks.json" }},
		{"relative JWKS", func(c *Config) { c.JWKSURL = "/jwks.json" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok()
			tc.edit(&cfg)
			if _, err := New(t.Context(), cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("New: %v, want ErrConfig", err)
			}
		})
	}
	cfg := ok()
	if err := cfg.fill(); err != nil || cfg.Leeway != DefaultLeeway || cfg.MaxStaleness != DefaultMaxStaleness || cfg.Now == nil || cfg.Logger == nil {
		t.Fatalf("defaults not filled: %+v, %v", cfg, err)
	}
}

// New fails when the caller may not watch revocations, rather than starting
// with an empty replica.
func TestNewFailsWithoutIntrospectRole(t *testing.T) {
	l := startLatchkey(t)
	// Workload identities may fetch the JWKS but not watch revocations.
	_, err := New(testCtx(t), Config{Conn: l.dial(idWorkloadA), Issuer: testIssuer, Audience: testAudience, Now: l.clock.Now})
	if err == nil || !strings.Contains(err.Error(), "revocation stream") {
		t.Fatalf("New as a workload: %v, want a revocation stream error", err)
	}
}

// Close stops every goroutine the verifier started, and Verify then reports
// that it cannot answer.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	l := startLatchkey(t)
	secret, _ := l.createKey()
	tok := l.exchange(secret).GetAccessToken()
	before := goleak.IgnoreCurrent()

	conn := l.dial(idRS)
	v, err := New(testCtx(t), Config{Conn: conn, Issuer: testIssuer, Audience: testAudience, Now: l.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(testCtx(t), tok, nil); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(v.Close(), v.Close()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(testCtx(t), tok, nil); !errors.Is(err, ErrStale) {
		t.Fatalf("Verify after Close: %v, want ErrStale", err)
	}
	conn.Close()
	goleak.VerifyNone(t, before)
}

// The package links nothing of Latchkey's server side and no JWT library:
// its own imports are from an allow-list, and so is everything they pull in.
func TestImportRule(t *testing.T) {
	allowed := func(path string) bool {
		return !strings.Contains(strings.SplitN(path, "/", 2)[0], ".") ||
			strings.HasPrefix(path, "google.golang.org/grpc") ||
			strings.HasPrefix(path, "google.golang.org/protobuf") ||
			strings.HasPrefix(path, "github.com/latchkeyhq/latchkey/gen/") ||
			// canonical base64url decoding, on the standard library alone
			path == "github.com/latchkeyhq/latchkey/internal/b64url"
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range parsed.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			checked++
			if !allowed(path) {
				t.Errorf("%s imports %s", f, path)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no imports found; is the test running in the package folder?")
	}

	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH; the direct imports were checked")
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	forbidden := []string{
		"github.com/latchkeyhq/latchkey/server", "github.com/latchkeyhq/latchkey/store",
		"github.com/latchkeyhq/latchkey/issuer", "github.com/latchkeyhq/latchkey/policy",
		"github.com/latchkeyhq/latchkey/revocation", "github.com/latchkeyhq/latchkey/signing",
		"github.com/dgraph-io/", "github.com/golang-jwt/", "github.com/go-jose/", "gopkg.in/square/go-jose",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("verifier depends on %s", dep)
			}
		}
	}
}
