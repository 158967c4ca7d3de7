package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/latchkeyhq/latchkey/cmd/latchkey/devstate"
	"github.com/latchkeyhq/latchkey/pki"
)

const (
	startTimeout = 90 * time.Second
	stopTimeout  = 30 * time.Second
)

// benchPolicy is the dev policy's roles and scopes with every server-wide
// limit raised out of the way: the runs measure load, not abuse control.
// Tokens live an hour so a pool minted at the start outlasts every run.
const benchPolicy = `issuer: https://localhost:7443
tokens:
  default_ttl: 1h
  max_ttl: 1h
  leeway: 30s
signing:
  algorithm: %s
  publish_lead: 1s
roles:
  admin: ["spiffe://dev.latchkey.local/admin"]
  introspect: ["spiffe://dev.latchkey.local/admin"]
  exchange: ["spiffe://dev.latchkey.local/workload/*"]
scopes:
  - name: demo.read
    description: Read demo resources
  - name: demo.write
    description: Write demo resources
keys:
  require_binding: false
  max_lifetime: 0s
limits:
  global: {per_second: 1000000, burst: 1000000}
  per_caller: {per_second: 1000000, burst: 1000000}
  failed_auth: {per_second: 1000000, burst: 1000000}
`

// serveConfig is what `latchkey serve --config` reads, as production runs
// it: the audit trail on, the store synced (serve has no other mode), and
// logging at warn so that log formatting is not what is measured.
const serveConfig = `listen: %q
tls:
  cert_file: %q
  key_file: %q
  client_ca_file: %q
http:
  listen: %q
store:
  dir: %q
  encryption_key_file: %q
pepper_file: %q
policy_file: %q
log:
  level: warn
audit:
  enabled: true
`

// pprofConfig is appended when the run takes server profiles.
const pprofConfig = `debug:
  pprof_listen: %q
`

// serverProc is one `latchkey serve` child process.
type serverProc struct {
	cmd     *exec.Cmd
	addr    string
	logPath string
	// pprofAddr serves the server's profiling endpoints, when enabled.
	pprofAddr string
	exited    chan struct{}
	waitErr   error
}

// startServer writes the policy and config for dataDir and alg into dir,
// starts bin on free loopback ports and waits until it completes a TLS
// handshake with the workload certificate.
func startServer(ctx context.Context, bin string, st devstate.State, dir, dataDir, alg string, profile bool) (*serverProc, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	polPath := filepath.Join(dir, "policy-"+alg+".yaml")
	if err := os.WriteFile(polPath, fmt.Appendf(nil, benchPolicy, alg), 0o600); err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	cfg := fmt.Sprintf(serveConfig, addr, st.ServerCertFile, st.ServerKeyFile, st.CAFile,
		fmt.Sprintf("127.0.0.1:%d", ports[1]), dataDir, st.StoreKeyFile, st.PepperFile, polPath)
	pprofAddr := ""
	if profile {
		pprofAddr = fmt.Sprintf("127.0.0.1:%d", ports[2])
		cfg += fmt.Sprintf(pprofConfig, pprofAddr)
	}
	cfgPath := filepath.Join(dir, "serve-"+filepath.Base(dataDir)+".yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "server-"+filepath.Base(dataDir)+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &serverProc{cmd: cmd, addr: addr, pprofAddr: pprofAddr, logPath: logPath, exited: make(chan struct{})}
	go func() { p.waitErr = cmd.Wait(); close(p.exited) }()
	if err := p.waitReady(ctx, st); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

func (p *serverProc) pid() int { return p.cmd.Process.Pid }

func (p *serverProc) waitReady(ctx context.Context, st devstate.State) error {
	cert, err := tls.LoadX509KeyPair(st.WorkloadCertFile, st.WorkloadKeyFile)
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(st.CAFile)
	if err != nil {
		return err
	}
	pool, err := pki.LoadPool(caPEM)
	if err != nil {
		return err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}}
	deadline := time.Now().Add(startTimeout)
	for {
		d := tls.Dialer{Config: cfg, NetDialer: &net.Dialer{Timeout: time.Second}}
		c, err := d.DialContext(ctx, "tcp", p.addr)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("latchkey serve exited before accepting connections (%v): %s", p.waitErr, p.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("latchkey serve did not accept TLS on %s within %s: %v: %s", p.addr, startTimeout, err, p.logTail())
		}
	}
}

// stop sends SIGTERM and waits for a graceful exit, killing the process if
// it takes longer than stopTimeout.
func (p *serverProc) stop() error {
	select {
	case <-p.exited:
		return p.exitError()
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.exited:
		return p.exitError()
	case <-time.After(stopTimeout):
		p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("latchkey serve did not stop within %s of SIGTERM; killed", stopTimeout)
	}
}

func (p *serverProc) exitError() error {
	if p.waitErr != nil {
		return fmt.Errorf("latchkey serve: %w: %s", p.waitErr, p.logTail())
	}
	return nil
}

// logTail is the end of the server's own output, for error messages.
func (p *serverProc) logTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	b = bytes.TrimSpace(b)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// freePorts asks the kernel for n unused loopback ports. Another process
// could take one before the server binds it; the server then fails to
// start and says so.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var lis []net.Listener
	defer func() {
		for _, l := range lis {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lis = append(lis, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
