package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
)

const (
	// diskFullSize is the tmpfs the state folder lives on.
	diskFullSize = "64m"
	// diskFullSlack is what the filler leaves free, so that the first
	// revocations may still fit and the store must notice when they stop
	// fitting.
	diskFullSlack = 8 << 10
	// diskFullSpares bounds the revocations tried on the full filesystem.
	diskFullSpares = 400
)

// A full disk makes revocations fail with Unavailable instead of being
// acknowledged or crashing the server; introspection keeps answering from
// memory; freeing space lets revocations succeed again without a restart;
// and nothing acknowledged is lost across a SIGKILL and restart
// (SECURITY-CASES D6).
func TestDiskFull(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs a size-limited tmpfs, which only Linux provides")
	}
	if os.Geteuid() != 0 {
		t.Skip("mounting a size-limited tmpfs needs root")
	}
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size="+diskFullSize+",mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs on %s: %v", mnt, err)
	}
	// Registered before any server starts, so it runs after each one is
	// killed and waited for.
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	state := filepath.Join(mnt, "state")
	dev := startDev(t, state)
	exited := watchExit(t, dev)
	rootKey := strings.TrimSpace(readFile(t, filepath.Join(state, "demo-root-key")))
	workload, admin := dialAs(t, state, "workload"), dialAs(t, state, "admin")
	defer workload.Close()
	defer admin.Close()
	tokens := latchkeyv1.NewTokenServiceClient(workload)
	keys := adminv1.NewKeyServiceClient(admin)
	// Introspection needs the admin identity's introspect role.
	introspector := latchkeyv1.NewTokenServiceClient(admin)

	minted := mint(t, tokens, rootKey, 20+diskFullSpares)
	before, spares := minted[:20], minted[20:]
	for i, m := range before[:10] {
		if err := revokeBy(tokens, keys, m, i); err != nil {
			t.Fatalf("revocation with space to spare: %v", err)
		}
	}
	checkAll(t, state, minted, "before the disk filled")

	filler := fillDisk(t, mnt, diskFullSlack)
	t.Logf("filesystem full: %d bytes free", freeBytes(t, mnt))

	var failed *mintedToken
	n := 0
	for i, m := range spares {
		err := revokeBy(tokens, keys, m, i)
		if err == nil {
			n++
			continue
		}
		if !serverAlive(introspector, before[15], exited) {
			t.Errorf("the server died on a full disk after %d acknowledged revocations (the revocation got %v); its crash report begins:\n%s",
				n, err, crashReport(dev.stderr.String(), 40))
			// Even then, what was acknowledged must survive.
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			<-exited
			dev = startDev(t, state)
			watchExit(t, dev)
			checkAll(t, state, minted, "after the crash on a full disk and a restart with space freed")
			return
		}
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("revocation on a full disk: %v, want code Unavailable", err)
		}
		failed = m
		spares = spares[i+1:]
		break
	}
	if failed == nil {
		t.Fatalf("%d revocations were acknowledged on a full filesystem and none failed", n)
	}
	t.Logf("%d revocations acknowledged on the full filesystem before one failed", n)
	// Introspection answers from memory: acknowledged revocations are in
	// force, the failed one is not.
	checkAll(t, state, minted, "with the disk full")

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for i, m := range []*mintedToken{failed, spares[0]} {
		if err := revokeBy(tokens, keys, m, i); err != nil {
			t.Fatalf("revocation after freeing space, without a restart: %v", err)
		}
	}
	checkAll(t, state, minted, "after freeing space")

	if err := dev.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	dev = startDev(t, state)
	watchExit(t, dev)
	checkAll(t, state, minted, "after SIGKILL and restart")
}

// watchExit reaps dev when it exits, for whatever reason, and closes the
// returned channel then. Its cleanup kills dev first, so the tmpfs is no
// longer in use when it is unmounted.
func watchExit(t *testing.T, dev *devServer) <-chan struct{} {
	t.Helper()
	exited := make(chan struct{})
	go func() {
		dev.cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		dev.cmd.Process.Kill()
		<-exited
	})
	return exited
}

// serverAlive tells a clean failure from a dead server: the process has
// not exited and still answers an introspection.
func serverAlive(client latchkeyv1.TokenServiceClient, probe *mintedToken, exited <-chan struct{}) bool {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	_, err := client.IntrospectToken(ctx, &latchkeyv1.IntrospectTokenRequest{Token: probe.token})
	select {
	case <-exited:
		return false
	default:
		return err == nil
	}
}

func mint(t *testing.T, client latchkeyv1.TokenServiceClient, rootKey string, n int) []*mintedToken {
	t.Helper()
	out := make([]*mintedToken, 0, n)
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		resp, err := client.ExchangeToken(ctx, &latchkeyv1.ExchangeTokenRequest{RootKey: rootKey})
		cancel()
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		out = append(out, &mintedToken{token: resp.GetAccessToken(), jti: resp.GetJti(), exp: resp.GetExpiresAt().AsTime()})
	}
	return out
}

// revokeBy revokes m by its holder when i is even and by an admin when i
// is odd, and marks it acknowledged when the call succeeds.
func revokeBy(tokens latchkeyv1.TokenServiceClient, keys adminv1.KeyServiceClient, m *mintedToken, i int) error {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	var err error
	via := "RevokeToken by its holder"
	if i%2 == 0 {
		_, err = tokens.RevokeToken(ctx, &latchkeyv1.RevokeTokenRequest{Token: m.token})
	} else {
		via = "admin RevokeTokens by jti"
		_, err = keys.RevokeTokens(ctx, &adminv1.RevokeTokensRequest{
			Target: &adminv1.RevokeTokensRequest_Jti{Jti: m.jti}, Reason: "disk full test"})
	}
	if err == nil {
		m.set(acked, via)
	}
	return err
}

func checkAll(t *testing.T, state string, tokens []*mintedToken, when string) {
	t.Helper()
	violations := checkTokens(t, state, tokens)
	for i, v := range violations {
		if i == 10 {
			t.Errorf("%s: ... and %d more", when, len(violations)-i)
			break
		}
		t.Errorf("%s: %s", when, v)
	}
	if len(violations) > 0 {
		t.FailNow()
	}
}

// fillDisk writes a file under dir until the filesystem is full, then
// gives back slack bytes, and returns the file's path.
func fillDisk(t *testing.T, dir string, slack int64) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 1<<20)
	var size int64
	for {
		n, err := f.Write(chunk)
		size += int64(n)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatalf("fill %s: %v", path, err)
		}
	}
	if err := f.Truncate(max(size-slack, 0)); err != nil {
		t.Fatal(err)
	}
	return path
}

func freeBytes(t *testing.T, dir string) uint64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return st.Bavail * uint64(st.Bsize)
}

// crashReport returns the first lines of the Go runtime's report in a
// dead server's log: the fault and the goroutine that took it. The log's
// JSON lines before it carry no secret.
func crashReport(log string, lines int) string {
	start := len(log)
	for _, marker := range []string{"unexpected fault address", "fatal error:", "panic:", "SIGBUS", "SIGSEGV"} {
		if i := strings.Index(log, marker); i >= 0 && i < start {
			start = i
		}
	}
	if start == len(log) {
		start = 0
	}
	all := strings.Split(log[start:], "\n")
	return strings.Join(all[:min(len(all), lines)], "\n")
}
