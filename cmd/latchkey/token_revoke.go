package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
)

func newTokenRevokeCmd() *cobra.Command {
	var (
		cf                           clientFlags
		tokenFile                    string
		jti, keyID, subject, signKID string
		issuedBefore, reason         string
	)
	cmd := &cobra.Command{
		Use:   "revoke [--token-file FILE] | --jti J | --key-id K | --subject S | --signing-kid KID",
		Short: "Revoke a token you hold, or (admin) tokens by jti, root key, subject or signing key",
		Long: `Without a target flag: revoke one token you hold (RFC 7009), read from --token-file
(- or unset for stdin, unless LATCHKEY_TOKEN is set), as the workload identity.
With --jti, --key-id, --subject or --signing-kid: revoke those tokens as an admin
(--key-id and --subject take --issued-before, default now). Revocations are durable
before the command returns, and reach watchers at once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := &adminv1.RevokeTokensRequest{Reason: reason}
			switch {
			case jti != "":
				req.Target = &adminv1.RevokeTokensRequest_Jti{Jti: jti}
			case keyID != "":
				req.Target = &adminv1.RevokeTokensRequest_KeyId{KeyId: keyID}
			case subject != "":
				req.Target = &adminv1.RevokeTokensRequest_Subject{Subject: subject}
			case signKID != "":
				req.Target = &adminv1.RevokeTokensRequest_SigningKid{SigningKid: signKID}
			}
			if req.Target == nil {
				return revokeOwn(cmd, &cf, tokenFile)
			}
			if issuedBefore != "" {
				t, err := time.Parse(time.RFC3339, issuedBefore)
				if err != nil {
					return fmt.Errorf("--issued-before: want RFC 3339: %w", err)
				}
				req.IssuedBefore = timestamppb.New(t)
			}
			if !cmd.Flags().Changed("cert") {
				cf.who = "admin"
			}
			return adminRun(cmd, &cf, func(ctx context.Context, c adminv1.KeyServiceClient) (*adminv1.RevokeTokensResponse, error) {
				return c.RevokeTokens(ctx, req)
			}, func(w io.Writer, r *adminv1.RevokeTokensResponse) {
				fmt.Fprintf(w, "revoked (revision %d)\n", r.GetRevision())
			})
		},
	}
	cf.register(cmd, "workload", "text, json")
	fl := cmd.Flags()
	fl.StringVar(&tokenFile, "token-file", "", "file holding your token (- for stdin)")
	fl.StringVar(&jti, "jti", "", "admin: revoke the token with this jti")
	fl.StringVar(&keyID, "key-id", "", "admin: revoke every token of this root key")
	fl.StringVar(&subject, "subject", "", "admin: revoke every token of this subject (key owner)")
	fl.StringVar(&signKID, "signing-kid", "", "admin: revoke the signing key and every token it signed")
	fl.StringVar(&issuedBefore, "issued-before", "", "admin: with --key-id or --subject, tokens issued at or before this RFC 3339 time (default now)")
	fl.StringVar(&reason, "reason", "", "admin: why")
	return cmd
}

func revokeOwn(cmd *cobra.Command, cf *clientFlags, tokenFile string) error {
	tok, err := readToken(cmd, tokenFile)
	if err != nil {
		return err
	}
	return clientRun(cmd, cf, latchkeyv1.NewTokenServiceClient, func(ctx context.Context, c latchkeyv1.TokenServiceClient) (*latchkeyv1.RevokeTokenResponse, error) {
		return c.RevokeToken(ctx, &latchkeyv1.RevokeTokenRequest{Token: tok})
	}, func(w io.Writer, _ *latchkeyv1.RevokeTokenResponse) { fmt.Fprintln(w, "revoked") })
}

func newTokenWatchCmd() *cobra.Command {
	var (
		cf   clientFlags
		from uint64
	)
	cmd := &cobra.Command{
		Use:   "watch [--from REVISION]",
		Short: "Print revocations as they happen (introspect role)",
		Long: `Stream the revocation list: first what was missed since --from (a full snapshot
when --from is 0 or too old), then each revocation as it is acknowledged, one line
each (one JSON object per line with --output json). Runs until interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(cf.output, "text", "json"); err != nil {
				return err
			}
			conn, err := cf.dial()
			if err != nil {
				return err
			}
			defer conn.Close()
			stream, err := latchkeyv1.NewTokenServiceClient(conn).WatchRevocations(cmd.Context(),
				&latchkeyv1.WatchRevocationsRequest{FromRevision: from})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for {
				msg, err := stream.Recv()
				if err != nil {
					if errors.Is(cmd.Context().Err(), context.Canceled) {
						return nil
					}
					return err
				}
				if msg.GetResync() && cf.output == "text" {
					fmt.Fprintf(out, "snapshot at revision %d\n", msg.GetRevision())
				}
				for _, r := range msg.GetRevocations() {
					if cf.output == "json" {
						if err := printJSON(out, r); err != nil {
							return err
						}
						continue
					}
					kind := strings.ToLower(strings.TrimPrefix(r.GetKind().String(), "REVOCATION_KIND_"))
					line := fmt.Sprintf("%d %s %s %s", r.GetRevision(), when(r.GetRevokedAt()), kind, r.GetValue())
					if r.GetIssuedBefore() != nil {
						line += " issued<=" + when(r.GetIssuedBefore())
					}
					fmt.Fprintln(out, line)
				}
			}
		},
	}
	cf.register(cmd, "admin", "text, json")
	cmd.Flags().Uint64Var(&from, "from", 0, "last revision already seen (0: start with a snapshot)")
	return cmd
}
