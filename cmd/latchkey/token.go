package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
)

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Exchange and introspect tokens",
	}
	cmd.AddCommand(newTokenExchangeCmd(), newTokenIntrospectCmd(), newTokenRevokeCmd(), newTokenWatchCmd())
	return cmd
}

func newTokenExchangeCmd() *cobra.Command {
	var (
		cf      clientFlags
		keyFile string
		req     latchkeyv1.ExchangeTokenRequest
		ttl     time.Duration
	)
	cmd := &cobra.Command{
		Use:   "exchange --root-key-file FILE [--scope S] [--audience A] [--ttl D]",
		Short: "Exchange a root key for a short-lived token (exchange role)",
		Long: `Exchange a root key for a short-lived signed JWT. The root key is read from
--root-key-file (or - for stdin) or the LATCHKEY_ROOT_KEY variable, never from the
command line. --output token prints the bare token, for scripts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(cf.output, "text", "json", "token"); err != nil {
				return err
			}
			key, err := readSecret(keyFile, "LATCHKEY_ROOT_KEY", "root key", cmd.InOrStdin())
			if err != nil {
				return err
			}
			req.RootKey = key
			if ttl != 0 {
				req.Ttl = durationpb.New(ttl)
			}
			conn, err := cf.dial()
			if err != nil {
				return err
			}
			defer conn.Close()
			resp, err := latchkeyv1.NewTokenServiceClient(conn).ExchangeToken(cmd.Context(), &req)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch cf.output {
			case "json":
				return printJSON(out, resp)
			case "token":
				_, err := fmt.Fprintln(out, resp.GetAccessToken())
				return err
			}
			fmt.Fprintf(out, "key id:     %s\n", resp.GetKeyId())
			fmt.Fprintf(out, "jti:        %s\n", resp.GetJti())
			fmt.Fprintf(out, "scopes:     %s\n", strings.Join(resp.GetScopes(), " "))
			fmt.Fprintf(out, "audiences:  %s\n", strings.Join(resp.GetAudiences(), " "))
			fmt.Fprintf(out, "expires at: %s\n", resp.GetExpiresAt().AsTime().Format(time.RFC3339))
			fmt.Fprintf(out, "token:\n%s\n", resp.GetAccessToken())
			return nil
		},
	}
	cf.register(cmd, "workload", "text, json, token")
	fl := cmd.Flags()
	fl.StringVar(&keyFile, "root-key-file", "", "file holding the root key (- for stdin)")
	fl.StringSliceVar(&req.Scopes, "scope", nil, "scope wanted (repeatable; default: all the key allows)")
	fl.StringSliceVar(&req.Audiences, "audience", nil, "audience wanted (repeatable; default: all the key allows)")
	fl.DurationVar(&ttl, "ttl", 0, "token lifetime wanted (default: the policy default)")
	return cmd
}

func newTokenIntrospectCmd() *cobra.Command {
	var (
		cf        clientFlags
		tokenFile string
	)
	cmd := &cobra.Command{
		Use:   "introspect [--token-file FILE]",
		Short: "Check whether a token is active (introspect role)",
		Long: `Introspect a token (RFC 7662). The token is read from --token-file (- or unset
for stdin, unless LATCHKEY_TOKEN is set). Prints active=false, and nothing else, for
any token that is not valid.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(cf.output, "text", "json"); err != nil {
				return err
			}
			tok, err := readToken(cmd, tokenFile)
			if err != nil {
				return err
			}
			return clientRun(cmd, &cf, latchkeyv1.NewTokenServiceClient, func(ctx context.Context, c latchkeyv1.TokenServiceClient) (*latchkeyv1.IntrospectTokenResponse, error) {
				return c.IntrospectToken(ctx, &latchkeyv1.IntrospectTokenRequest{Token: tok})
			}, printIntrospection)
		},
	}
	cf.register(cmd, "admin", "text, json")
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "file holding the token (- for stdin)")
	return cmd
}

// readToken takes a token from --token-file, else LATCHKEY_TOKEN, else stdin.
func readToken(cmd *cobra.Command, tokenFile string) (string, error) {
	file := tokenFile
	if file == "" && !envSet("LATCHKEY_TOKEN") {
		file = "-"
	}
	return readSecret(file, "LATCHKEY_TOKEN", "token", cmd.InOrStdin())
}

func printIntrospection(out io.Writer, resp *latchkeyv1.IntrospectTokenResponse) {
	fmt.Fprintf(out, "active:     %t\n", resp.GetActive())
	if !resp.GetActive() {
		return
	}
	fmt.Fprintf(out, "sub:        %s\n", resp.GetSub())
	fmt.Fprintf(out, "client_id:  %s\n", resp.GetClientId())
	fmt.Fprintf(out, "scope:      %s\n", resp.GetScope())
	fmt.Fprintf(out, "aud:        %s\n", strings.Join(resp.GetAud(), " "))
	fmt.Fprintf(out, "iss:        %s\n", resp.GetIss())
	fmt.Fprintf(out, "jti:        %s\n", resp.GetJti())
	fmt.Fprintf(out, "expires at: %s\n", time.Unix(resp.GetExp(), 0).UTC().Format(time.RFC3339))
	fmt.Fprintf(out, "cnf x5t#S256: %s\n", resp.GetCnfX5TS256())
}
