package examples

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/latchkeyhq/latchkey/examples/internal/demo"
)

// bins holds the latchkey binary and both examples, built once.
var bins struct{ latchkey, resourceServer, workload string }

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "latchkey-examples")
	if err != nil {
		panic(err)
	}
	bins.latchkey = filepath.Join(dir, "latchkey")
	bins.resourceServer = filepath.Join(dir, "resourceserver")
	bins.workload = filepath.Join(dir, "workload")
	for out, pkg := range map[string]string{
		bins.latchkey:       "github.com/latchkeyhq/latchkey/cmd/latchkey",
		bins.resourceServer: "github.com/latchkeyhq/latchkey/examples/resourceserver",
		bins.workload:       "github.com/latchkeyhq/latchkey/examples/workload",
	} {
		build := exec.Command("go", "build", "-o", out, pkg)
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			os.RemoveAll(dir)
			panic("build " + pkg + ": " + err.Error())
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startProcess runs bin and returns the first stdout line for which ready
// returns true, failing the test if none comes within 30 s.
func startProcess(t *testing.T, ready func(string) bool, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			if !sent && ready(sc.Text()) {
				found <- sc.Text()
				sent = true
			}
		}
	}()
	select {
	case line := <-found:
		return line
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not become ready\nstderr:\n%s", filepath.Base(bin), stderr.String())
		return ""
	}
}

// env is a running `latchkey dev` and resource server in a fresh state
// folder.
type env struct {
	state  demo.State
	rsAddr string
}

func startEnv(t *testing.T) env {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "state")
	startProcess(t, func(l string) bool { return strings.HasPrefix(l, "Stop with Ctrl-C") },
		bins.latchkey, "dev", "--state", dir, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0")
	const prefix = "resource server listening on "
	line := startProcess(t, func(l string) bool { return strings.HasPrefix(l, prefix) },
		bins.resourceServer, "--state", dir, "--listen", "127.0.0.1:0")
	addr := strings.TrimPrefix(line, prefix)
	if !strings.HasPrefix(addr, "127.0.0.1:") || strings.HasSuffix(addr, ":0") {
		t.Fatalf("resource server printed %q, want a bound loopback address", line)
	}
	t.Logf("resource server bound to %s", addr)
	return env{state: demo.State{Dir: dir}, rsAddr: addr}
}

func callCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestExamplesAgainstLatchkeyDev(t *testing.T) {
	e := startEnv(t)

	t.Run("workload program reads", func(t *testing.T) {
		out, err := exec.Command(bins.workload, "--state", e.state.Dir, "--rs-addr", e.rsAddr,
			"--count", "3", "--interval", "20ms").CombinedOutput()
		if err != nil {
			t.Fatalf("workload: %v\n%s", err, out)
		}
		if got, want := string(out), "read ok\nread ok\nread ok\n"; got != want {
			t.Fatalf("workload printed %q, want %q", got, want)
		}
	})

	t.Run("scopes decide which methods a token may call", func(t *testing.T) {
		cases := []struct {
			name   string
			scopes []string
			call   func(context.Context, grpc.ClientConnInterface) error
			want   codes.Code
		}{
			{"read with demo.read", []string{demo.ReadScope}, demo.Read, codes.OK},
			{"write without demo.write", []string{demo.ReadScope}, demo.Write, codes.PermissionDenied},
			{"read without demo.read", []string{demo.WriteScope}, demo.Read, codes.PermissionDenied},
			{"write with demo.write", []string{demo.WriteScope}, demo.Write, codes.OK},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				c, tlsCfg, err := demo.BootstrapWorkload(callCtx(t, 15*time.Second), e.state, tc.scopes)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				conn, err := demo.DialResourceServer(e.rsAddr, tlsCfg, c)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				if got := status.Code(tc.call(callCtx(t, 5*time.Second), conn)); got != tc.want {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			})
		}
	})

	t.Run("a call without a token is refused", func(t *testing.T) {
		tlsCfg, err := e.state.ClientTLS("workload")
		if err != nil {
			t.Fatal(err)
		}
		conn, err := grpc.NewClient(e.rsAddr, grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if got := status.Code(demo.Read(callCtx(t, 5*time.Second), conn)); got != codes.Unauthenticated {
			t.Fatalf("got %v, want Unauthenticated", got)
		}
	})
}

// Revoking the root key must reach the resource server's replica fast: the
// token the workload already holds is refused within 100 ms of the revoke
// command returning.
func TestRevokedKeyIsRefusedWithin100ms(t *testing.T) {
	e := startEnv(t)
	c, tlsCfg, err := demo.BootstrapWorkload(callCtx(t, 15*time.Second), e.state, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	workload, err := demo.DialResourceServer(e.rsAddr, tlsCfg, c)
	if err != nil {
		t.Fatal(err)
	}
	defer workload.Close()
	// Without the retrying interceptor, so that each refusal seen below is
	// the resource server's answer to the token already held, not the
	// outcome of a fresh exchange.
	direct, err := grpc.NewClient(e.rsAddr,
		grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)),
		grpc.WithPerRPCCredentials(c.Credentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	for _, conn := range []*grpc.ClientConn{workload, direct} {
		if err := demo.Read(callCtx(t, 5*time.Second), conn); err != nil {
			t.Fatalf("read before revoke: %v", err)
		}
	}

	key, err := e.state.DemoRootKey()
	if err != nil {
		t.Fatal(err)
	}
	id := key[3:15]
	out, err := exec.Command(bins.latchkey, "keys", "revoke", id, "--reason", "compromised", "--state", e.state.Dir).CombinedOutput()
	if err != nil {
		t.Fatalf("keys revoke: %v\n%s", err, out)
	}
	revoked := time.Now()

	const within, every = 100 * time.Millisecond, 5 * time.Millisecond
	var last codes.Code
	for attempt := 0; time.Since(revoked) <= within && attempt < int(within/every)+1; attempt++ {
		last = status.Code(demo.Read(callCtx(t, within), direct))
		if last == codes.Unauthenticated {
			break
		}
		time.Sleep(every)
	}
	if last != codes.Unauthenticated {
		t.Fatalf("%v after revoke the resource server still answers %v, want Unauthenticated", time.Since(revoked), last)
	}
	t.Logf("refused %v after the revoke command returned", time.Since(revoked))

	// The workload's own connection retries once with a fresh exchange,
	// which the revoked key can no longer make.
	if got := status.Code(demo.Read(callCtx(t, 5*time.Second), workload)); got != codes.Unauthenticated {
		t.Fatalf("workload read after revoke: got %v, want Unauthenticated", got)
	}
}
