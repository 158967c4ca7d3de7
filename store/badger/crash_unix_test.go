//go:build unix

package badger

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

const (
	crashDirEnv = "LATCHKEY_BADGER_CRASH_DIR"
	crashKeyEnv = "LATCHKEY_BADGER_CRASH_KEY"
	crashRuns   = 5
	crashMaxJTI = 100000
)

// TestHelperProcess is the child of TestCrashKeepsAckedRevocations: it
// revokes jti-0, jti-1, ... both ways, and prints "ack <jti> <rev>" only
// after RevokeToken and AppendRevocation have returned, until the parent
// kills it.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("runs only as the child of TestCrashKeepsAckedRevocations")
	}
	key, err := hex.DecodeString(os.Getenv(crashKeyEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad key:", err)
		os.Exit(2)
	}
	s, err := Open(Options{Dir: dir, EncryptionKey: key})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	until := time.Now().Add(time.Hour)
	for i := range crashMaxJTI {
		jti := fmt.Sprintf("jti-%d", i)
		r, err := s.AppendRevocation(context.Background(), store.Revocation{
			Kind: store.RevokeJTI, Value: jti, At: time.Now(), ExpiresAt: until})
		if err != nil {
			fmt.Fprintln(os.Stderr, "append:", err)
			os.Exit(2)
		}
		// os.Stdout is unbuffered: the line leaves the process now.
		if _, err := fmt.Fprintf(os.Stdout, "ack %s %d\n", jti, r.Rev); err != nil {
			os.Exit(2)
		}
	}
	os.Exit(3) // never reached when the parent kills on time
}

// Every revocation acknowledged before a SIGKILL is present after reopening,
// in the key-value form and in the log under the revision it was acked
// with (SECURITY-CASES D1, I5); the kill leaves Badger's LOCK file behind
// and the reopen succeeds without it being removed (D4).
func TestCrashKeepsAckedRevocations(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("already the child")
	}
	for run := range crashRuns {
		t.Run(fmt.Sprint("run ", run), func(t *testing.T) {
			dir, key := t.TempDir(), newKey(t)
			killAfter := 50 + rand.IntN(151)
			acked := crashChild(t, dir, key, killAfter)

			if _, err := os.Stat(filepath.Join(dir, "LOCK")); err != nil {
				t.Fatalf("LOCK file after SIGKILL: %v", err)
			}
			s := mustOpen(t, Options{Dir: dir, EncryptionKey: key})
			logged, last, err := s.LoadRevocations(context.Background())
			if err != nil {
				t.Fatalf("LoadRevocations after SIGKILL: %v", err)
			}
			byRev := make(map[uint64]string, len(logged))
			for _, r := range logged {
				byRev[r.Rev] = r.Value
			}
			for _, a := range acked {
				if got := byRev[a.rev]; got != a.jti {
					t.Fatalf("acknowledged revision %d (%s, of %d acks) holds %q after SIGKILL",
						a.rev, a.jti, len(acked), got)
				}
				if a.rev > last {
					t.Fatalf("last revision %d is below the acknowledged %d", last, a.rev)
				}
			}
			// The counter must not go back either: the next revision is new.
			r, err := s.AppendRevocation(context.Background(), store.Revocation{
				Kind: store.RevokeJTI, Value: "after-crash", ExpiresAt: time.Now().Add(time.Hour)})
			if err != nil || r.Rev <= last {
				t.Fatalf("AppendRevocation after SIGKILL = rev %d, %v; want above %d", r.Rev, err, last)
			}
		})
	}
}

// ack is one acknowledged revocation: the jti and its log revision.
type ack struct {
	jti string
	rev uint64
}

// crashChild runs the helper, SIGKILLs it once it has acknowledged
// killAfter revocations, and returns every acknowledgement it sent,
// including any still in the pipe when it died.
func crashChild(t *testing.T, dir string, key []byte, killAfter int) []ack {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashKeyEnv+"="+hex.EncodeToString(key))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A child that stops acknowledging must not hang the test.
	watchdog := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
	defer watchdog.Stop()

	var acked []ack
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var a ack
		if _, err := fmt.Sscanf(sc.Text(), "ack %s %d", &a.jti, &a.rev); err != nil {
			continue
		}
		acked = append(acked, a)
		if len(acked) == killAfter {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatalf("SIGKILL: %v", err)
			}
		}
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("child exit = %v, want killed; stderr:\n%s", err, stderr.String())
	}
	ws, ok := exit.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL; stderr:\n%s", err, stderr.String())
	}
	if len(acked) < killAfter {
		t.Fatalf("child acknowledged %d revocations before dying, want %d; stderr:\n%s",
			len(acked), killAfter, stderr.String())
	}
	return acked
}
