// Command latchkey is the Latchkey server and its command-line client.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/status"
)

func main() {
	// Signals are caught from the start, so a SIGTERM that arrives while the
	// server is still starting stops it cleanly too. After the first signal
	// the default action is restored: a second Ctrl-C kills at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "latchkey:", describe(err))
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "latchkey",
		Short: "Exchange long-lived root keys for short-lived, scoped, signed tokens",
		Long: `Latchkey is a token-exchange service for machine identities. A workload presents
its root key over mutually authenticated TLS gRPC and receives a short-lived signed
JWT carrying only the scopes it asked for and was allowed. Resource servers verify
tokens by introspection, which also checks the revocation list.

Start here:  latchkey dev          (a local server with dev certificates)
Production:  latchkey serve --config FILE`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(), newDevCmd(), newKeysCmd(), newTokenCmd(), newSigningCmd(), newPolicyCmd())
	root.AddCommand(newScanCmd())
	root.AddCommand(newAuditCmd())
	return root
}

func newServeCmd() *cobra.Command {
	var configPath, httpListen string
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run the server from a config file",
		Long: `Run the Latchkey gRPC server. Every secret (TLS key, pepper, store encryption key)
is a file named in the config; the server refuses to start, naming the file, when
one is missing or unreadable. SIGINT or SIGTERM stops it gracefully.

Example config:

` + exampleConfig,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configPath == "" {
				return fmt.Errorf("--config is required (see latchkey serve --help for an example)")
			}
			cfg, err := loadServeConfig(configPath)
			if err != nil {
				return err
			}
			if httpListen != "" {
				cfg.HTTP.Listen = httpListen
			}
			inst, err := start(cfg, os.Stderr)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "latchkey: serving gRPC on %s, HTTPS on %s\n", inst.lis.Addr(), inst.httpLis.Addr())
			return inst.wait(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "path of the YAML config file (required)")
	cmd.Flags().StringVar(&httpListen, "http-listen", "", "HTTPS listen address (overrides http.listen in the config)")
	return cmd
}

// describe prints a gRPC error as "Code: message", which reads better than
// the library's "rpc error: code = ... desc = ...".
func describe(err error) string {
	if st, ok := status.FromError(err); ok {
		return st.Code().String() + ": " + st.Message()
	}
	return err.Error()
}
