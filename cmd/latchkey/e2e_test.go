package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// binPath is the latchkey binary built once for the end-to-end tests.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "latchkey-e2e")
	if err != nil {
		panic(err)
	}
	binPath = filepath.Join(dir, "latchkey")
	build := exec.Command("go", "build", "-o", binPath, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("build latchkey: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// lockedBuffer collects a child's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// devServer is `latchkey dev` running as a child process.
type devServer struct {
	cmd      *exec.Cmd
	stderr   *lockedBuffer
	httpAddr string
}

func startDev(t *testing.T, state string) *devServer {
	t.Helper()
	cmd := exec.Command(binPath, "dev", "--state", state, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &devServer{cmd: cmd, stderr: stderr}
	t.Cleanup(func() { d.cmd.Process.Kill(); d.cmd.Wait() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		var all strings.Builder
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "Stop with Ctrl-C") {
				ready <- all.String()
			}
		}
	}()
	select {
	case out := <-ready:
		for _, want := range []string{"serving gRPC on 127.0.0.1:", "serving HTTPS on 127.0.0.1:", "latchkey token exchange", "grpcurl"} {
			if !strings.Contains(out, want) {
				t.Fatalf("dev output lacks %q:\n%s", want, out)
			}
		}
		_, rest, _ := strings.Cut(out, "serving HTTPS on ")
		d.httpAddr, _, _ = strings.Cut(rest, " ")
	case <-time.After(60 * time.Second):
		t.Fatalf("latchkey dev did not become ready; stderr:\n%s", stderr.String())
	}
	return d
}

// cli runs a client command and returns its stdout; it fails the test on a
// non-zero exit.
func cli(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := run(stdin, args...)
	if err != nil {
		t.Fatalf("latchkey %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func run(stdin string, args ...string) (string, string, error) {
	cmd := exec.Command(binPath, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, s)
	}
	return m
}

func introspect(t *testing.T, state, token string) map[string]any {
	t.Helper()
	return decode(t, cli(t, token, "token", "introspect", "--state", state, "-o", "json"))
}

// The whole path as a user runs it, across a SIGKILL and a restart.
func TestEndToEndDevFlow(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	dev := startDev(t, state)
	for _, f := range []string{"ca.pem", "server.pem", "admin.pem", "workload.pem", "demo-root-key"} {
		if _, err := os.Stat(filepath.Join(state, f)); err != nil {
			t.Fatalf("state folder lacks %s: %v", f, err)
		}
	}
	for _, f := range []string{"server-key.pem", "admin-key.pem", "workload-key.pem", "demo-root-key"} {
		if fi, err := os.Stat(filepath.Join(state, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v, err %v; want 0600", f, fi.Mode().Perm(), err)
		}
	}

	keyFile := filepath.Join(state, "e2e-key")
	created := decode(t, cli(t, "", "keys", "create", "--state", state, "--owner", "e2e-team",
		"--scope", "demo.read,demo.write", "--audience", "demo-api",
		"--bind", "spiffe://dev.latchkey.local/workload/*", "--root-key-out", keyFile, "-o", "json"))
	keyID := created["key"].(map[string]any)["key_id"].(string)

	exch := decode(t, cli(t, "", "token", "exchange", "--state", state, "--root-key-file", keyFile, "--scope", "demo.read", "-o", "json"))
	token := exch["access_token"].(string)
	if exch["key_id"] != keyID || exch["token_type"] != "Bearer" {
		t.Fatalf("exchange response: %v", exch)
	}
	// The token's signing key is in the JWKS served over HTTPS, and only
	// public members are.
	jwks := fetchJWKS(t, state, dev.httpAddr)
	if !strings.Contains(jwks, tokenKID(t, token)) || strings.Contains(jwks, `"d"`) {
		t.Fatalf("JWKS lacks the token's kid or has private members:\n%s", jwks)
	}
	if out := cli(t, "", "signing", "list", "--state", state); !strings.Contains(out, tokenKID(t, token)) || !strings.Contains(out, "active") {
		t.Fatalf("signing list:\n%s", out)
	}
	got := introspect(t, state, token)
	if got["active"] != true || got["scope"] != "demo.read" || got["client_id"] != keyID || got["cnf_x5t_s256"] == nil {
		t.Fatalf("introspection of a fresh token: %v", got)
	}

	cli(t, "", "keys", "revoke", keyID, "--reason", "compromised", "--state", state)
	if got := introspect(t, state, token); len(got) != 0 {
		t.Fatalf("after revoking the key: %v, want {} (active=false and nothing else)", got)
	}
	// An exchange with the revoked key is refused with the fixed message.
	if _, errOut, err := run("", "token", "exchange", "--state", state, "--root-key-file", keyFile); err == nil || !strings.Contains(errOut, "invalid root key") {
		t.Fatalf("exchange with a revoked key: err=%v stderr=%s", err, errOut)
	}

	// SIGKILL: no chance to flush anything. The revocation must already be durable.
	if err := dev.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	dev.cmd.Wait()
	dev = startDev(t, state)
	if got := introspect(t, state, token); len(got) != 0 {
		t.Fatalf("after SIGKILL and restart the revoked token is %v, want inactive", got)
	}
	// The demo key and the signing key survived too: a new exchange works and verifies.
	fresh := strings.TrimSpace(cli(t, "", "token", "exchange", "--state", state,
		"--root-key-file", filepath.Join(state, "demo-root-key"), "-o", "token"))
	if got := introspect(t, state, fresh); got["active"] != true || got["sub"] != "demo-team" {
		t.Fatalf("token from the demo key after restart: %v", got)
	}
	listed := cli(t, "", "keys", "list", "--state", state)
	if !strings.Contains(listed, keyID) || !strings.Contains(listed, "revoked") {
		t.Fatalf("keys list after restart:\n%s", listed)
	}

	// SIGTERM stops the server cleanly.
	if err := dev.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := dev.cmd.Wait(); err != nil {
		t.Fatalf("dev exited with %v after SIGTERM; stderr:\n%s", err, dev.stderr.String())
	}
	for _, secret := range []string{token, fresh, strings.TrimSpace(readFile(t, keyFile))} {
		if strings.Contains(dev.stderr.String(), secret) {
			t.Fatal("server log contains a secret")
		}
	}
	assertStoreHoldsNoSecret(t, state, strings.TrimSpace(readFile(t, keyFile)),
		strings.TrimSpace(readFile(t, filepath.Join(state, "demo-root-key"))))
}

// assertStoreHoldsNoSecret decrypts every entry of the store, as someone
// holding the store key but not the pepper could, and looks for the secret
// part of each root key in any common encoding (SECURITY-CASES K3).
func assertStoreHoldsNoSecret(t *testing.T, state string, keys ...string) {
	t.Helper()
	storeKey := []byte(readFile(t, filepath.Join(state, "store.key")))
	db, err := badger.Open(badger.DefaultOptions(filepath.Join(state, "data")).
		WithEncryptionKey(storeKey).WithIndexCacheSize(1 << 20).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var dump bytes.Buffer
	entries := 0
	err = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			entries++
			dump.Write(it.Item().KeyCopy(nil))
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			dump.Write(v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if entries < 3 || !strings.Contains(dump.String(), "e2e-team") {
		t.Fatalf("store dump has %d entries and lacks the key records; the scan would prove nothing", entries)
	}
	for _, k := range keys {
		secret := k[len("lk_")+12+1 : len(k)-6]
		for _, form := range []string{k, secret, hex.EncodeToString([]byte(secret)),
			base64.StdEncoding.EncodeToString([]byte(secret)), base64.RawURLEncoding.EncodeToString([]byte(secret))} {
			if bytes.Contains(dump.Bytes(), []byte(form)) {
				t.Fatalf("the store holds a root key secret in clear (%q form)", form[:8])
			}
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The server refuses to start, naming the file at fault.
func TestServeRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	// A dev run creates a complete set of files to break one at a time.
	d := startDev(t, state)
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.cmd.Wait()

	base := map[string]string{
		"listen": "127.0.0.1:0", "cert_file": filepath.Join(state, "server.pem"), "key_file": filepath.Join(state, "server-key.pem"),
		"client_ca_file": filepath.Join(state, "ca.pem"), "dir": filepath.Join(dir, "data"),
		"encryption_key_file": filepath.Join(state, "store.key"), "pepper_file": filepath.Join(state, "pepper"),
		"policy_file": filepath.Join(state, "policy.yaml"),
	}
	write := func(over map[string]string) string {
		v := map[string]string{}
		for k, x := range base {
			v[k] = x
		}
		for k, x := range over {
			v[k] = x
		}
		httpExtra := ""
		if f := v["metrics_token_file"]; f != "" {
			httpExtra += "  metrics_token_file: " + f + "\n"
		}
		if m := v["metrics"]; m != "" {
			httpExtra += "  metrics: " + m + "\n"
		}
		cfg := "listen: " + v["listen"] + "\nhttp:\n  listen: 127.0.0.1:0\n" + httpExtra + "tls:\n  cert_file: " + v["cert_file"] + "\n  key_file: " + v["key_file"] +
			"\n  client_ca_file: " + v["client_ca_file"] + "\nstore:\n  dir: " + v["dir"] + "\n  encryption_key_file: " +
			v["encryption_key_file"] + "\npepper_file: " + v["pepper_file"] + "\npolicy_file: " + v["policy_file"] + "\n"
		p := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("too short"), 0o600)
	cfg := func(over map[string]string) func() []string {
		return func() []string { return []string{"serve", "--config", write(over)} }
	}
	fixed := func(args ...string) func() []string { return func() []string { return args } }
	cases := []struct {
		name string
		args func() []string
		want string
	}{
		{"missing config", fixed("serve", "--config", filepath.Join(dir, "nope.yaml")), "nope.yaml"},
		{"no config flag", fixed("serve"), "--config is required"},
		{"missing pepper", cfg(map[string]string{"pepper_file": filepath.Join(dir, "no-pepper")}), "no-pepper"},
		{"short pepper", cfg(map[string]string{"pepper_file": short}), short},
		{"missing store key", cfg(map[string]string{"encryption_key_file": filepath.Join(dir, "no-store-key")}), "no-store-key"},
		{"wrong-size store key", cfg(map[string]string{"encryption_key_file": short}), short},
		{"missing certificate", cfg(map[string]string{"cert_file": filepath.Join(dir, "no-cert.pem")}), "no-cert.pem"},
		{"missing client CA", cfg(map[string]string{"client_ca_file": filepath.Join(dir, "no-ca.pem")}), "no-ca.pem"},
		{"missing policy", cfg(map[string]string{"policy_file": filepath.Join(dir, "no-policy.yaml")}), "no-policy.yaml"},
		{"missing metrics token", cfg(map[string]string{"metrics_token_file": filepath.Join(dir, "no-token")}), "no-token"},
		{"short metrics token", cfg(map[string]string{"metrics_token_file": short}), short},
		{"unknown config field", func() []string {
			p := filepath.Join(dir, "typo.yaml")
			os.WriteFile(p, []byte("listen: 127.0.0.1:0\npeper_file: x\n"), 0o600)
			return []string{"serve", "--config", p}
		}, "peper_file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, err := run("", tc.args()...)
			if err == nil || !strings.Contains(errOut, tc.want) {
				t.Fatalf("err=%v stderr=%q; want a failure naming %q", err, errOut, tc.want)
			}
		})
	}
	t.Run("valid config starts", func(t *testing.T) {
		for _, env := range []string{"", "GOGC=100"} {
			cmd := exec.Command(binPath, "serve", "--config", write(nil))
			var logs strings.Builder
			cmd.Stderr = &logs
			if env != "" {
				cmd.Env = append(os.Environ(), env)
			}
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line, _ := bufio.NewReader(out).ReadString('\n')
			if !strings.Contains(line, "serving gRPC on 127.0.0.1:") {
				t.Fatalf("first line %q", line)
			}
			cmd.Process.Signal(syscall.SIGTERM)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("serve exited with %v after SIGTERM", err)
			}
			// The collector's headroom is tuned unless the environment
			// sets GOGC, which the operator's choice wins over.
			tuned := strings.Contains(logs.String(), `"msg":"garbage collector headroom set","percent_of_live_heap":50,"at_least_mib":32`)
			left := strings.Contains(logs.String(), `"msg":"garbage collector left to GOGC from the environment`)
			if want := env == "" && os.Getenv("GOGC") == ""; tuned != want || left == want {
				t.Fatalf("environment %q: tuning logged %v, left to GOGC logged %v, want tuning %v; logs:\n%s", env, tuned, left, want, logs.String())
			}
		}
	})
	// /metrics behind a bearer token, and turned off; the other routes
	// answer either way.
	const token = "e2e-metrics-token-0123456789"
	tokenFile := filepath.Join(dir, "metrics.token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	type call struct {
		path, auth string
		code       int
		body       string
	}
	for _, mc := range []struct {
		name  string
		over  map[string]string
		calls []call
	}{
		{"metrics behind a bearer token", map[string]string{"metrics_token_file": tokenFile}, []call{
			{"/metrics", "", http.StatusUnauthorized, "unauthorized"},
			{"/metrics", "Bearer not-the-metrics-token-at-all", http.StatusUnauthorized, "unauthorized"},
			{"/metrics", "Bearer " + token, http.StatusOK, "# TYPE latchkey_"},
			{"/healthz", "", http.StatusOK, "ok"},
		}},
		{"metrics off", map[string]string{"metrics": "false"}, []call{
			{"/metrics", "", http.StatusNotFound, "not found"},
			{"/metrics", "Bearer " + token, http.StatusNotFound, "not found"},
			{"/healthz", "", http.StatusOK, "ok"},
		}},
	} {
		t.Run(mc.name, func(t *testing.T) {
			cmd := exec.Command(binPath, "serve", "--config", write(mc.over))
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				cmd.Process.Signal(syscall.SIGTERM)
				if err := cmd.Wait(); err != nil {
					t.Errorf("serve exited with %v after SIGTERM", err)
				}
			}()
			line, _ := bufio.NewReader(out).ReadString('\n')
			_, httpAddr, ok := strings.Cut(strings.TrimSpace(line), ", HTTPS on ")
			if !ok {
				t.Fatalf("first line %q names no HTTPS address", line)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM([]byte(readFile(t, filepath.Join(state, "ca.pem")))) {
				t.Fatal("no CA certificate in ca.pem")
			}
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			for _, c := range mc.calls {
				req, err := http.NewRequest(http.MethodGet, "https://"+httpAddr+c.path, nil)
				if err != nil {
					t.Fatal(err)
				}
				if c.auth != "" {
					req.Header.Set("Authorization", c.auth)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != c.code || !strings.Contains(string(body), c.body) {
					t.Fatalf("GET %s, Authorization %q: %d %.200q, want %d with %q", c.path, c.auth, resp.StatusCode, body, c.code, c.body)
				}
			}
		})
	}
	t.Run("second server on the same data directory", func(t *testing.T) {
		first := startDev(t, state)
		defer first.cmd.Process.Signal(syscall.SIGTERM)
		_, errOut, err := run("", "dev", "--state", state, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0")
		if err == nil || !strings.Contains(errOut, "in use by another process") {
			t.Fatalf("err=%v stderr=%q; want a lock error", err, errOut)
		}
	})
}

func fetchJWKS(t *testing.T, state, addr string) string {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(readFile(t, filepath.Join(state, "ca.pem")))) {
		t.Fatal("no CA")
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}}}
	resp, err := c.Get("https://" + addr + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET jwks: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

// tokenKID reads the kid from a token's header.
func tokenKID(t *testing.T, token string) string {
	t.Helper()
	hdr, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(hdr)
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Kid string }
	if err := json.Unmarshal(raw, &h); err != nil || h.Kid == "" {
		t.Fatalf("token header %s: %v", raw, err)
	}
	return h.Kid
}
