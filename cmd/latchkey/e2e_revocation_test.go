package main

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Revocations as an operator sees them: `token watch` prints each one as it
// is acknowledged; a holder revokes its own token; an admin revokes by jti.
func TestEndToEndRevocationWatch(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	startDev(t, state)
	demo := filepath.Join(state, "demo-root-key")
	mint := func() (string, string) {
		exch := decode(t, cli(t, "", "token", "exchange", "--state", state, "--root-key-file", demo, "-o", "json"))
		return exch["access_token"].(string), exch["jti"].(string)
	}
	watch := exec.Command(binPath, "token", "watch", "--state", state)
	out, err := watch.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { watch.Process.Kill(); watch.Wait() })
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expect := func(want string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("token watch ended before printing %q", want)
				}
				if strings.Contains(l, want) {
					return
				}
			case <-deadline:
				t.Fatalf("token watch did not print %q", want)
			}
		}
	}
	expect("snapshot at revision")

	tok, jti := mint()
	cli(t, tok, "token", "revoke", "--state", state)
	expect("jti " + jti)
	if got := introspect(t, state, tok); len(got) != 0 {
		t.Fatalf("token revoked by its holder is %v", got)
	}
	_, jti2 := mint()
	cli(t, "", "token", "revoke", "--state", state, "--jti", jti2, "--reason", "test")
	expect("jti " + jti2)

	created := decode(t, cli(t, "", "keys", "create", "--state", state, "--owner", "w", "--scope", "demo.read",
		"--audience", "demo-api", "--root-key-out", filepath.Join(state, "k"), "-o", "json"))
	id := created["key"].(map[string]any)["key_id"].(string)
	cli(t, "", "keys", "rotate", id, "--state", state, "--revoke-issued", "--root-key-out", filepath.Join(state, "k2"))
	expect("key " + id)
}
