package server

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/latchkeyhq/latchkey/audit"
	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
	"github.com/latchkeyhq/latchkey/rootkey"
)

func (e *env) auditClient() adminv1.AuditServiceClient {
	return adminv1.NewAuditServiceClient(e.conn(idAdmin))
}

// events returns every audit event matching q through the API.
func (e *env) events(q *adminv1.QueryAuditEventsRequest) []*adminv1.AuditEvent {
	e.t.Helper()
	var out []*adminv1.AuditEvent
	for {
		resp, err := e.auditClient().QueryAuditEvents(ctx(e.t), q)
		if err != nil {
			e.t.Fatalf("QueryAuditEvents: %v", err)
		}
		out = append(out, resp.GetEvents()...)
		if resp.GetNextPageToken() == "" {
			return out
		}
		q.PageToken = resp.GetNextPageToken()
	}
}

// otherSecret is a well-formed key with id's id and a secret that is not
// the key's.
func otherSecret(t *testing.T, id string) string {
	k, err := rootkey.GenerateFor(id)
	if err != nil {
		t.Fatal(err)
	}
	return k.Reveal()
}

func TestEveryExchangeOutcomeIsAudited(t *testing.T) {
	e := newEnv(t)
	good, key := e.createKey(&adminv1.CreateKeyRequest{})
	bound, boundKey := e.createKey(&adminv1.CreateKeyRequest{BoundIdentities: []string{idWorkloadB}})
	revoked, revokedKey := e.createKey(&adminv1.CreateKeyRequest{})
	if _, err := e.admin().RevokeKey(ctx(t), &adminv1.RevokeKeyRequest{KeyId: revokedKey.GetKeyId(), Reason: adminv1.RevocationReason_REVOCATION_REASON_LEAKED}); err != nil {
		t.Fatal(err)
	}
	unknownKey, err := rootkey.GenerateFor("AAAAAAAAAAAA")
	if err != nil {
		t.Fatal(err)
	}
	unknown := unknownKey.Reveal()
	tests := []struct {
		name   string
		key    string
		scopes []string
		keyID  string
		code   codes.Code
		result string
		reason string
		flags  []string
	}{
		{"granted", good, []string{"orders.read"}, key.GetKeyId(), codes.OK, "ok", "", nil},
		{"wrong secret", otherSecret(t, key.GetKeyId()), nil, key.GetKeyId(), codes.Unauthenticated, "denied", audit.ReasonBadSecret, nil},
		{"malformed", "lk_nope", nil, "", codes.Unauthenticated, "denied", audit.ReasonMalformedKey, nil},
		{"unknown id", unknown, nil, "AAAAAAAAAAAA", codes.Unauthenticated, "denied", audit.ReasonUnknownKey, nil},
		{"scope not allowed", good, []string{"billing.read"}, key.GetKeyId(), codes.PermissionDenied, "denied", audit.ReasonScopeDenied, nil},
		{"bound elsewhere", bound, nil, boundKey.GetKeyId(), codes.PermissionDenied, "denied", audit.ReasonNotBound, nil},
		{"revoked as leaked", revoked, nil, revokedKey.GetKeyId(), codes.Unauthenticated, "denied", audit.ReasonKeyRevoked, []string{audit.FlagLeaked}},
		{"invalid request", good, []string{""}, "", codes.InvalidArgument, "denied", audit.ReasonInvalidRequest, nil},
	}
	client := e.tokens(idWorkloadA)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// An alert raised by an earlier call (the leaked key's use) is
			// recorded by another goroutine and may take a sequence number
			// at any moment, so the check counts exchange events.
			before := e.trail.Head()
			count := len(e.events(&adminv1.QueryAuditEventsRequest{Kind: "exchange"}))
			resp, err := client.ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: tc.key, Scopes: tc.scopes})
			if status.Code(err) != tc.code {
				t.Fatalf("exchange: %v, want %v", err, tc.code)
			}
			// The event is durable before the response: it is there at once.
			evs := e.events(&adminv1.QueryAuditEventsRequest{Kind: "exchange"})
			if len(evs) != count+1 {
				t.Fatalf("%d exchange events after the call, want %d (written before the response)", len(evs), count+1)
			}
			last := evs[len(evs)-1]
			if last.GetSeq() <= before {
				t.Fatalf("last exchange event is %d, want one after %d", last.GetSeq(), before)
			}
			if last.GetResult() != tc.result || last.GetReason() != tc.reason || last.GetKeyId() != tc.keyID ||
				last.GetActor() != idWorkloadA || !strings.HasPrefix(last.GetPeer(), "127.0.0.1:") ||
				last.GetMethod() != latchkeyv1.TokenService_ExchangeToken_FullMethodName ||
				!slices.Equal(last.GetKeyFlags(), tc.flags) {
				t.Errorf("event = %v", protojson.Format(last))
			}
			if tc.code == codes.OK && (last.GetJti() != resp.GetJti() || !slices.Equal(last.GetScopes(), resp.GetScopes())) {
				t.Errorf("granted event jti %q scopes %v, response %q %v", last.GetJti(), last.GetScopes(), resp.GetJti(), resp.GetScopes())
			}
		})
	}
}

func TestAdminChangesAreAuditedWithTheirActor(t *testing.T) {
	e := newEnv(t)
	_, k := e.createKey(&adminv1.CreateKeyRequest{})
	id := k.GetKeyId()
	a := e.admin()
	steps := []func() error{
		func() error {
			_, err := a.DisableKey(ctx(t), &adminv1.DisableKeyRequest{KeyId: id, Reason: "suspicious"})
			return err
		},
		func() error { _, err := a.EnableKey(ctx(t), &adminv1.EnableKeyRequest{KeyId: id}); return err },
		func() error { _, err := a.AttestKey(ctx(t), &adminv1.AttestKeyRequest{KeyId: id}); return err },
		func() error { _, err := a.RotateKey(ctx(t), &adminv1.RotateKeyRequest{KeyId: id}); return err },
		func() error {
			_, err := a.RevokeTokens(ctx(t), &adminv1.RevokeTokensRequest{Target: &adminv1.RevokeTokensRequest_KeyId{KeyId: id}, Reason: "cleanup"})
			return err
		},
		func() error {
			_, err := a.RevokeKey(ctx(t), &adminv1.RevokeKeyRequest{KeyId: id, Reason: adminv1.RevocationReason_REVOCATION_REASON_COMPROMISED})
			return err
		},
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	// A caller without the admin role is refused, and that is recorded too.
	_, err := adminv1.NewKeyServiceClient(e.conn(idWorkloadA)).RevokeKey(ctx(t), &adminv1.RevokeKeyRequest{KeyId: id})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("workload RevokeKey: %v", err)
	}
	type row struct{ kind, actor, result, reason string }
	var got []row
	for _, ev := range e.events(&adminv1.QueryAuditEventsRequest{KeyId: id}) {
		got = append(got, row{ev.GetKind(), ev.GetActor(), ev.GetResult(), ev.GetReason()})
	}
	want := []row{
		{"key.create", idAdmin, "ok", ""},
		{"key.disable", idAdmin, "ok", "suspicious"},
		{"key.enable", idAdmin, "ok", ""},
		{"key.attest", idAdmin, "ok", ""},
		{"key.rotate", idAdmin, "ok", ""},
		{"tokens.revoke", idAdmin, "ok", "cleanup"},
		{"key.revoke", idAdmin, "ok", "compromised"},
		{"key.revoke", idWorkloadA, "denied", "permissiondenied"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("events for the key:\n got %v\nwant %v", got, want)
	}
	res, err := e.auditClient().VerifyAuditChain(ctx(t), &adminv1.VerifyAuditChainRequest{})
	if err != nil || !res.GetOk() || res.GetEventsChecked() < uint64(len(want)) {
		t.Errorf("VerifyAuditChain = %v, %v", res, err)
	}
}

// SECURITY-CASES V1: when the audit trail cannot be written the request
// fails, and no token is handed out unaudited.
func TestAuditFailureFailsTheRequest(t *testing.T) {
	e := newEnv(t)
	good, k := e.createKey(&adminv1.CreateKeyRequest{})
	client := e.tokens(idWorkloadA)
	e.auditDB.setFail(true)
	resp, err := client.ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: good})
	if status.Code(err) != codes.Unavailable || resp.GetAccessToken() != "" {
		t.Fatalf("exchange with the audit trail down = %v, %v; want Unavailable and no token", resp, err)
	}
	revoke := &adminv1.RevokeKeyRequest{KeyId: k.GetKeyId(), Reason: adminv1.RevocationReason_REVOCATION_REASON_OTHER}
	if _, err := e.admin().RevokeKey(ctx(t), revoke); status.Code(err) != codes.Unavailable {
		t.Fatalf("RevokeKey with the audit trail down = %v, want Unavailable", err)
	}
	e.auditDB.setFail(false)
	// The revocation was applied even though its response was refused; the
	// retry is recorded and the key stays revoked.
	if _, err := e.admin().RevokeKey(ctx(t), revoke); err != nil {
		t.Fatal(err)
	}
	if _, err := client.ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: good}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("exchange after revoke = %v", err)
	}
	res, err := e.auditClient().VerifyAuditChain(ctx(t), &adminv1.VerifyAuditChainRequest{})
	if err != nil || !res.GetOk() {
		t.Fatalf("chain after a failed write: %v, %v", res, err)
	}
}

// SECURITY-CASES V2: audit records hold identities, key ids and jtis, and
// never a root key, a token or the pepper.
func TestAuditRecordsCarryNoSecret(t *testing.T) {
	e := newEnv(t)
	good, _ := e.createKey(&adminv1.CreateKeyRequest{})
	client := e.tokens(idWorkloadA)
	resp, err := client.ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: good})
	if err != nil {
		t.Fatal(err)
	}
	wrong := otherSecret(t, good[len("lk_"):len("lk_")+12])
	client.ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: wrong})
	if _, err := client.RevokeToken(ctx(t), &latchkeyv1.RevokeTokenRequest{Token: resp.GetAccessToken()}); err != nil {
		t.Fatal(err)
	}
	var dump strings.Builder
	for _, ev := range e.events(&adminv1.QueryAuditEventsRequest{}) {
		b, _ := json.Marshal(ev)
		dump.Write(b)
	}
	tok := resp.GetAccessToken()
	parts := strings.Split(tok, ".")
	for name, secret := range map[string]string{
		"root key": good, "root key secret": good[len("lk_AAAAAAAAAAAA_"):], "wrong key": wrong,
		"token": tok, "token signature": parts[2], "token payload": parts[1], "pepper": string(e.pepperB),
	} {
		if strings.Contains(dump.String(), secret) {
			t.Errorf("audit trail contains the %s", name)
		}
	}
	if !strings.Contains(dump.String(), resp.GetJti()) {
		t.Error("audit trail does not name the token's jti")
	}
}

func TestTailStreamsNewEvents(t *testing.T) {
	e := newEnv(t)
	good, k := e.createKey(&adminv1.CreateKeyRequest{})
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := e.auditClient().TailAuditEvents(c, &adminv1.TailAuditEventsRequest{Kind: "exchange", KeyId: k.GetKeyId()})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return e.trail.Subscribers() == 1 })
	resp, err := e.tokens(idWorkloadA).ExchangeToken(ctx(t), &latchkeyv1.ExchangeTokenRequest{RootKey: good})
	if err != nil {
		t.Fatal(err)
	}
	got, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if got.GetEvent().GetJti() != resp.GetJti() || got.GetEvent().GetKind() != "exchange" {
		t.Errorf("tail got %v", got.GetEvent())
	}
	bad, err := e.auditClient().TailAuditEvents(c, &adminv1.TailAuditEventsRequest{Kind: "nope"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Errorf("tail of an unknown kind: %v, want InvalidArgument", err)
	}
}

func TestQueryRejectsBadInput(t *testing.T) {
	e := newEnv(t)
	for name, q := range map[string]*adminv1.QueryAuditEventsRequest{
		"unknown kind": {Kind: "nope"},
		"forged token": {PageToken: "zzz"},
		"negative":     {PageSize: -1},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.auditClient().QueryAuditEvents(ctx(t), q)
			if status.Code(err) != codes.InvalidArgument {
				t.Errorf("got %v, want InvalidArgument", err)
			}
		})
	}
}

// waitFor polls cond: only for another goroutine to reach a state.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}
