package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
)

func newSigningCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "signing",
		Short: "Manage the keys that sign tokens (admin role)",
		Long: `Manage the token-signing keyring. Keys rotate on the policy's schedule; a new key
is published in the JWKS before it signs, and a retired key stays published until every
token it signed has expired.`,
	}
	var listCF, rotateCF, revokeCF clientFlags
	list := &cobra.Command{
		Use:   "list",
		Short: "List signing keys with their states",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return signingRun(cmd, &listCF, func(ctx context.Context, c adminv1.SigningKeyServiceClient) (*adminv1.ListSigningKeysResponse, error) {
				return c.ListSigningKeys(ctx, &adminv1.ListSigningKeysRequest{})
			}, func(w io.Writer, r *adminv1.ListSigningKeysResponse) { printSigningKeys(w, r.GetKeys()) })
		},
	}
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Start a rotation now (the new key signs after the publish lead)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return signingRun(cmd, &rotateCF, func(ctx context.Context, c adminv1.SigningKeyServiceClient) (*adminv1.RotateSigningKeyResponse, error) {
				return c.RotateSigningKey(ctx, &adminv1.RotateSigningKeyRequest{})
			}, func(w io.Writer, r *adminv1.RotateSigningKeyResponse) { printSigningKeys(w, r.GetKeys()) })
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke KID",
		Short: "Revoke a signing key now: every token it signed becomes inactive",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return signingRun(cmd, &revokeCF, func(ctx context.Context, c adminv1.SigningKeyServiceClient) (*adminv1.RevokeSigningKeyResponse, error) {
				return c.RevokeSigningKey(ctx, &adminv1.RevokeSigningKeyRequest{Kid: args[0]})
			}, func(w io.Writer, r *adminv1.RevokeSigningKeyResponse) { printSigningKeys(w, r.GetKeys()) })
		},
	}
	listCF.register(list, "admin", "text, json")
	rotateCF.register(rotate, "admin", "text, json")
	revokeCF.register(revoke, "admin", "text, json")
	cmd.AddCommand(list, rotate, revoke)
	return cmd
}

func signingRun[T proto.Message](cmd *cobra.Command, cf *clientFlags,
	call func(context.Context, adminv1.SigningKeyServiceClient) (T, error), text func(io.Writer, T)) error {
	return clientRun(cmd, cf, adminv1.NewSigningKeyServiceClient, call, text)
}

func printSigningKeys(w io.Writer, keys []*adminv1.SigningKey) {
	fmt.Fprintf(w, "%-44s %-6s %-8s %-20s %s\n", "KID", "ALG", "STATE", "SINCE", "UNTIL")
	for _, k := range keys {
		state := strings.ToLower(strings.TrimPrefix(k.GetState().String(), "SIGNING_KEY_STATE_"))
		since, until := when(k.GetCreatedAt()), "-"
		switch k.GetState() {
		case adminv1.SigningKeyState_SIGNING_KEY_STATE_NEXT:
			until = "signs from " + when(k.GetActivateAt())
		case adminv1.SigningKeyState_SIGNING_KEY_STATE_ACTIVE:
			since = when(k.GetActivatedAt())
		case adminv1.SigningKeyState_SIGNING_KEY_STATE_RETIRED:
			since, until = when(k.GetRetiredAt()), "published until "+when(k.GetRemoveAt())
		case adminv1.SigningKeyState_SIGNING_KEY_STATE_REVOKED:
			since = when(k.GetRevokedAt())
		}
		fmt.Fprintf(w, "%-44s %-6s %-8s %-20s %s\n", k.GetKid(), k.GetAlg(), state, since, until)
	}
}
