package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/latchkeyhq/latchkey/audit"
	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
)

// maxAuditPage is the largest page the server hands out; asking for more
// is clamped anyway, and fewer round trips matter for long queries.
const maxAuditPage = 1000

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read and check the audit trail (admin role)",
		Long: `Read and check the server's audit trail. An event is one thing that happened:
every token exchange, granted or denied (with why it was denied), every change to a
root key or signing key, every revocation, policy reload and alert. Each event has a
sequence number (from 1, without gaps), a time, a kind, the actor (the caller's mTLS
identity, or a system actor such as system:janitor), the caller's address, the key id
and token jti it concerns, the result (ok, denied or error) and a reason.

Events never carry a secret: no root key, token, pepper or private key is ever
recorded, only ids. Each event is chained to the one before it by a MAC keyed from
the server's pepper, so 'latchkey audit verify' finds any event that was removed,
altered or reordered in the store.

Kinds: ` + auditKinds() + `

Every command calls the admin API over mTLS as the admin identity (by default the
dev state folder's admin certificate).`,
	}
	cmd.AddCommand(newAuditQueryCmd(), newAuditTailCmd(), newAuditVerifyCmd())
	return cmd
}

func auditKinds() string {
	names := make([]string, len(audit.Kinds))
	for i, k := range audit.Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// auditFilter holds the filters query and tail share. --key-id, not
// --key: every client command already takes --key for its TLS key file.
type auditFilter struct{ keyID, actor, kind string }

func (f *auditFilter) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.keyID, "key-id", "", "only events about this root key id")
	fl.StringVar(&f.actor, "actor", "", "only events caused by this identity, e.g. spiffe://... or system:janitor")
	fl.StringVar(&f.kind, "kind", "", "only events of this kind, e.g. exchange or key.revoke")
}

// args spells the filters as flags, for a command line the user can rerun.
func (f auditFilter) args() string {
	var b strings.Builder
	for _, a := range [][2]string{{"--key-id", f.keyID}, {"--actor", f.actor}, {"--kind", f.kind}} {
		if a[1] != "" {
			fmt.Fprintf(&b, " %s %s", a[0], a[1])
		}
	}
	return b.String()
}

func newAuditQueryCmd() *cobra.Command {
	var (
		cf           clientFlags
		f            auditFilter
		since, until string
		limit        int
	)
	cmd := &cobra.Command{
		Use:   "query [--key-id ID] [--actor ID] [--kind K] [--since 1h|RFC3339] [--until ...] [--limit N]",
		Short: "Print audit events, oldest first",
		Long: `Print the audit events that match every filter given, oldest first, following
pages until --limit events are printed (0 prints every match).

--since and --until take an RFC 3339 time (2026-01-31T09:00:00Z) or a duration back
from now (90m, 1h, 7d); --since is inclusive, --until exclusive.

Text output is one line per event, with "-" for an empty field:
  SEQ TIME KIND ACTOR KEY-ID RESULT REASON JTI
JSON output (-o json) is one object per line, with every field of the event.`,
		Example: `  latchkey audit query --key-id 0123456789ab --since 24h
  latchkey audit query --kind exchange --since 2026-01-31T09:00:00Z -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(cf.output, "text", "json"); err != nil {
				return err
			}
			if limit < 0 {
				return fmt.Errorf("--limit %d: want a number of events, or 0 for no limit", limit)
			}
			req := &adminv1.QueryAuditEventsRequest{KeyId: f.keyID, Actor: f.actor, Kind: f.kind}
			now := time.Now()
			var err error
			if req.Since, err = parseWhen("--since", since, now); err != nil {
				return err
			}
			if req.Until, err = parseWhen("--until", until, now); err != nil {
				return err
			}
			conn, err := cf.dial()
			if err != nil {
				return err
			}
			defer conn.Close()
			more, err := queryEvents(cmd.Context(), adminv1.NewAuditServiceClient(conn), req, limit,
				eventPrinter(cmd.OutOrStdout(), cf.output))
			if err != nil {
				return err
			}
			if more {
				fmt.Fprintf(cmd.ErrOrStderr(), "stopped at --limit %d; more events may match (raise --limit or narrow --since/--until)\n", limit)
			}
			return nil
		},
	}
	cf.register(cmd, "admin", "text, json")
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&since, "since", "", "only events at or after this time: RFC 3339, or a duration ago such as 1h or 7d")
	fl.StringVar(&until, "until", "", "only events before this time: RFC 3339, or a duration ago")
	fl.IntVar(&limit, "limit", 100, "print at most this many events (0: no limit)")
	return cmd
}

// parseWhen reads a --since or --until value: an RFC 3339 time, or a
// duration before now. Empty means no bound.
func parseWhen(flag, s string, now time.Time) (*timestamppb.Timestamp, error) {
	if s == "" {
		return nil, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return timestamppb.New(t), nil
	}
	d, err := parseDays(s)
	if err != nil || d < 0 {
		return nil, fmt.Errorf("%s %q: want an RFC 3339 time such as 2026-01-31T09:00:00Z, or a duration ago such as 90m, 1h or 7d", flag, s)
	}
	return timestamppb.New(now.Add(-d)), nil
}

// queryEvents calls each for every matching event, following page tokens
// until limit events (0: no limit). more reports that the limit stopped it
// while the server still offered a next page.
func queryEvents(ctx context.Context, c adminv1.AuditServiceClient, req *adminv1.QueryAuditEventsRequest,
	limit int, each func(*adminv1.AuditEvent) error) (more bool, err error) {
	n := 0
	for {
		req.PageSize = maxAuditPage
		if limit > 0 {
			req.PageSize = int32(min(limit-n, maxAuditPage))
		}
		page, err := c.QueryAuditEvents(ctx, req)
		if err != nil {
			return false, err
		}
		for _, e := range page.GetEvents() {
			if err := each(e); err != nil {
				return false, err
			}
		}
		n += len(page.GetEvents())
		if page.GetNextPageToken() == "" {
			return false, nil
		}
		if limit > 0 && n >= limit {
			return true, nil
		}
		req.PageToken = page.GetNextPageToken()
	}
}

// eventPrinter writes events as protojson lines or as text lines.
func eventPrinter(w io.Writer, output string) func(*adminv1.AuditEvent) error {
	if output == "json" {
		return func(e *adminv1.AuditEvent) error { return printJSON(w, e) }
	}
	return func(e *adminv1.AuditEvent) error {
		_, err := fmt.Fprintln(w, eventLine(e))
		return err
	}
}

// eventLine is the text form of an event: SEQ TIME KIND ACTOR KEY-ID
// RESULT REASON JTI. Fields never hold spaces, so the columns split on
// whitespace; a reason that did would be shown with underscores.
func eventLine(e *adminv1.AuditEvent) string {
	field := func(s string) string {
		if s == "" {
			return "-"
		}
		return strings.Join(strings.Fields(s), "_")
	}
	return fmt.Sprintf("%d %s %-17s %s %s %s %s %s", e.GetSeq(), when(e.GetTime()), e.GetKind(),
		field(e.GetActor()), field(e.GetKeyId()), field(e.GetResult()), field(e.GetReason()), field(e.GetJti()))
}

func newAuditTailCmd() *cobra.Command {
	var (
		cf clientFlags
		f  auditFilter
	)
	cmd := &cobra.Command{
		Use:   "tail [--key-id ID] [--actor ID] [--kind K]",
		Short: "Print audit events as they are written",
		Long: `Print audit events matching every filter given as the server writes them, in
the same formats as 'latchkey audit query', until interrupted (Ctrl-C).

Only new events are printed; use 'latchkey audit query' for earlier ones. A reader
that falls too far behind is dropped by the server; the command then exits with a
'latchkey audit query --since ...' line that picks up from the last event printed.`,
		Example: `  latchkey audit tail --kind exchange
  latchkey audit tail --key-id 0123456789ab -o json`,
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
			ctx := cmd.Context()
			started := time.Now()
			stream, err := adminv1.NewAuditServiceClient(conn).TailAuditEvents(ctx,
				&adminv1.TailAuditEventsRequest{KeyId: f.keyID, Actor: f.actor, Kind: f.kind})
			if err != nil {
				return tailEnded(ctx, err, f, started)
			}
			show := eventPrinter(cmd.OutOrStdout(), cf.output)
			resume := started
			for {
				msg, err := stream.Recv()
				if err != nil {
					return tailEnded(ctx, err, f, resume)
				}
				if err := show(msg.GetEvent()); err != nil {
					return err
				}
				resume = msg.GetEvent().GetTime().AsTime()
			}
		},
	}
	cf.register(cmd, "admin", "text, json")
	f.register(cmd)
	return cmd
}

// tailEnded turns the end of a tail into the command's result: nil when
// the user stopped it, a resume hint when the server dropped a slow
// reader, err otherwise. resume is the time of the last event printed.
func tailEnded(ctx context.Context, err error, f auditFilter, resume time.Time) error {
	switch {
	case ctx.Err() != nil, errors.Is(err, io.EOF):
		return nil
	case status.Code(err) == codes.ResourceExhausted:
		// --since is inclusive, so events that share the last one's time
		// are printed again rather than missed.
		return fmt.Errorf("the server dropped this tail because it fell behind; resume with:\n  latchkey audit query --since %s%s --limit 0",
			resume.UTC().Format(time.RFC3339Nano), f.args())
	}
	return err
}

func newAuditVerifyCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check that no audit event was removed, altered or reordered",
		Long: `Ask the server to walk the whole audit chain and check every event's MAC and
its link to the event before it. Prints how many events were checked and exits 0
when the chain holds. Otherwise prints "audit chain broken at event N: REASON",
naming the first event that is missing, altered or out of place, and exits 1.

Events removed by the retention period are not a break: the chain is checked from
the first event kept.`,
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
			resp, err := adminv1.NewAuditServiceClient(conn).VerifyAuditChain(cmd.Context(), &adminv1.VerifyAuditChainRequest{})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if cf.output == "json" {
				err = printJSON(out, resp)
			} else {
				printVerify(out, resp)
			}
			if err != nil {
				return err
			}
			return verifyResult(resp)
		},
	}
	cf.register(cmd, "admin", "text, json")
	return cmd
}

// verifyResult is the error that makes a broken chain exit non-zero.
func verifyResult(r *adminv1.VerifyAuditChainResponse) error {
	if r.GetOk() {
		return nil
	}
	return fmt.Errorf("audit chain broken at event %d: %s", r.GetBrokenAt(), r.GetReason())
}

func printVerify(w io.Writer, r *adminv1.VerifyAuditChainResponse) {
	span := func() string {
		return fmt.Sprintf("%d events checked, seq %d to %d", r.GetEventsChecked(), r.GetFirstSeq(), r.GetLastSeq())
	}
	switch {
	case !r.GetOk():
		if r.GetEventsChecked() > 0 {
			fmt.Fprintf(w, "%s, before the break\n", span())
		}
		return
	case r.GetEventsChecked() == 0:
		fmt.Fprint(w, "audit chain ok: no events yet")
	default:
		fmt.Fprint(w, "audit chain ok: "+span())
	}
	if r.GetPrunedThrough() > 0 {
		fmt.Fprintf(w, "; events through seq %d removed by retention", r.GetPrunedThrough())
	}
	fmt.Fprintln(w)
}
