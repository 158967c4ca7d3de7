package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
)

func newKeysListCmd() *cobra.Command {
	var (
		cf                        clientFlags
		req                       adminv1.ListKeysRequest
		stateFilter               string
		unusedFor, expiringWithin time.Duration
		all                       bool
	)
	cmd := &cobra.Command{
		Use:   "list [--owner O] [--state S] [--unused-for 30d] [--rotation-due] [--attestation-due] [...]",
		Short: "List root keys (table by default)",
		Long: `List root keys in key id order. Filters combine with AND. --state takes a key
state (active, disabled, revoked, expired); as on every client command, a --state that
is not a state name is the dev state folder (--state-dir is the unambiguous form).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if s := stateFromFlag(cf.state, stateFilter); s != "" {
				v, ok := adminv1.KeyState_value["KEY_STATE_"+strings.ToUpper(s)]
				if !ok {
					return fmt.Errorf("--state-filter %q: want active, disabled, revoked or expired", s)
				}
				req.State = adminv1.KeyState(v)
				if s == cf.state {
					cf.state = defaultStateDir
				}
			}
			now := time.Now()
			if unusedFor > 0 {
				req.UnusedSince = timestamppb.New(now.Add(-unusedFor))
			}
			if expiringWithin > 0 {
				req.ExpiringBefore = timestamppb.New(now.Add(expiringWithin))
			}
			return adminRun(cmd, &cf, func(ctx context.Context, c adminv1.KeyServiceClient) (*adminv1.ListKeysResponse, error) {
				return listPages(ctx, c, &req, all)
			}, printKeyTable)
		},
	}
	cf.register(cmd, "admin", "text, json")
	fl := cmd.Flags()
	fl.StringVar(&req.Owner, "owner", "", "only keys of this owner")
	fl.StringVar(&stateFilter, "state-filter", "", "only keys in this state: active, disabled, revoked, expired")
	fl.StringVar(&req.Label, "label", "", "only keys with this label: key=value, or key")
	fl.Var(dayDuration{&unusedFor}, "unused-for", "only keys not used for this long, e.g. 30d")
	fl.Var(dayDuration{&expiringWithin}, "expiring-within", "only keys that expire within this long, e.g. 14d")
	fl.BoolVar(&req.RotationDue, "rotation-due", false, "only keys whose rotation is due")
	fl.BoolVar(&req.AttestationDue, "attestation-due", false, "only keys whose owner attestation is due")
	fl.Int32Var(&req.PageSize, "page-size", 100, "keys per page (max 1000)")
	fl.StringVar(&req.PageToken, "page-token", "", "page token from a previous listing")
	fl.BoolVar(&all, "all", false, "follow page tokens to the end")
	return cmd
}

// stateFromFlag returns the key-state filter: --state-filter, or a --state
// value that names a key state rather than an existing folder.
func stateFromFlag(stateFlag, filter string) string {
	if filter != "" {
		return filter
	}
	if _, ok := adminv1.KeyState_value["KEY_STATE_"+strings.ToUpper(stateFlag)]; ok && stateFlag != "" {
		if fi, err := os.Stat(stateFlag); err != nil || !fi.IsDir() {
			return stateFlag
		}
	}
	return ""
}

func listPages(ctx context.Context, c adminv1.KeyServiceClient, req *adminv1.ListKeysRequest, all bool) (*adminv1.ListKeysResponse, error) {
	out := &adminv1.ListKeysResponse{}
	for {
		page, err := c.ListKeys(ctx, req)
		if err != nil {
			return nil, err
		}
		out.Keys = append(out.Keys, page.GetKeys()...)
		out.NextPageToken = page.GetNextPageToken()
		if !all || out.NextPageToken == "" {
			return out, nil
		}
		req.PageToken = out.NextPageToken
	}
}

func printKeyTable(w io.Writer, r *adminv1.ListKeysResponse) {
	fmt.Fprintf(w, "%-14s %-9s %-20s %-20s %-20s %s\n", "KEY ID", "STATE", "OWNER", "LAST USED", "ROTATION DUE", "SCOPES")
	for _, k := range r.GetKeys() {
		fmt.Fprintf(w, "%-14s %-9s %-20s %-20s %-20s %s\n", k.GetKeyId(), stateName(k.GetState()), k.GetOwner(),
			when(k.GetLastUsedAt()), when(k.GetRotationDueAt()), strings.Join(k.GetScopes(), " "))
	}
	if r.GetNextPageToken() != "" {
		fmt.Fprintf(w, "more: --page-token %s (or --all)\n", r.GetNextPageToken())
	}
}

func when(t *timestamppb.Timestamp) string {
	if t == nil {
		return "-"
	}
	return t.AsTime().UTC().Format(time.RFC3339)
}

func stateName(s adminv1.KeyState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "KEY_STATE_"))
}

func printKey(w io.Writer, k *adminv1.Key) {
	line := func(label, v string) {
		if v != "" && v != "-" {
			fmt.Fprintf(w, "%-17s %s\n", label+":", v)
		}
	}
	line("key id", k.GetKeyId())
	line("prefix", k.GetPrefix())
	line("state", stateName(k.GetState()))
	if k.GetRevocationReason() != adminv1.RevocationReason_REVOCATION_REASON_UNSPECIFIED {
		line("revoked", when(k.GetRevokedAt())+" ("+strings.ToLower(strings.TrimPrefix(k.GetRevocationReason().String(), "REVOCATION_REASON_"))+")")
	}
	if k.GetDisabledAt() != nil {
		line("disabled", when(k.GetDisabledAt())+" ("+k.GetDisabledReason()+")")
	}
	line("owner", k.GetOwner())
	line("description", k.GetDescription())
	line("scopes", strings.Join(k.GetScopes(), " "))
	line("audiences", strings.Join(k.GetAudiences(), " "))
	line("bound to", strings.Join(k.GetBoundIdentities(), " "))
	if len(k.GetLabels()) > 0 {
		var ls []string
		for key, v := range k.GetLabels() {
			ls = append(ls, key+"="+v)
		}
		line("labels", strings.Join(ls, " "))
	}
	if k.GetMaxTtl() != nil {
		line("max ttl", k.GetMaxTtl().AsDuration().String())
	}
	if rl := k.GetRateLimit(); rl != nil {
		line("rate limit", fmt.Sprintf("%g/s burst %d", rl.GetPerSecond(), rl.GetBurst()))
	}
	line("created", when(k.GetCreatedAt())+" by "+k.GetCreatedBy())
	line("expires", when(k.GetExpiresAt()))
	line("last used", when(k.GetLastUsedAt()))
	line("use count", fmt.Sprint(k.GetUseCount()))
	line("rotated", when(k.GetRotatedAt()))
	line("old secret until", when(k.GetGraceDeadline()))
	line("rotation due", when(k.GetRotationDueAt()))
	line("last attested", when(k.GetLastAttestedAt()))
	line("attestation due", when(k.GetAttestationDueAt()))
	line("unused-disable", when(k.GetUnusedDisableAt()))
}
