package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
)

func newKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Manage root keys (admin role)",
		Long: `Manage root keys. Every command calls the admin API over mTLS as the admin
identity (by default the dev state folder's admin certificate) and takes the key id
as its first argument where it acts on one key.`,
	}
	cmd.AddCommand(newKeysCreateCmd(), newKeysGetCmd(), newKeysListCmd(), newKeysUpdateCmd(),
		newKeysRotateCmd(), newKeysRevokeCmd(), newKeysDisableCmd(), newKeysEnableCmd(),
		newKeysAttestCmd(), newKeysHistoryCmd())
	return cmd
}

// adminRun makes one KeyService call; see clientRun.
func adminRun[T proto.Message](cmd *cobra.Command, cf *clientFlags,
	call func(context.Context, adminv1.KeyServiceClient) (T, error), text func(io.Writer, T)) error {
	return clientRun(cmd, cf, adminv1.NewKeyServiceClient, call, text)
}

// clientRun dials, makes one call with the client newClient makes, and
// prints the answer as JSON or, by default, as text.
func clientRun[C any, T proto.Message](cmd *cobra.Command, cf *clientFlags, newClient func(grpc.ClientConnInterface) C,
	call func(context.Context, C) (T, error), text func(io.Writer, T)) error {
	if err := checkOutput(cf.output, "text", "json"); err != nil {
		return err
	}
	conn, err := cf.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := call(cmd.Context(), newClient(conn))
	if err != nil {
		return err
	}
	if cf.output == "json" {
		return printJSON(cmd.OutOrStdout(), resp)
	}
	text(cmd.OutOrStdout(), resp)
	return nil
}

// keyAttrs are the flags shared by create and update.
type keyAttrs struct {
	owner, description       string
	scopes, audiences, binds []string
	labels                   []string
	maxTTL, rotation         time.Duration
	expireAt                 string
	ratePerSecond            float64
	burst                    uint32
}

func (a *keyAttrs) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&a.owner, "owner", "", "team or service accountable for the key (token sub)")
	fl.StringVar(&a.description, "description", "", "what the key is for")
	fl.StringSliceVar(&a.scopes, "scope", nil, "allowed scope (repeat or comma-separate)")
	fl.StringSliceVar(&a.audiences, "audience", nil, "allowed audience (repeat or comma-separate)")
	fl.StringSliceVar(&a.binds, "bind", nil, "mTLS identity pattern allowed to present the key (repeatable)")
	fl.StringSliceVar(&a.labels, "label", nil, "label key=value (repeatable)")
	fl.Var(dayDuration{&a.maxTTL}, "max-ttl", "longest token lifetime (default: the policy maximum)")
	fl.Var(dayDuration{&a.rotation}, "rotation-period", "rotate at least this often, e.g. 90d (default: the policy's)")
	fl.StringVar(&a.expireAt, "expire-at", "", "key expires at this RFC 3339 time")
	fl.Float64Var(&a.ratePerSecond, "rate-per-second", 0, "exchanges per second allowed (with --burst; default: the policy's)")
	fl.Uint32Var(&a.burst, "burst", 0, "burst size for --rate-per-second")
}

// toKey fills the proto fields; labels and times are validated here so a typo
// fails before any call.
func (a *keyAttrs) toKey() (*adminv1.Key, error) {
	k := &adminv1.Key{Owner: a.owner, Description: a.description, Scopes: a.scopes,
		Audiences: a.audiences, BoundIdentities: a.binds}
	var err error
	if k.Labels, err = parseLabels(a.labels); err != nil {
		return nil, err
	}
	if a.maxTTL != 0 {
		k.MaxTtl = durationpb.New(a.maxTTL)
	}
	if a.rotation != 0 {
		k.RotationPeriod = durationpb.New(a.rotation)
	}
	if a.expireAt != "" {
		t, err := time.Parse(time.RFC3339, a.expireAt)
		if err != nil {
			return nil, fmt.Errorf("--expire-at: want RFC 3339, e.g. 2027-01-31T00:00:00Z: %w", err)
		}
		k.ExpiresAt = timestamppb.New(t)
	}
	if a.ratePerSecond != 0 || a.burst != 0 {
		k.RateLimit = &adminv1.RateLimit{PerSecond: a.ratePerSecond, Burst: a.burst}
	}
	return k, nil
}

func newKeysCreateCmd() *cobra.Command {
	var (
		cf       clientFlags
		attrs    keyAttrs
		lifetime time.Duration
		keyOut   string
	)
	cmd := &cobra.Command{
		Use:   "create --owner TEAM --scope S --audience A [flags]",
		Short: "Create a root key; its secret is shown once",
		Long: `Create a root key. The secret is printed once (or written to --root-key-out
with mode 0600) and cannot be shown again: only its HMAC is stored.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, err := attrs.toKey()
			if err != nil {
				return err
			}
			req := &adminv1.CreateKeyRequest{Owner: k.Owner, Description: k.Description, Scopes: k.Scopes,
				Audiences: k.Audiences, BoundIdentities: k.BoundIdentities, MaxTtl: k.MaxTtl, Labels: k.Labels,
				ExpiresAt: k.ExpiresAt, RotationPeriod: k.RotationPeriod, RateLimit: k.RateLimit}
			if lifetime != 0 {
				req.Lifetime = durationpb.New(lifetime)
			}
			return adminRun(cmd, &cf, func(ctx context.Context, c adminv1.KeyServiceClient) (*adminv1.CreateKeyResponse, error) {
				resp, err := c.CreateKey(ctx, req)
				if err == nil && keyOut != "" {
					err = writeRootKey(keyOut, resp.GetRootKey())
				}
				return resp, err
			}, func(w io.Writer, r *adminv1.CreateKeyResponse) {
				printKey(w, r.GetKey())
				printSecretOnce(w, keyOut, r.GetRootKey())
			})
		},
	}
	cf.register(cmd, "admin", "text, json")
	attrs.register(cmd)
	cmd.Flags().Var(dayDuration{&lifetime}, "lifetime", "key expires this long after creation, e.g. 90d")
	cmd.Flags().StringVar(&keyOut, "root-key-out", "", "write the root key to this file (mode 0600) instead of printing it")
	return cmd
}

func writeRootKey(path, key string) error {
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		return fmt.Errorf("write root key: %w", err)
	}
	return nil
}

func printSecretOnce(w io.Writer, keyOut, key string) {
	if keyOut != "" {
		fmt.Fprintf(w, "\nroot key written to %s (mode 0600); it cannot be shown again.\n", keyOut)
		return
	}
	fmt.Fprintf(w, "\nroot key (shown once, store it now):\n%s\n", key)
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
			return adminRun(cmd, &cf, func(ctx context.Context, c adminv1.KeyServiceClient) (*adminv1.GetKeyResponse, error) {
				return c.GetKey(ctx, &adminv1.GetKeyRequest{KeyId: args[0]})
			}, func(w io.Writer, r *adminv1.GetKeyResponse) { printKey(w, r.GetKey()) })
		},
	}
	cf.register(cmd, "admin", "text, json")
	return cmd
}

func newKeysUpdateCmd() *cobra.Command {
	var (
		cf    clientFlags
		attrs keyAttrs
	)
	cmd := &cobra.Command{
		Use:   "update KEY_ID [--scope S ...] [--owner O] [...]",
		Short: "Change a key's attributes (only the flags given)",
		Long: `Change the attributes given as flags; the others stay. List flags (--scope,
--audience, --bind, --label) replace the whole list. Shrinking scopes is always
allowed; widening scopes, audiences or bindings is recorded in the key's history.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := attrs.toKey()
			if err != nil {
				return err
			}
			k.KeyId = args[0]
			flagToField := map[string]string{"owner": "owner", "description": "description", "scope": "scopes",
				"audience": "audiences", "bind": "bound_identities", "label": "labels", "max-ttl": "max_ttl",
				"rotation-period": "rotation_period", "expire-at": "expires_at", "rate-per-second": "rate_limit", "burst": "rate_limit"}
			mask := &fieldmaskpb.FieldMask{}
			for flag, field := range flagToField {
				if cmd.Flags().Changed(flag) && !contains(mask.Paths, field) {
					mask.Paths = append(mask.Paths, field)
				}
			}
			if len(mask.Paths) == 0 {
				return fmt.Errorf("nothing to update: give at least one attribute flag")
			}
			return adminRun(cmd, &cf, func(ctx context.Context, c adminv1.KeyServiceClient) (*adminv1.UpdateKeyResponse, error) {
				return c.UpdateKey(ctx, &adminv1.UpdateKeyRequest{Key: k, UpdateMask: mask})
			}, func(w io.Writer, r *adminv1.UpdateKeyResponse) { printKey(w, r.GetKey()) })
		},
	}
	cf.register(cmd, "admin", "text, json")
	attrs.register(cmd)
	return cmd
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func newKeysRotateCmd() *cobra.Command {
	var (
		cf           clientFlags
		grace        time.Duration
		keyOut       string
		revokeIssued bool
	)
	cmd := &cobra.Command{
		Use:   "rotate KEY_ID [--grace D] [--revoke-issued] [--root-key-out FILE]",
		Short: "Give a key a new secret; the old one works until the grace deadline",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &adminv1.RotateKeyRequest{KeyId: args[0], RevokeIssued: revokeIssued}
			if cmd.Flags().Changed("grace") {
				req.Grace = durationpb.New(grace)
			}
			return adminRun(cmd, &cf, func(ctx context.Context, c adminv1.KeyServiceClient) (*adminv1.RotateKeyResponse, error) {
				resp, err := c.RotateKey(ctx, req)
				if err == nil && keyOut != "" {
					err = writeRootKey(keyOut, resp.GetRootKey())
				}
				return resp, err
			}, func(w io.Writer, r *adminv1.RotateKeyResponse) {
				printKey(w, r.GetKey())
				printSecretOnce(w, keyOut, r.GetRootKey())
			})
		},
	}
	cf.register(cmd, "admin", "text, json")
	cmd.Flags().Var(dayDuration{&grace}, "grace", "how long the old secret keeps working (default: the policy's; 0 = stop now)")
	cmd.Flags().StringVar(&keyOut, "root-key-out", "", "write the new root key to this file (mode 0600) instead of printing it")
	cmd.Flags().BoolVar(&revokeIssued, "revoke-issued", false, "also revoke every token issued from the key so far")
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
			v, ok := adminv1.RevocationReason_value["REVOCATION_REASON_"+strings.ToUpper(reason)]
			if !ok || v == 0 {
				return fmt.Errorf("--reason %q: want compromised, leaked, decommissioned, superseded or other", reason)
			}
			return adminRun(cmd, &cf, func(ctx context.Context, c adminv1.KeyServiceClient) (*adminv1.RevokeKeyResponse, error) {
				return c.RevokeKey(ctx, &adminv1.RevokeKeyRequest{KeyId: args[0], Reason: adminv1.RevocationReason(v)})
			}, func(w io.Writer, r *adminv1.RevokeKeyResponse) { printKey(w, r.GetKey()) })
		},
	}
	cf.register(cmd, "admin", "text, json")
	cmd.Flags().StringVar(&reason, "reason", "", "compromised, leaked, decommissioned, superseded or other (required)")
	return cmd
}

func newKeysDisableCmd() *cobra.Command {
	var (
		cf     clientFlags
		reason string
	)
	cmd := &cobra.Command{
		Use:   "disable KEY_ID [--reason TEXT]",
		Short: "Suspend a key (reversible); its tokens are inactive while disabled",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return adminRun(cmd, &cf, func(ctx context.Context, c adminv1.KeyServiceClient) (*adminv1.DisableKeyResponse, error) {
				return c.DisableKey(ctx, &adminv1.DisableKeyRequest{KeyId: args[0], Reason: reason})
			}, func(w io.Writer, r *adminv1.DisableKeyResponse) { printKey(w, r.GetKey()) })
		},
	}
	cf.register(cmd, "admin", "text, json")
	cmd.Flags().StringVar(&reason, "reason", "", "why (default \"manual\")")
	return cmd
}

func newKeysEnableCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "enable KEY_ID",
		Short: "Return a disabled key to service",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return adminRun(cmd, &cf, func(ctx context.Context, c adminv1.KeyServiceClient) (*adminv1.EnableKeyResponse, error) {
				return c.EnableKey(ctx, &adminv1.EnableKeyRequest{KeyId: args[0]})
			}, func(w io.Writer, r *adminv1.EnableKeyResponse) { printKey(w, r.GetKey()) })
		},
	}
	cf.register(cmd, "admin", "text, json")
	return cmd
}

func newKeysAttestCmd() *cobra.Command {
	var (
		cf   clientFlags
		note string
	)
	cmd := &cobra.Command{
		Use:   "attest KEY_ID [--note TEXT]",
		Short: "Record that the owner confirmed the key is still needed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return adminRun(cmd, &cf, func(ctx context.Context, c adminv1.KeyServiceClient) (*adminv1.AttestKeyResponse, error) {
				return c.AttestKey(ctx, &adminv1.AttestKeyRequest{KeyId: args[0], Note: note})
			}, func(w io.Writer, r *adminv1.AttestKeyResponse) { printKey(w, r.GetKey()) })
		},
	}
	cf.register(cmd, "admin", "text, json")
	cmd.Flags().StringVar(&note, "note", "", "who confirmed, and why")
	return cmd
}

func newKeysHistoryCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "history KEY_ID",
		Short: "Show what happened to a key, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return adminRun(cmd, &cf, func(ctx context.Context, c adminv1.KeyServiceClient) (*adminv1.ListKeyHistoryResponse, error) {
				return c.ListKeyHistory(ctx, &adminv1.ListKeyHistoryRequest{KeyId: args[0]})
			}, func(w io.Writer, r *adminv1.ListKeyHistoryResponse) {
				fmt.Fprintf(w, "%-20s %-20s %-34s %s\n", "TIME", "ACTION", "ACTOR", "REASON / DETAIL")
				for _, e := range r.GetEvents() {
					fmt.Fprintf(w, "%-20s %-20s %-34s %s\n", e.GetTime().AsTime().Format(time.RFC3339),
						e.GetAction(), e.GetActor(), strings.TrimSpace(e.GetReason()+" "+e.GetDetail()))
				}
			})
		},
	}
	cf.register(cmd, "admin", "text, json")
	return cmd
}
