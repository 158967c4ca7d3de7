package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Rotation as an operator runs it: both secrets work during the grace
// period, only the new one after it, and the inventory filters see it.
func TestEndToEndRotation(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	startDev(t, state)
	k1 := filepath.Join(state, "k1")
	k2 := filepath.Join(state, "k2")
	created := decode(t, cli(t, "", "keys", "create", "--state", state, "--owner", "rot-team", "--scope", "demo.read",
		"--audience", "demo-api", "--rotation-period", "1s", "--root-key-out", k1, "-o", "json"))
	id := created["key"].(map[string]any)["key_id"].(string)
	exchange := func(keyFile string) error {
		_, errOut, err := run("", "token", "exchange", "--state", state, "--root-key-file", keyFile, "-o", "token")
		if err != nil && !strings.Contains(errOut, "Unauthenticated: invalid root key") {
			t.Fatalf("unexpected failure: %s", errOut)
		}
		return err
	}
	if err := exchange(k1); err != nil {
		t.Fatal("the new key does not work")
	}
	grace := 3 * time.Second
	cli(t, "", "keys", "rotate", id, "--state", state, "--grace", grace.String(), "--root-key-out", k2)
	rotatedAt := time.Now()
	if strings.TrimSpace(readFile(t, k1)) == strings.TrimSpace(readFile(t, k2)) {
		t.Fatal("rotation returned the same secret")
	}
	if exchange(k1) != nil || exchange(k2) != nil {
		t.Fatal("both secrets must work during the grace period")
	}
	time.Sleep(time.Until(rotatedAt.Add(grace + 200*time.Millisecond)))
	if exchange(k1) == nil {
		t.Fatal("the old secret still works after the grace deadline")
	}
	if exchange(k2) != nil {
		t.Fatal("the new secret stopped working")
	}

	listed := cli(t, "", "keys", "list", "--state", state, "--rotation-due")
	if !strings.Contains(listed, id) {
		t.Fatalf("--rotation-due does not list the key with a 1s rotation period:\n%s", listed)
	}
	demo := strings.TrimSpace(readFile(t, filepath.Join(state, "demo-root-key")))[3:15]
	if strings.Contains(listed, demo) {
		t.Fatalf("--rotation-due lists the demo key, which has no rotation period:\n%s", listed)
	}
	unused := cli(t, "", "keys", "list", "--state", state, "--unused-for", "2s")
	if !strings.Contains(unused, demo) || strings.Contains(unused, id) {
		t.Fatalf("--unused-for 2s should list only the never-used demo key:\n%s", unused)
	}
	hist := cli(t, "", "keys", "history", id, "--state", state)
	if !strings.Contains(hist, "rotated") || !strings.Contains(hist, "created") {
		t.Fatalf("history:\n%s", hist)
	}
}

// serveProc is `latchkey serve` as a child process.
type serveProc struct {
	cmd    *exec.Cmd
	addr   string
	stderr *lockedBuffer
}

func startServe(t *testing.T, config string) *serveProc {
	t.Helper()
	cmd := exec.Command(binPath, "serve", "--config", config)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.Contains(line, "serving gRPC on ") {
		t.Fatalf("serve did not start: %q %v\n%s", line, err, stderr.String())
	}
	addr, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "latchkey: serving gRPC on "), ",")
	return &serveProc{cmd: cmd, addr: addr, stderr: stderr}
}

// A valid policy change takes effect on SIGHUP; an invalid one is refused and
// the policy in force stays.
func TestPolicyReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	d := startDev(t, state)
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.cmd.Wait()

	policyFile := filepath.Join(dir, "policy.yaml")
	base := readFile(t, filepath.Join(state, "policy.yaml"))
	if err := os.WriteFile(policyFile, []byte(base), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServe(t, writeServeConfig(t, dir, state, policyFile, ""))
	create := func() (string, error) {
		_, errOut, err := run("", "keys", "create", "--state", state, "--addr", srv.addr, "--owner", "o",
			"--scope", "demo.extra", "--audience", "demo-api", "-o", "json")
		return errOut, err
	}
	if errOut, err := create(); err == nil || !strings.Contains(errOut, "scope catalog") {
		t.Fatalf("an uncatalogued scope was accepted: %v %s", err, errOut)
	}
	extended := strings.Replace(base, "scopes:\n", "scopes:\n  - name: demo.extra\n    description: added by reload\n", 1)
	if extended == base {
		t.Fatal("could not extend the policy")
	}
	if err := os.WriteFile(policyFile, []byte(extended), 0o600); err != nil {
		t.Fatal(err)
	}
	hangup := func(wantLog string) {
		t.Helper()
		if err := srv.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(srv.stderr.String(), wantLog) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the server log:\n%s", wantLog, srv.stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	hangup("policy reloaded")
	if errOut, err := create(); err != nil {
		t.Fatalf("the reloaded policy is not in force: %s", errOut)
	}
	if err := os.WriteFile(policyFile, []byte("issuer: [not valid\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hangup("policy reload refused")
	// A change the token issuer reads only at start is refused too.
	if err := os.WriteFile(policyFile, []byte(strings.Replace(extended, "max_ttl: 1h", "max_ttl: 2h", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	hangup("take effect only at restart")
	if errOut, err := create(); err != nil {
		t.Fatalf("a refused reload replaced the policy in force: %s", errOut)
	}
	invalid := filepath.Join(dir, "invalid.yaml")
	os.WriteFile(invalid, []byte("issuer: https://x.test\nroles:\n  admin: [\"spiffe://a/*/b\"]\n"), 0o600)
	if out, errOut, err := run("", "policy", "check", invalid); err == nil || !strings.Contains(errOut, "invalid.yaml:3: roles.admin[0]") {
		t.Fatalf("policy check on an invalid file: err=%v out=%s stderr=%s", err, out, errOut)
	}
	if out := cli(t, "", "policy", "check", filepath.Join(state, "policy.yaml")); !strings.Contains(out, "valid") {
		t.Fatalf("policy check output: %s", out)
	}
	srv.cmd.Process.Signal(syscall.SIGTERM)
	if err := srv.cmd.Wait(); err != nil {
		t.Fatalf("serve exited with %v", err)
	}
}

// A log rotator moves the audit file away and sends SIGHUP: the server
// writes the events after it to a new file at the configured path.
func TestAuditFileReopenedOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	d := startDev(t, state)
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.cmd.Wait()

	auditPath := filepath.Join(dir, "audit.jsonl")
	srv := startServe(t, writeServeConfig(t, dir, state, filepath.Join(state, "policy.yaml"), "audit:\n  file: "+auditPath+"\n"))
	create := func() string {
		t.Helper()
		out := decode(t, cli(t, "", "keys", "create", "--state", state, "--addr", srv.addr, "--owner", "o",
			"--scope", "demo.read", "--audience", "demo-api", "-o", "json"))
		return `"key_id":"` + out["key"].(map[string]any)["key_id"].(string) + `"`
	}
	before := create()
	rotated := auditPath + ".1"
	if err := os.Rename(auditPath, rotated); err != nil {
		t.Fatal(err)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(srv.stderr.String(), "audit file reopened") {
		if time.Now().After(deadline) {
			t.Fatalf("no reopen in the server log:\n%s", srv.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	after := create()
	srv.cmd.Process.Signal(syscall.SIGTERM)
	if err := srv.cmd.Wait(); err != nil {
		t.Fatalf("serve exited with %v", err)
	}
	old, fresh := readFile(t, rotated), readFile(t, auditPath)
	if !strings.Contains(old, before) || strings.Contains(old, after) {
		t.Errorf("the moved file holds:\n%s", old)
	}
	if !strings.Contains(fresh, after) || strings.Contains(fresh, before) {
		t.Errorf("the new file holds:\n%s", fresh)
	}
	if !strings.Contains(fresh, `"kind":"service.stop"`) {
		t.Errorf("the stop event is not in the new file:\n%s", fresh)
	}
	if st, err := os.Stat(auditPath); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("new audit file: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
}

// writeServeConfig writes a serve config into dir for the files of a dev
// state folder, with policyFile and extra YAML appended, and returns its path.
func writeServeConfig(t *testing.T, dir, state, policyFile, extra string) string {
	t.Helper()
	config := filepath.Join(dir, "config.yaml")
	cfg := "listen: 127.0.0.1:0\nhttp:\n  listen: 127.0.0.1:0\ntls:\n  cert_file: " + filepath.Join(state, "server.pem") +
		"\n  key_file: " + filepath.Join(state, "server-key.pem") + "\n  client_ca_file: " + filepath.Join(state, "ca.pem") +
		"\nstore:\n  dir: " + filepath.Join(state, "data") + "\n  encryption_key_file: " + filepath.Join(state, "store.key") +
		"\npepper_file: " + filepath.Join(state, "pepper") + "\npolicy_file: " + policyFile + "\n" + extra
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return config
}
