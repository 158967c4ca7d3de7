//go:build interop

package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/issuer"
)

// nodeToken is one entry of verify.mjs's input.
type nodeToken struct {
	Name   string `json:"name"`
	Token  string `json:"token"`
	Alg    string `json:"alg"`
	Expect string `json:"expect"`
}

type nodeInput struct {
	JWKSURI  string      `json:"jwks_uri"`
	Issuer   string      `json:"issuer"`
	Audience string      `json:"audience"`
	Tokens   []nodeToken `json:"tokens"`
}

type nodeResult struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

// requireNodeJose stops the test with the command that installs what it
// needs, rather than skipping: a skipped interop run proves nothing.
func requireNodeJose(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join("node", "node_modules", "jose", "package.json")); err != nil {
		t.Fatalf("interop/node/node_modules/jose is missing: run `make test-interop` "+
			"(or `cd interop/node && npm ci --no-audit --no-fund`) first: %v", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH; `make test-interop` needs Node.js 20.19 or later: %v", err)
	}
	return node
}

// runNodeVerify feeds in to verify.mjs and returns its result lines by name
// and its exit code.
func runNodeVerify(t *testing.T, node string, s *side, in nodeInput) (map[string]nodeResult, int) {
	t.Helper()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, s.caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	stdin, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("node", "verify.mjs"))
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Env = append(nodeEnv(), "NODE_EXTRA_CA_CERTS="+caFile)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("running verify.mjs: %v", err)
	}
	if code == 2 {
		t.Fatalf("verify.mjs refused its input: %s", stderr.String())
	}
	results := map[string]nodeResult{}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var r nodeResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("verify.mjs printed %q (stderr %q): %v", line, stderr.String(), err)
		}
		results[r.Name] = r
	}
	return results, code
}

// nodeEnv is the test's environment without anything that would make Node
// skip certificate checks or route loopback traffic through a proxy.
func nodeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(name) {
		case "NODE_TLS_REJECT_UNAUTHORIZED", "NODE_EXTRA_CA_CERTS", "NODE_OPTIONS", "HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY":
			continue
		}
		env = append(env, kv)
	}
	return env
}

func TestNodeJoseVerifiesOurTokens(t *testing.T) {
	node := requireNodeJose(t)
	// jose checks exp and nbf against the real clock, so the issuer's clock
	// starts from it; the keyring's history is laid out in the past.
	now := time.Now().Truncate(time.Second)
	// The error codes are jose's own, so an invalid token must fail for the
	// reason the case names and not for some other.
	wantError := map[string]string{
		"tampered payload": "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
		"revoked kid":      "ERR_JWKS_NO_MATCHING_KEY",
		"unknown kid":      "ERR_JWKS_NO_MATCHING_KEY",
		"alg none":         "ERR_JOSE_ALG_NOT_ALLOWED",
		"expired":          "ERR_JWT_EXPIRED",
	}
	for _, alg := range algorithms {
		t.Run(alg, func(t *testing.T) {
			// The first key was activated 70 minutes ago; its successor was
			// published 12 minutes ago and is active now, so the first key
			// is retired but still published.
			s := startSide(t, alg, now.Add(-70*time.Minute))
			s.at(now.Add(-12 * time.Minute))
			if s.kidIn(issuer.KeyNext) == "" {
				t.Fatal("no next key published")
			}
			retired := s.mint(15 * time.Minute)
			s.at(now)
			if s.kidIn(issuer.KeyRetired) == "" {
				t.Fatal("no retired key")
			}
			forged := s.forgeries()
			active := s.mint(10 * time.Minute)

			in := nodeInput{JWKSURI: s.baseURL + "/.well-known/jwks.json", Issuer: testIssuerURL, Audience: testAudience}
			in.Tokens = append(in.Tokens,
				nodeToken{"signed by the retired key", retired.Raw, alg, "valid"},
				nodeToken{"signed by the active key", active.Raw, alg, "valid"},
			)
			for _, f := range forged {
				in.Tokens = append(in.Tokens, nodeToken{f.name, f.raw, alg, "invalid"})
			}
			results, code := runNodeVerify(t, node, s, in)
			if len(results) != len(in.Tokens) {
				t.Fatalf("got %d results for %d tokens: %v", len(results), len(in.Tokens), results)
			}
			for _, tok := range in.Tokens {
				t.Run(tok.Name, func(t *testing.T) {
					r, ok := results[tok.Name]
					switch {
					case !ok:
						t.Fatal("no result")
					case tok.Expect == "valid" && (!r.OK || r.Error != ""):
						t.Fatalf("jose refused a valid token: %s", r.Error)
					case tok.Expect == "invalid" && r.OK:
						t.Fatal("jose accepted a forged token")
					case tok.Expect == "invalid" && !strings.HasPrefix(r.Error, wantError[tok.Name]+":"):
						t.Fatalf("error = %q, want %s", r.Error, wantError[tok.Name])
					}
				})
			}
			if code != 0 {
				t.Fatalf("verify.mjs exited %d with every outcome as expected", code)
			}
		})
	}
}

// TestNodeVerifyExitsOnMismatch keeps the script honest: an outcome that
// differs from its expectation must fail the run, or a broken verifier would
// pass every test above through its exit code.
func TestNodeVerifyExitsOnMismatch(t *testing.T) {
	node := requireNodeJose(t)
	s := startSide(t, issuer.AlgEdDSA, time.Now().Truncate(time.Second))
	tok := s.mint(5 * time.Minute)
	tests := []struct {
		name     string
		expect   string
		wantCode int
	}{
		{"expectation met", "valid", 0},
		{"expectation not met", "invalid", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := nodeInput{
				JWKSURI: s.baseURL + "/.well-known/jwks.json", Issuer: testIssuerURL, Audience: testAudience,
				Tokens: []nodeToken{{"token", tok.Raw, issuer.AlgEdDSA, tc.expect}},
			}
			results, code := runNodeVerify(t, node, s, in)
			if code != tc.wantCode || !results["token"].OK {
				t.Fatalf("exit %d, result %+v; want exit %d and ok", code, results["token"], tc.wantCode)
			}
		})
	}
}
