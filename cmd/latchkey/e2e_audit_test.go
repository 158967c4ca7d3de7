package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/latchkeyhq/latchkey/cmd/latchkey/devstate"
	"github.com/latchkeyhq/latchkey/rootkey"
)

// auditEvents runs `audit query -o json` with args and decodes one event
// per line.
func auditEvents(t *testing.T, state string, args ...string) []map[string]any {
	t.Helper()
	out := cli(t, "", append([]string{"audit", "query", "--state", state, "--limit", "0", "-o", "json"}, args...)...)
	var events []map[string]any
	for line := range strings.Lines(out) {
		events = append(events, decode(t, line))
	}
	return events
}

// findEvent returns the first event for which match holds, or nil.
func findEvent(events []map[string]any, match func(map[string]any) bool) map[string]any {
	for _, e := range events {
		if match(e) {
			return e
		}
	}
	return nil
}

// eventSeq reads an event's seq, which protojson spells as a string.
func eventSeq(t *testing.T, e map[string]any) uint64 {
	t.Helper()
	s, _ := e["seq"].(string)
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("event seq %v: %v", e["seq"], err)
	}
	return n
}

// exchangeDemo exchanges the demo key and returns the response.
func exchangeDemo(t *testing.T, state string) map[string]any {
	t.Helper()
	return decode(t, cli(t, "", "token", "exchange", "--state", state,
		"--root-key-file", filepath.Join(state, "demo-root-key"), "--scope", "demo.read", "-o", "json"))
}

// A granted and a denied exchange are both in the trail, with what each
// was and nothing secret; the demo key's creation is there; the chain
// verifies.
func TestEndToEndAuditQuery(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	startDev(t, state)
	exch := exchangeDemo(t, state)
	jti, keyID, token := exch["jti"].(string), exch["key_id"].(string), exch["access_token"].(string)

	// The right key id with the wrong secret: it parses, so the trail
	// can say which key was tried and why it was refused.
	wrong, err := rootkey.GenerateFor(keyID)
	if err != nil {
		t.Fatal(err)
	}
	wrongFile := filepath.Join(t.TempDir(), "wrong-key")
	if err := os.WriteFile(wrongFile, []byte(wrong.Reveal()), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, err := run("", "token", "exchange", "--state", state, "--root-key-file", wrongFile); err == nil || !strings.Contains(errOut, "invalid root key") {
		t.Fatalf("exchange with a wrong secret: err=%v stderr=%s", err, errOut)
	}

	events := auditEvents(t, state, "--key-id", keyID)
	granted := findEvent(events, func(e map[string]any) bool { return e["kind"] == "exchange" && e["result"] == "ok" })
	if granted == nil || granted["jti"] != jti || granted["actor"] != devstate.WorkloadIdentity ||
		fmt.Sprint(granted["scopes"]) != "[demo.read]" || granted["peer"] == nil || granted["mac"] == nil {
		t.Fatalf("granted exchange event: %v\nall events for the key: %v", granted, events)
	}
	denied := findEvent(events, func(e map[string]any) bool { return e["kind"] == "exchange" && e["result"] != "ok" })
	if denied == nil || denied["result"] != "denied" || denied["reason"] != "bad_secret" || denied["jti"] != nil ||
		eventSeq(t, denied) <= eventSeq(t, granted) {
		t.Fatalf("denied exchange event: %v\nall events for the key: %v", denied, events)
	}

	created := auditEvents(t, state, "--kind", "key.create")
	if e := findEvent(created, func(e map[string]any) bool { return e["key_id"] == keyID }); e == nil ||
		e["actor"] != devstate.AdminIdentity || e["result"] != "ok" {
		t.Fatalf("key.create events lack the demo key's creation by the admin: %v", created)
	}

	// The text form: SEQ TIME KIND ACTOR KEY-ID RESULT REASON JTI.
	text := cli(t, "", "audit", "query", "--state", state, "--key-id", keyID, "--kind", "exchange")
	want := [][]string{
		{strconv.FormatUint(eventSeq(t, granted), 10), "exchange", devstate.WorkloadIdentity, keyID, "ok", "-", jti},
		{strconv.FormatUint(eventSeq(t, denied), 10), "exchange", devstate.WorkloadIdentity, keyID, "denied", "bad_secret", "-"},
	}
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) != len(want) {
		t.Fatalf("text query printed %d lines, want %d:\n%s", len(lines), len(want), text)
	}
	for i, line := range lines {
		f := strings.Fields(line)
		if len(f) != 8 || f[0] != want[i][0] || f[2] != want[i][1] || f[3] != want[i][2] || f[4] != want[i][3] ||
			f[5] != want[i][4] || f[6] != want[i][5] || f[7] != want[i][6] {
			t.Fatalf("text line %d = %q, want fields %v", i, line, want[i])
		}
		if _, err := time.Parse(time.RFC3339, f[1]); err != nil {
			t.Fatalf("text line %d time: %v", i, err)
		}
	}

	out := cli(t, "", "audit", "verify", "--state", state)
	if !strings.HasPrefix(out, "audit chain ok: ") {
		t.Fatalf("audit verify: %q", out)
	}

	all := cli(t, "", "audit", "query", "--state", state, "--limit", "0", "-o", "json")
	demo := strings.TrimSpace(readFile(t, filepath.Join(state, "demo-root-key")))
	for name, secret := range map[string]string{"demo root key": demo, "wrong root key": wrong.Reveal(), "token": token} {
		if strings.Contains(all, secret) || strings.Contains(all, secret[len(secret)-20:]) {
			t.Fatalf("the audit trail holds the %s", name)
		}
	}
}

// tail prints an exchange as it happens, with the filter applied, and
// Ctrl-C ends it with exit status 0.
func TestEndToEndAuditTail(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	startDev(t, state)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tail := exec.CommandContext(ctx, binPath, "audit", "tail", "--state", state, "--kind", "exchange", "-o", "json")
	stdout, err := tail.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	tail.Stderr = stderr
	if err := tail.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()

	// An event the filter leaves out, before the one it lets through.
	cli(t, "", "keys", "create", "--state", state, "--owner", "tail-team", "--scope", "demo.read",
		"--audience", "demo-api", "--root-key-out", filepath.Join(t.TempDir(), "k"))
	// The stream may not be subscribed yet when the first exchange is
	// written, so exchanges go on until one is printed.
	jtis := map[string]bool{}
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	var line string
wait:
	for {
		jtis[exchangeDemo(t, state)["jti"].(string)] = true
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("tail ended before printing an event; stderr: %s", stderr.String())
			}
			line = l
			break wait
		case <-time.After(500 * time.Millisecond):
		case <-deadline.C:
			t.Fatalf("no event from audit tail within 10s of the first exchange; stderr: %s", stderr.String())
		}
	}
	e := decode(t, line)
	got, _ := e["jti"].(string)
	if e["kind"] != "exchange" || e["result"] != "ok" || !jtis[got] || e["actor"] != devstate.WorkloadIdentity {
		t.Fatalf("tail printed %v; want the granted exchange of one of %v", e, jtis)
	}

	if err := tail.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := tail.Wait(); err != nil {
		t.Fatalf("audit tail after Ctrl-C: %v; stderr: %s", err, stderr.String())
	}
}

// An event altered in the store, by someone holding the store key but
// not the pepper, is named by audit verify, which exits non-zero.
func TestEndToEndAuditTamper(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	dev := startDev(t, state)
	jti := exchangeDemo(t, state)["jti"].(string)
	exchangeDemo(t, state) // so the altered event is not the last one
	target := findEvent(auditEvents(t, state, "--kind", "exchange"), func(e map[string]any) bool { return e["jti"] == jti })
	if target == nil {
		t.Fatalf("no exchange event with jti %s", jti)
	}
	seq := eventSeq(t, target)
	if out := cli(t, "", "audit", "verify", "--state", state); !strings.HasPrefix(out, "audit chain ok: ") {
		t.Fatalf("audit verify before the change: %q", out)
	}

	if err := dev.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := dev.cmd.Wait(); err != nil {
		t.Fatalf("dev after SIGTERM: %v\nstderr:\n%s", err, dev.stderr.String())
	}
	alterAuditResult(t, state, seq)
	startDev(t, state)

	out, errOut, err := run("", "audit", "verify", "--state", state)
	var exit *exec.ExitError
	want := fmt.Sprintf("audit chain broken at event %d: ", seq)
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(errOut, want) {
		t.Fatalf("audit verify after the change: %v\nstdout: %s\nstderr: %s\nwant exit status 1 and %q", err, out, errOut, want)
	}
	out, _, _ = run("", "audit", "verify", "--state", state, "-o", "json")
	if got := decode(t, out); got["ok"] != nil || got["broken_at"] != strconv.FormatUint(seq, 10) || got["reason"] == nil {
		t.Fatalf("audit verify -o json after the change: %v", got)
	}
}

// alterAuditResult edits event seq in the stopped server's store, as
// someone with the store's key could: it opens the Badger files directly,
// finds the batch holding the event, decrypts it from its batch file,
// turns the event's result from ok to no in place, without touching its
// MAC, and seals it back.
func alterAuditResult(t *testing.T, state string, seq uint64) {
	t.Helper()
	paths := devstate.Paths(state)
	storeKey := []byte(readFile(t, paths.StoreKeyFile))
	opts := badger.DefaultOptions(paths.DataDir).WithEncryptionKey(storeKey).
		WithIndexCacheSize(16 << 20).WithLogger(nil)
	db, err := badger.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	key, err := hkdf.Key(sha256.New, storeKey, nil, "latchkey audit batches v1", 32)
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	start, from, to := []byte(fmt.Sprintf(`{"seq":%d,`, seq)), []byte(`"result":"ok"`), []byte(`"result":"no"`)
	err = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("alog/b/")})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			ref, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			// A reference: marker 0, version 2, file number, offset,
			// sealed length, then the batch's term filter.
			if len(ref) < 22 || ref[0] != 0 || ref[1] != 2 {
				return fmt.Errorf("batch %x is not a batch file reference", it.Item().Key())
			}
			path := filepath.Join(paths.DataDir, "audit-batches", fmt.Sprintf("%016x.batches", binary.BigEndian.Uint64(ref[2:])))
			off, size := int64(binary.BigEndian.Uint64(ref[10:])), binary.BigEndian.Uint32(ref[18:])
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if off+int64(size) > int64(len(raw)) {
				return fmt.Errorf("batch %x lies beyond the end of %s", it.Item().Key(), path)
			}
			sealed := raw[off : off+int64(size)]
			nonce, aad := sealed[:12], it.Item().KeyCopy(nil)
			val, err := aead.Open(nil, nonce, sealed[12:], aad)
			if err != nil {
				return err
			}
			i := bytes.Index(val, start)
			if i < 0 {
				continue
			}
			end := len(val)
			if next := bytes.Index(val[i+1:], []byte(`{"seq":`)); next >= 0 {
				end = i + 1 + next
			}
			j := bytes.Index(val[i:end], from)
			if j < 0 {
				return fmt.Errorf("event %d has no %s", seq, from)
			}
			copy(val[i+j:], to)
			copy(raw[off:], aead.Seal(append([]byte(nil), nonce...), nonce, val, aad))
			return os.WriteFile(path, raw, 0o600)
		}
		return fmt.Errorf("event %d not found on disk", seq)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// stringList reads a JSON array of strings; anything else is empty.
func stringList(v any) []string {
	items, _ := v.([]any)
	out := make([]string, 0, len(items))
	for _, x := range items {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
