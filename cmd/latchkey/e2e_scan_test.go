package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/latchkeyhq/latchkey/rootkey"
)

// A leaked key as an operator handles it: scan finds it, --revoke revokes
// it, the key stops working, and a second run changes nothing.
func TestEndToEndScanRevoke(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	startDev(t, state)
	keyFile := filepath.Join(state, "leak-key")
	created := decode(t, cli(t, "", "keys", "create", "--state", state, "--owner", "leaky-team",
		"--scope", "demo.read", "--audience", "demo-api", "--root-key-out", keyFile, "-o", "json"))
	keyID := created["key"].(map[string]any)["key_id"].(string)
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	repo := t.TempDir()
	if err := os.WriteFile(filepath.Join(repo, "deploy.yaml"), []byte("env:\n  LATCHKEY_ROOT_KEY: "+strings.TrimSpace(string(key))+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	scanRevoke := func() string {
		t.Helper()
		out, errOut, err := run("", "scan", "--revoke", "--state", state, repo)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("scan --revoke: %v, want exit status 1\nstdout: %s\nstderr: %s", err, out, errOut)
		}
		if strings.Contains(out+errOut, strings.TrimSpace(string(key))[20:]) {
			t.Fatal("scan printed the secret")
		}
		return out
	}

	out := scanRevoke()
	if !strings.Contains(out, "deploy.yaml:2:22: Latchkey root key (key id "+keyID+")") || !strings.Contains(out, "key "+keyID+": revoked\n") {
		t.Fatalf("first scan --revoke:\n%s", out)
	}
	if _, errOut, err := run("", "token", "exchange", "--state", state, "--root-key-file", keyFile); err == nil || !strings.Contains(errOut, "invalid root key") {
		t.Fatalf("exchange with the leaked key: err=%v stderr=%s", err, errOut)
	}
	got := decode(t, cli(t, "", "keys", "get", keyID, "--state", state, "-o", "json"))["key"].(map[string]any)
	if got["state"] != "KEY_STATE_REVOKED" || got["revocation_reason"] != "REVOCATION_REASON_LEAKED" {
		t.Fatalf("key after scan --revoke: %v", got)
	}
	// The trail says the key was revoked as leaked, and that the refused
	// exchange was refused for it and presented a leaked key.
	events := auditEvents(t, state, "--key-id", keyID)
	revoked := findEvent(events, func(e map[string]any) bool { return e["kind"] == "key.revoke" })
	refused := findEvent(events, func(e map[string]any) bool { return e["kind"] == "exchange" })
	if revoked == nil || revoked["reason"] != "leaked" || revoked["result"] != "ok" ||
		refused == nil || refused["result"] != "denied" || refused["reason"] != "key_revoked" ||
		!slices.Contains(stringList(refused["key_flags"]), "leaked") {
		t.Fatalf("audit events after scan --revoke and a refused exchange:\nkey.revoke: %v\nexchange: %v", revoked, refused)
	}
	if out := scanRevoke(); !strings.Contains(out, "key "+keyID+": already revoked\n") {
		t.Fatalf("second scan --revoke:\n%s", out)
	}
}

// --disable quarantines instead, and a key unknown to the server is said to
// be so rather than failing the run.
func TestEndToEndScanDisable(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	startDev(t, state)
	keyFile := filepath.Join(state, "k")
	created := decode(t, cli(t, "", "keys", "create", "--state", state, "--owner", "w", "--scope", "demo.read",
		"--audience", "demo-api", "--root-key-out", keyFile, "-o", "json"))
	keyID := created["key"].(map[string]any)["key_id"].(string)
	help, err := exec.Command(binPath, "scan", "--help").Output()
	if err != nil || !strings.Contains(string(help), "exec latchkey scan --staged") {
		t.Fatalf("help lacks the hook snippet: %v\n%s", err, help)
	}
	for _, want := range []string{"disabled", "already disabled"} {
		out, errOut, err := run("", "scan", "--disable", "--state", state, keyFile)
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(out, "key "+keyID+": "+want+"\n") {
			t.Fatalf("scan --disable: %v\nstdout: %s\nstderr: %s", err, out, errOut)
		}
	}
	got := decode(t, cli(t, "", "keys", "get", keyID, "--state", state, "-o", "json"))["key"].(map[string]any)
	if got["state"] != "KEY_STATE_DISABLED" {
		t.Fatalf("key after scan --disable: %v", got)
	}

	stranger, err := rootkey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	out, _, _ := run(stranger.Reveal(), "scan", "--revoke", "--state", state, "-")
	if !strings.Contains(out, "key "+stranger.ID()+": unknown to this server\n") {
		t.Fatalf("scan --revoke of a foreign key:\n%s", out)
	}
}
