package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkeyhq/latchkey/cmd/latchkey/devstate"
	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
)

func newDevCmd() *cobra.Command {
	var stateDir, listen, httpListen string
	cmd := &cobra.Command{
		Use:   "dev [--state DIR] [--listen ADDR]",
		Short: "Run a local server with dev certificates and a demo root key",
		Long: `Run Latchkey for development. On first run it creates, under the state folder,
a dev CA, a server certificate for localhost, an admin and a workload client
certificate, a pepper, a store encryption key and a dev policy; it opens the embedded
store there, starts the server on 127.0.0.1, creates a demo root key bound to the
workload identity (written to <state>/demo-root-key) and prints the commands to
exchange and introspect. Run again, it reuses all of it. Not for production.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDev(cmd.Context(), stateDir, listen, httpListen, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&stateDir, "state", defaultStateDir, "state folder for certificates, keys and data")
	cmd.Flags().StringVar(&listen, "listen", defaultAddr, "gRPC listen address (loopback recommended)")
	cmd.Flags().StringVar(&httpListen, "http-listen", defaultHTTPAddr, "HTTPS listen address for the JWKS, discovery and health endpoints")
	return cmd
}

func runDev(ctx context.Context, stateDir, listen, httpListen string, out, logOut io.Writer) error {
	st, err := devstate.Ensure(stateDir, time.Now())
	if err != nil {
		return err
	}
	cfg := &serveConfig{Listen: listen, PepperFile: st.PepperFile, PolicyFile: st.PolicyFile}
	cfg.HTTP.Listen = httpListen
	cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.TLS.ClientCAFile = st.ServerCertFile, st.ServerKeyFile, st.CAFile
	cfg.Store.Dir, cfg.Store.EncryptionKeyFile = st.DataDir, st.StoreKeyFile
	if err := cfg.validate(); err != nil {
		return err
	}
	inst, err := start(cfg, logOut)
	if err != nil {
		return err
	}
	addr := inst.lis.Addr().String()
	if err := os.WriteFile(filepath.Join(stateDir, addrFile), []byte(addr+"\n"), 0o600); err != nil {
		inst.close()
		return fmt.Errorf("write %s: %w", addrFile, err)
	}
	if err := ensureDemoKey(ctx, stateDir, st.DemoRootKeyFile); err != nil {
		inst.close()
		return fmt.Errorf("create demo root key: %w", err)
	}
	printDevHelp(out, stateDir, addr, inst.httpLis.Addr().String())
	return inst.wait(ctx)
}

// ensureDemoKey creates the demo root key through the admin API, as an
// operator would, unless an earlier run already wrote it.
// demoKeyRate is the demo key's exchanges per second and burst.
const demoKeyRate = 100_000

func ensureDemoKey(ctx context.Context, stateDir, path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	cf := clientFlags{state: stateDir, who: "admin"}
	conn, err := cf.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := adminv1.NewKeyServiceClient(conn).CreateKey(ctx, &adminv1.CreateKeyRequest{
		Owner:           "demo-team",
		Description:     "demo key created by latchkey dev",
		Scopes:          []string{"demo.read", "demo.write"},
		Audiences:       []string{"demo-api"},
		BoundIdentities: []string{devstate.WorkloadIdentity},
		// Generous, so load tools and benchmarks can drive the demo key;
		// keys made with `keys create` get the policy default.
		RateLimit: &adminv1.RateLimit{PerSecond: demoKeyRate, Burst: demoKeyRate},
	})
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(resp.GetRootKey()+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func printDevHelp(w io.Writer, state, addr, httpAddr string) {
	s := state
	fmt.Fprintf(w, `latchkey dev: serving gRPC on %[2]s (state in %[1]s)
latchkey dev: serving HTTPS on %[3]s (JWKS: https://%[3]s/.well-known/jwks.json)

Exchange the demo root key for a token (as the workload identity):
  latchkey token exchange --state %[1]s --root-key-file %[1]s/demo-root-key --scope demo.read

Introspect it (as the admin identity, which holds the introspect role):
  latchkey token exchange --state %[1]s --root-key-file %[1]s/demo-root-key -o token > /tmp/latchkey-token
  latchkey token introspect --state %[1]s --token-file /tmp/latchkey-token

Manage keys:
  latchkey keys list --state %[1]s
  latchkey keys create --state %[1]s --owner my-team --scope demo.read --audience demo-api --root-key-out my-key

With grpcurl (reflection is on):
  printf '{"root_key":"%%s"}' "$(cat %[1]s/demo-root-key)" | grpcurl -cacert %[1]s/ca.pem \
    -cert %[1]s/workload.pem -key %[1]s/workload-key.pem -d @ %[2]s latchkey.v1.TokenService/ExchangeToken
  printf '{"token":"%%s"}' "$(cat /tmp/latchkey-token)" | grpcurl -cacert %[1]s/ca.pem \
    -cert %[1]s/admin.pem -key %[1]s/admin-key.pem -d @ %[2]s latchkey.v1.TokenService/IntrospectToken

Signing keys and the JWKS:
  latchkey signing list --state %[1]s
  curl --cacert %[1]s/ca.pem https://%[3]s/.well-known/jwks.json

The audit trail, metrics and the leak scanner:
  latchkey audit query --state %[1]s --since 1h
  latchkey audit verify --state %[1]s
  curl --cacert %[1]s/ca.pem https://%[3]s/metrics
  latchkey scan .

Stop with Ctrl-C.
`, s, addr, httpAddr)
}
