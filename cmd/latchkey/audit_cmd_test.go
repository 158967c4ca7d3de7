package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
)

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in      string
		want    time.Time
		null    bool
		wantErr bool
	}{
		{in: "", null: true},
		{in: "2026-01-31T09:00:00Z", want: time.Date(2026, 1, 31, 9, 0, 0, 0, time.UTC)},
		{in: "2026-01-31T09:00:00.5+01:00", want: time.Date(2026, 1, 31, 8, 0, 0, 500_000_000, time.UTC)},
		{in: "1h", want: now.Add(-time.Hour)},
		{in: "90m", want: now.Add(-90 * time.Minute)},
		{in: "7d", want: now.Add(-7 * 24 * time.Hour)},
		{in: "1d12h", want: now.Add(-36 * time.Hour)},
		{in: "0s", want: now},
		{in: "-1h", wantErr: true},
		{in: "yesterday", wantErr: true},
		{in: "2026-01-31", wantErr: true},
		{in: "1x", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseWhen("--since", tc.in, now)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), `--since "`+tc.in+`"`) {
					t.Fatalf("parseWhen(%q) = %v, %v; want an error naming the flag and value", tc.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.null {
				if got != nil {
					t.Fatalf("parseWhen(%q) = %v, want no bound", tc.in, got)
				}
				return
			}
			if !got.AsTime().Equal(tc.want) {
				t.Fatalf("parseWhen(%q) = %v, want %v", tc.in, got.AsTime(), tc.want)
			}
		})
	}
}

// pagedAudit serves events in pages of at most maxPage (the server's own
// scan bound can return short pages), and fails on call failOn.
type pagedAudit struct {
	adminv1.AuditServiceClient
	events  []*adminv1.AuditEvent
	maxPage int
	failOn  int
	asked   []int32
}

func (p *pagedAudit) QueryAuditEvents(_ context.Context, req *adminv1.QueryAuditEventsRequest, _ ...grpc.CallOption) (*adminv1.QueryAuditEventsResponse, error) {
	p.asked = append(p.asked, req.GetPageSize())
	if len(p.asked) == p.failOn {
		return nil, status.Error(codes.Unavailable, "store down")
	}
	start := 0
	if req.GetPageToken() != "" {
		start, _ = strconv.Atoi(req.GetPageToken())
	}
	end := min(start+int(req.GetPageSize()), start+p.maxPage, len(p.events))
	resp := &adminv1.QueryAuditEventsResponse{Events: p.events[start:end]}
	if end < len(p.events) {
		resp.NextPageToken = strconv.Itoa(end)
	}
	return resp, nil
}

func TestQueryEventsPaging(t *testing.T) {
	cases := []struct {
		name      string
		events    int
		maxPage   int
		limit     int
		failOn    int
		wantSeen  int
		wantAsked []int32
		wantMore  bool
		wantCode  codes.Code
	}{
		{name: "no limit follows every page", events: 2500, maxPage: 1000, limit: 0, wantSeen: 2500, wantAsked: []int32{1000, 1000, 1000}},
		{name: "limit within one page", events: 2500, maxPage: 1000, limit: 100, wantSeen: 100, wantAsked: []int32{100}, wantMore: true},
		{name: "limit across pages asks only for the rest", events: 2500, maxPage: 1000, limit: 1500, wantSeen: 1500, wantAsked: []int32{1000, 500}, wantMore: true},
		{name: "limit equal to the matches", events: 2500, maxPage: 1000, limit: 2500, wantSeen: 2500, wantAsked: []int32{1000, 1000, 500}},
		{name: "fewer matches than the limit", events: 5, maxPage: 1000, limit: 10, wantSeen: 5, wantAsked: []int32{10}},
		{name: "short pages", events: 30, maxPage: 7, limit: 20, wantSeen: 20, wantAsked: []int32{20, 13, 6}, wantMore: true},
		{name: "nothing matches", events: 0, maxPage: 1000, limit: 100, wantSeen: 0, wantAsked: []int32{100}},
		{name: "error on a later page", events: 2500, maxPage: 1000, limit: 0, failOn: 2, wantSeen: 1000, wantAsked: []int32{1000, 1000}, wantCode: codes.Unavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &pagedAudit{maxPage: tc.maxPage, failOn: tc.failOn}
			for i := range tc.events {
				p.events = append(p.events, &adminv1.AuditEvent{Seq: uint64(i + 1)})
			}
			var seen []uint64
			more, err := queryEvents(context.Background(), p, &adminv1.QueryAuditEventsRequest{Kind: "exchange"}, tc.limit,
				func(e *adminv1.AuditEvent) error { seen = append(seen, e.GetSeq()); return nil })
			if status.Code(err) != tc.wantCode {
				t.Fatalf("err = %v, want code %v", err, tc.wantCode)
			}
			if len(seen) != tc.wantSeen || more != tc.wantMore || !equalInts(p.asked, tc.wantAsked) {
				t.Fatalf("saw %d events, more=%t, page sizes %v; want %d, %t, %v", len(seen), more, p.asked, tc.wantSeen, tc.wantMore, tc.wantAsked)
			}
			for i, s := range seen {
				if s != uint64(i+1) {
					t.Fatalf("event %d has seq %d: pages skipped or repeated events", i, s)
				}
			}
		})
	}
}

func equalInts(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestEventLine(t *testing.T) {
	at := timestamppb.New(time.Date(2026, 1, 31, 9, 0, 0, 123, time.UTC))
	cases := []struct {
		name string
		e    *adminv1.AuditEvent
		want string
	}{
		{"granted exchange", &adminv1.AuditEvent{Seq: 7, Time: at, Kind: "exchange", Actor: "spiffe://x/w", KeyId: "k1", Result: "ok", Jti: "j1"},
			"7 2026-01-31T09:00:00Z exchange          spiffe://x/w k1 ok - j1"},
		{"system event", &adminv1.AuditEvent{Seq: 1, Time: at, Kind: "service.start", Actor: "system", Result: "ok"},
			"1 2026-01-31T09:00:00Z service.start     system - ok - -"},
		{"reason with spaces", &adminv1.AuditEvent{Seq: 9, Time: at, Kind: "key.disable", KeyId: "k1", Result: "ok", Reason: "owner  left team"},
			"9 2026-01-31T09:00:00Z key.disable       - k1 ok owner_left_team -"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := eventLine(tc.e); got != tc.want {
				t.Fatalf("eventLine = %q\nwant        %q", got, tc.want)
			}
			if n := len(strings.Fields(eventLine(tc.e))); n != 8 {
				t.Fatalf("%d columns, want 8", n)
			}
		})
	}
}

func TestTailEnded(t *testing.T) {
	resume := time.Date(2026, 1, 31, 9, 0, 0, 250_000_000, time.UTC)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	unavailable := status.Error(codes.Unavailable, "server shutting down")
	behind := status.Error(codes.ResourceExhausted, "reader fell behind")
	cases := []struct {
		name string
		ctx  context.Context
		err  error
		f    auditFilter
		want string // "" for nil
	}{
		{"interrupted", canceled, status.Error(codes.Canceled, "context canceled"), auditFilter{}, ""},
		{"stream closed", context.Background(), io.EOF, auditFilter{}, ""},
		{"fell behind", context.Background(), behind, auditFilter{kind: "exchange", keyID: "k1"},
			"the server dropped this tail because it fell behind; resume with:\n  latchkey audit query --since 2026-01-31T09:00:00.25Z --key-id k1 --kind exchange --limit 0"},
		{"fell behind, no filter", context.Background(), behind, auditFilter{},
			"the server dropped this tail because it fell behind; resume with:\n  latchkey audit query --since 2026-01-31T09:00:00.25Z --limit 0"},
		{"server stopped", context.Background(), unavailable, auditFilter{}, unavailable.Error()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tailEnded(tc.ctx, tc.err, tc.f, resume)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("tailEnded = %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("tailEnded = %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestPrintVerify(t *testing.T) {
	cases := []struct {
		name    string
		r       *adminv1.VerifyAuditChainResponse
		wantOut string
		wantErr string
	}{
		{"ok", &adminv1.VerifyAuditChainResponse{Ok: true, FirstSeq: 1, LastSeq: 12, EventsChecked: 12},
			"audit chain ok: 12 events checked, seq 1 to 12\n", ""},
		{"ok after retention", &adminv1.VerifyAuditChainResponse{Ok: true, FirstSeq: 4, LastSeq: 12, EventsChecked: 9, PrunedThrough: 3},
			"audit chain ok: 9 events checked, seq 4 to 12; events through seq 3 removed by retention\n", ""},
		{"ok and empty", &adminv1.VerifyAuditChainResponse{Ok: true, FirstSeq: 1},
			"audit chain ok: no events yet\n", ""},
		{"broken", &adminv1.VerifyAuditChainResponse{FirstSeq: 1, LastSeq: 4, EventsChecked: 4, BrokenAt: 5, Reason: "event altered (MAC mismatch)"},
			"4 events checked, seq 1 to 4, before the break\n", "audit chain broken at event 5: event altered (MAC mismatch)"},
		{"broken at the first", &adminv1.VerifyAuditChainResponse{FirstSeq: 1, BrokenAt: 1, Reason: "event altered (MAC mismatch)"},
			"", "audit chain broken at event 1: event altered (MAC mismatch)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			printVerify(&out, tc.r)
			if out.String() != tc.wantOut {
				t.Fatalf("printed %q, want %q", out.String(), tc.wantOut)
			}
			err := verifyResult(tc.r)
			if got := errText(err); got != tc.wantErr {
				t.Fatalf("verifyResult = %q, want %q", got, tc.wantErr)
			}
		})
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Flags are checked before any call, and what only the server can judge
// (a kind, a time range) comes back as its InvalidArgument.
func TestAuditCommandFlags(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	startDev(t, state)
	cases := []struct {
		name       string
		args       []string
		wantStatus int
		wantErr    []string
		wantLines  int // -1: not checked
	}{
		{"bad since", []string{"query", "--since", "yesterday"}, 1, []string{`--since "yesterday": want an RFC 3339 time`}, 0},
		{"since in the future", []string{"query", "--since=-2h"}, 1, []string{`--since "-2h"`}, 0},
		{"bad until", []string{"query", "--until", "2026-01-31"}, 1, []string{`--until "2026-01-31"`}, 0},
		{"negative limit", []string{"query", "--limit", "-1"}, 1, []string{"--limit -1: want a number of events, or 0 for no limit"}, 0},
		{"unknown output", []string{"query", "-o", "yaml"}, 1, []string{`--output "yaml": want one of text, json`}, 0},
		{"unknown kind", []string{"query", "--kind", "bogus"}, 1, []string{"latchkey: InvalidArgument: ", `unknown kind "bogus"`}, 0},
		{"until before since", []string{"query", "--since", "1h", "--until", "2h"}, 1, []string{"latchkey: InvalidArgument: ", "until must be after since"}, 0},
		{"tail unknown kind", []string{"tail", "--kind", "bogus"}, 1, []string{"latchkey: InvalidArgument: ", "unknown event kind"}, 0},
		{"verify unknown output", []string{"verify", "-o", "table"}, 1, []string{`--output "table"`}, 0},
		{"extra argument", []string{"verify", "now"}, 1, []string{`unknown command "now"`}, 0},
		{"limit stops the listing", []string{"query", "--limit", "1"}, 0, []string{"stopped at --limit 1; more events may match"}, 1},
		{"known kind", []string{"query", "--kind", "key.create", "-o", "json"}, 0, nil, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"audit"}, tc.args...)
			out, errOut, err := run("", append(args, "--state", state)...)
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantStatus {
				t.Fatalf("exit status %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantStatus, out, errOut)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(errOut, w) {
					t.Fatalf("stderr %q lacks %q", errOut, w)
				}
			}
			if tc.wantStatus == 0 && len(tc.wantErr) == 0 && errOut != "" {
				t.Fatalf("unexpected stderr %q", errOut)
			}
			if n := strings.Count(out, "\n"); tc.wantLines >= 0 && n != tc.wantLines {
				t.Fatalf("stdout has %d lines, want %d:\n%s", n, tc.wantLines, out)
			}
		})
	}
}
