package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
)

func newKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage root keys (admin role)",
	}
	cmd.AddCommand(newKeysCreateCmd(), newKeysGetCmd(), newKeysListCmd(), newKeysRevokeCmd())
	return cmd
}

func newKeysCreateCmd() *cobra.Command {
	var (
		cf               clientFlags
		req              adminv1.CreateKeyRequest
		maxTTL, lifetime time.Duration
		expireAt, keyOut string
		labels           []string
	)
	cmd := &cobra.Command{
		Use:   "create --owner TEAM --scope S --audience A [flags]",
		Short: "Create a root key; its secret is shown once",
		Long: `Create a root key. The secret is printed once (or written to --root-key-out
with mode 0600) and cannot be shown again: only its HMAC is stored.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(cf.output, "text", "json"); err != nil {
				return err
			}
			if maxTTL != 0 {
				req.MaxTtl = durationpb.New(maxTTL)
			}
			if lifetime != 0 {
				req.Lifetime = durationpb.New(lifetime)
			}
			if expireAt != "" {
				t, err := time.Parse(time.RFC3339, expireAt)
				if err != nil {
					return fmt.Errorf("--expire-at: want RFC 3339, e.g. 2027-01-31T00:00:00Z: %w", err)
				}
				req.ExpireTime = timestamppb.New(t)
			}
			var err error
			if req.Labels, err = parseLabels(labels); err != nil {
				return err
			}
			conn, err := cf.dial()
			if err != nil {
				return err
			}
			defer conn.Close()
			resp, err := adminv1.NewKeyServiceClient(conn).CreateKey(cmd.Context(), &req)
			if err != nil {
				return err
			}
			if keyOut != "" {
				if err := os.WriteFile(keyOut, []byte(resp.GetRootKey()+"\n"), 0o600); err != nil {
					return fmt.Errorf("write root key: %w", err)
				}
			}
			out := cmd.OutOrStdout()
			if cf.output == "json" {
				return printJSON(out, resp)
			}
			printKey(out, resp.GetKey())
			if keyOut != "" {
				fmt.Fprintf(out, "\nroot key written to %s (mode 0600); it cannot be shown again.\n", keyOut)
			} else {
				fmt.Fprintf(out, "\nroot key (shown once, store it now):\n%s\n", resp.GetRootKey())
			}
			return nil
		},
	}
	cf.register(cmd, "admin", "text, json")
	fl := cmd.Flags()
	fl.StringVar(&req.Owner, "owner", "", "team or service accountable for the key (token sub)")
	fl.StringVar(&req.Description, "description", "", "what the key is for")
	fl.StringSliceVar(&req.Scopes, "scope", nil, "allowed scope (repeat or comma-separate)")
	fl.StringSliceVar(&req.Audiences, "audience", nil, "allowed audience (repeat or comma-separate)")
	fl.StringSliceVar(&req.BoundIdentities, "bind", nil, "mTLS identity pattern allowed to present the key (repeatable)")
	fl.StringSliceVar(&labels, "label", nil, "label key=value (repeatable)")
	fl.DurationVar(&maxTTL, "max-ttl", 0, "longest token lifetime (default: the policy maximum)")
	fl.DurationVar(&lifetime, "lifetime", 0, "key expires this long after creation")
	fl.StringVar(&expireAt, "expire-at", "", "key expires at this RFC 3339 time")
	fl.StringVar(&keyOut, "root-key-out", "", "write the root key to this file (mode 0600) instead of printing it")
	return cmd
}

func parseLabels(in []string) (map[string]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(in))
	for _, l := range in {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--label %q: want key=value", l)
		}
		out[k] = v
	}
	return out, nil
}

func newKeysGetCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "get KEY_ID",
		Short: "Show one root key's record",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(cf.output, "text", "json"); err != nil {
				return err
			}
			conn, err := cf.dial()
			if err != nil {
				return err
			}
			defer conn.Close()
			resp, err := adminv1.NewKeyServiceClient(conn).GetKey(cmd.Context(), &adminv1.GetKeyRequest{KeyId: args[0]})
			if err != nil {
				return err
			}
			if cf.output == "json" {
				return printJSON(cmd.OutOrStdout(), resp)
			}
			printKey(cmd.OutOrStdout(), resp.GetKey())
			return nil
		},
	}
	cf.register(cmd, "admin", "text, json")
	return cmd
}

func newKeysListCmd() *cobra.Command {
	var (
		cf    clientFlags
		req   adminv1.ListKeysRequest
		state string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List root keys (one page)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(cf.output, "text", "json"); err != nil {
				return err
			}
			if state != "" {
				v, ok := adminv1.KeyState_value["KEY_STATE_"+strings.ToUpper(state)]
				if !ok {
					return fmt.Errorf("--state-filter %q: want active, disabled, revoked or expired", state)
				}
				req.State = adminv1.KeyState(v)
			}
			conn, err := cf.dial()
			if err != nil {
				return err
			}
			defer conn.Close()
			resp, err := adminv1.NewKeyServiceClient(conn).ListKeys(cmd.Context(), &req)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if cf.output == "json" {
				return printJSON(out, resp)
			}
			fmt.Fprintf(out, "%-14s %-10s %-24s %s\n", "KEY ID", "STATE", "OWNER", "SCOPES")
			for _, k := range resp.GetKeys() {
				fmt.Fprintf(out, "%-14s %-10s %-24s %s\n", k.GetKeyId(), stateName(k.GetState()), k.GetOwner(), strings.Join(k.GetScopes(), " "))
			}
			if resp.GetNextPageToken() != "" {
				fmt.Fprintf(out, "more: --page-token %s\n", resp.GetNextPageToken())
			}
			return nil
		},
	}
	cf.register(cmd, "admin", "text, json")
	fl := cmd.Flags()
	fl.StringVar(&req.Owner, "owner", "", "only keys of this owner")
	fl.StringVar(&state, "state-filter", "", "only keys in this state: active, disabled, revoked, expired")
	fl.Int32Var(&req.PageSize, "page-size", 100, "keys per page (max 1000)")
	fl.StringVar(&req.PageToken, "page-token", "", "page token from a previous listing")
	return cmd
}

func newKeysRevokeCmd() *cobra.Command {
	var (
		cf     clientFlags
		reason string
	)
	cmd := &cobra.Command{
		Use:   "revoke KEY_ID --reason REASON",
		Short: "Revoke a root key and every token minted from it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(cf.output, "text", "json"); err != nil {
				return err
			}
			v, ok := adminv1.RevocationReason_value["REVOCATION_REASON_"+strings.ToUpper(reason)]
			if !ok || v == 0 {
				return fmt.Errorf("--reason %q: want compromised, leaked, decommissioned, superseded or other", reason)
			}
			conn, err := cf.dial()
			if err != nil {
				return err
			}
			defer conn.Close()
			resp, err := adminv1.NewKeyServiceClient(conn).RevokeKey(cmd.Context(),
				&adminv1.RevokeKeyRequest{KeyId: args[0], Reason: adminv1.RevocationReason(v)})
			if err != nil {
				return err
			}
			if cf.output == "json" {
				return printJSON(cmd.OutOrStdout(), resp)
			}
			printKey(cmd.OutOrStdout(), resp.GetKey())
			return nil
		},
	}
	cf.register(cmd, "admin", "text, json")
	cmd.Flags().StringVar(&reason, "reason", "", "compromised, leaked, decommissioned, superseded or other (required)")
	return cmd
}

func stateName(s adminv1.KeyState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "KEY_STATE_"))
}

func printKey(w io.Writer, k *adminv1.Key) {
	fmt.Fprintf(w, "key id:      %s\n", k.GetKeyId())
	fmt.Fprintf(w, "prefix:      %s\n", k.GetPrefix())
	fmt.Fprintf(w, "state:       %s\n", stateName(k.GetState()))
	if k.GetRevocationReason() != adminv1.RevocationReason_REVOCATION_REASON_UNSPECIFIED {
		fmt.Fprintf(w, "revoked:     %s (%s)\n", k.GetRevokeTime().AsTime().Format(time.RFC3339),
			strings.ToLower(strings.TrimPrefix(k.GetRevocationReason().String(), "REVOCATION_REASON_")))
	}
	fmt.Fprintf(w, "owner:       %s\n", k.GetOwner())
	if k.GetDescription() != "" {
		fmt.Fprintf(w, "description: %s\n", k.GetDescription())
	}
	fmt.Fprintf(w, "scopes:      %s\n", strings.Join(k.GetScopes(), " "))
	fmt.Fprintf(w, "audiences:   %s\n", strings.Join(k.GetAudiences(), " "))
	if len(k.GetBoundIdentities()) > 0 {
		fmt.Fprintf(w, "bound to:    %s\n", strings.Join(k.GetBoundIdentities(), " "))
	}
	if k.GetMaxTtl() != nil {
		fmt.Fprintf(w, "max ttl:     %s\n", k.GetMaxTtl().AsDuration())
	}
	fmt.Fprintf(w, "created:     %s by %s\n", k.GetCreateTime().AsTime().Format(time.RFC3339), k.GetCreatedBy())
	if k.GetExpireTime() != nil {
		fmt.Fprintf(w, "expires:     %s\n", k.GetExpireTime().AsTime().Format(time.RFC3339))
	}
}
