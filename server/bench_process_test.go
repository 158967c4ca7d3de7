package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/latchkeyhq/latchkey/internal/gctune"
)

// The server of BenchmarkExchangeProcess runs in a child process (this
// test binary, re-run), so the load's goroutines do not share its two
// processors: a remote client's load, on loopback.
const (
	benchServeEnv = "LATCHKEY_BENCH_SERVE"
	benchAuditEnv = "LATCHKEY_BENCH_AUDIT"
	// benchProfileEnv, when set, is a path prefix for the server
	// process's CPU profiles.
	benchProfileEnv = "LATCHKEY_BENCH_CPUPROFILE"
)

// TestBenchServerProcess is the child: it serves until its stdin closes.
// It does nothing in a normal test run.
func TestBenchServerProcess(t *testing.T) {
	dir := os.Getenv(benchServeEnv)
	if dir == "" {
		t.Skip("only as the server of BenchmarkExchangeProcess")
	}
	// The collector's setting of a production server (latchkey serve).
	stopTuning, _ := gctune.Start(gctune.DefaultPercent)
	defer stopTuning()
	e := newBenchEnvAudit(t, filepath.Join(dir, "data"), nil, os.Getenv(benchAuditEnv) == "on")
	files := map[string][]byte{
		"ca.pem":           e.ca.CertPEM(),
		"admin.pem":        e.leaves[idAdmin].CertPEM,
		"admin-key.pem":    e.leaves[idAdmin].KeyPEM,
		"workload.pem":     e.leaves[idWorkloadA].CertPEM,
		"workload-key.pem": e.leaves[idWorkloadA].KeyPEM,
		"rs.pem":           e.leaves[idIntrospect].CertPEM,
		"rs-key.pem":       e.leaves[idIntrospect].KeyPEM,
	}
	serveChild(t, dir, e.addr, files)
	e.close()
}

// serveChild is the child's side of startChild: it writes files (the
// certificates its parent dials with) into dir, announces addr, and
// returns when the parent closes its stdin.
func serveChild(t *testing.T, dir, addr string, files map[string][]byte) {
	t.Helper()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Printf("addr %s\n", addr)
	buf := make([]byte, 1)
	os.Stdin.Read(buf) // returns when the parent closes the pipe
}

type childServer struct {
	addr string
	dir  string
	cmd  *exec.Cmd
	stop func()
}

// cpu is the CPU time (user and system) the server process has used so
// far, from its own accounting in /proc.
func (c *childServer) cpu(b *testing.B) time.Duration {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		b.Skipf("no /proc accounting: %v", err)
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	// Linux reports clock ticks of 1/100 s (USER_HZ) on every platform Go runs on.
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func startChildServer(b *testing.B, audit string) *childServer {
	b.Helper()
	return startChild(b, "TestBenchServerProcess", "audit-"+audit, benchServeEnv, benchAuditEnv+"="+audit)
}

// startChild runs test (this binary, re-run) as a server process that
// serves until its stdin closes. The child is given its directory in
// dirEnv, and env besides; it prints "addr HOST:PORT" once it listens, and
// writes its certificates into the directory. profile names the child's
// CPU profile when benchProfileEnv asks for profiles.
func startChild(b *testing.B, test, profile, dirEnv string, env ...string) *childServer {
	b.Helper()
	dir := b.TempDir()
	args := []string{"-test.run=^" + test + "$", "-test.count=1"}
	if prof := os.Getenv(benchProfileEnv); prof != "" {
		args = append(args, "-test.cpuprofile="+prof+"-"+profile+".prof")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), dirEnv+"="+dir), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	c := &childServer{dir: dir, cmd: cmd, stop: func() { stdin.Close(); cmd.Wait() }}
	lines := bufio.NewScanner(stdout)
	deadline := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	for lines.Scan() {
		if a, ok := strings.CutPrefix(lines.Text(), "addr "); ok {
			c.addr = a
			break
		}
	}
	if c.addr == "" {
		c.stop()
		b.Fatal("the server process did not start")
	}
	go func() {
		for lines.Scan() {
		}
	}()
	return c
}

func (c *childServer) dial(b *testing.B, who string) *grpc.ClientConn {
	b.Helper()
	caPEM, err := os.ReadFile(filepath.Join(c.dir, "ca.pem"))
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := tls.LoadX509KeyPair(filepath.Join(c.dir, who+".pem"), filepath.Join(c.dir, who+"-key.pem"))
	if err != nil {
		b.Fatal(err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, Certificates: []tls.Certificate{cert}}
	conn, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return conn
}

// BenchmarkExchangeProcess is BenchmarkExchange with the server in its own
// process.
func BenchmarkExchangeProcess(b *testing.B) {
	b.Run("health", func(b *testing.B) {
		srv := startChildServer(b, "on")
		defer srv.stop()
		var clients []healthpb.HealthClient
		for range exchangeConns {
			clients = append(clients, healthpb.NewHealthClient(srv.dial(b, "workload")))
		}
		var next atomic.Uint64
		before := srv.cpu(b)
		defer func() {
			b.ReportMetric(float64((srv.cpu(b)-before).Microseconds())/float64(b.N), "server_cpu_us/op")
		}()
		parallelCallsAt(b, exchangeParallelism, func(ctx context.Context) error {
			_, err := clients[next.Add(1)%exchangeConns].Check(ctx, &healthpb.HealthCheckRequest{})
			return err
		})
	})
	for _, audit := range []string{"off", "on"} {
		b.Run("audit="+audit, func(b *testing.B) {
			t := newExchangeTarget(b, audit)
			// Measured once warm, as BenchmarkAuditPaired and the bare
			// server are: a fresh server's first second (its log's first
			// segment, the store's first batches, the collector finding
			// its pace) is not what an exchange costs it.
			if err := callsFrom(floorWarmup, exchangeParallelism*2, t.call); err != nil {
				b.Fatal(err)
			}
			before := t.srv.cpu(b)
			defer func() {
				b.ReportMetric(float64((t.srv.cpu(b)-before).Microseconds())/float64(b.N), "server_cpu_us/op")
			}()
			parallelCallsAt(b, exchangeParallelism, t.call)
		})
	}
}
