package server

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
)

// RFC 7009: a holder revokes its own token; unknown or malformed tokens are
// OK; someone else's token is refused and stays active (SECURITY-CASES I7).
func TestRevokeTokenByItsHolder(t *testing.T) {
	e := newEnv(t)
	bound, _ := e.createKey(&adminv1.CreateKeyRequest{BoundIdentities: []string{idWorkloadA}})
	open, _ := e.createKey(&adminv1.CreateKeyRequest{})
	mine := e.exchange(bound).GetAccessToken()
	other := e.exchange(open).GetAccessToken() // issued to workload A's certificate

	revoke := func(id, tok string) error {
		_, err := e.tokens(id).RevokeToken(ctx(t), &latchkeyv1.RevokeTokenRequest{Token: tok})
		return err
	}
	if err := revoke(idWorkloadB, other); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("revoking someone else's token: %v, want PermissionDenied", err)
	}
	if !e.introspect(other).GetActive() {
		t.Fatal("a refused revocation must leave the token active")
	}
	before := e.view.Revision()
	for name, tok := range map[string]string{"malformed": "x.y.z", "empty": "", "garbage": "not a token"} {
		if err := revoke(idWorkloadB, tok); err != nil {
			t.Errorf("%s token: %v, want OK", name, err)
		}
	}
	if e.view.Revision() != before {
		t.Fatal("invalid tokens must store nothing")
	}
	if err := revoke(idWorkloadA, mine); err != nil {
		t.Fatal(err)
	}
	if e.introspect(mine).GetActive() {
		t.Fatal("revoked token is still active")
	}
	if err := revoke(idWorkloadA, mine); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	if err := revoke(idWorkloadA, other); err != nil {
		t.Fatalf("the certificate holder revoking its own token: %v", err)
	}
	if e.introspect(other).GetActive() {
		t.Fatal("token revoked by its certificate holder is still active")
	}
}

func TestRevokeTokensAdminForms(t *testing.T) {
	e := newEnv(t)
	key, meta := e.createKey(&adminv1.CreateKeyRequest{})
	oldTok := e.exchange(key).GetAccessToken()
	e.clock.Advance(time.Second)
	cutoff := e.clock.Now()
	e.clock.Advance(time.Second)
	newTok := e.exchange(key).GetAccessToken()

	if _, err := e.admin().RevokeTokens(ctx(t), &adminv1.RevokeTokensRequest{
		Target: &adminv1.RevokeTokensRequest_KeyId{KeyId: meta.GetKeyId()}, IssuedBefore: timestamppb.New(cutoff)}); err != nil {
		t.Fatal(err)
	}
	if e.introspect(oldTok).GetActive() || !e.introspect(newTok).GetActive() {
		t.Fatal("key cascade must cover exactly the tokens issued before the cutoff")
	}
	if _, err := e.admin().RevokeTokens(ctx(t), &adminv1.RevokeTokensRequest{
		Target: &adminv1.RevokeTokensRequest_Subject{Subject: "orders-team"}}); err != nil {
		t.Fatal(err)
	}
	if e.introspect(newTok).GetActive() {
		t.Fatal("subject revocation must cover the owner's tokens")
	}
	e.clock.Advance(time.Second)
	fresh := e.exchange(key).GetAccessToken()
	if !e.introspect(fresh).GetActive() {
		t.Fatal("tokens issued after a subject revocation are active")
	}
	bad := []*adminv1.RevokeTokensRequest{
		{},
		{Target: &adminv1.RevokeTokensRequest_KeyId{KeyId: "../x"}},
		{Target: &adminv1.RevokeTokensRequest_Jti{Jti: ""}},
	}
	for _, req := range bad {
		if _, err := e.admin().RevokeTokens(ctx(t), req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%v: %v, want InvalidArgument", req, err)
		}
	}
	if _, err := e.admin().RevokeTokens(ctx(t), &adminv1.RevokeTokensRequest{
		Target: &adminv1.RevokeTokensRequest_SigningKid{SigningKid: "unknown"}}); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown signing kid: %v", err)
	}
}

// The store failing during a revocation: the call fails and nothing is
// acknowledged or applied.
func TestRevocationFailsClosed(t *testing.T) {
	e := newEnv(t)
	key, _ := e.createKey(&adminv1.CreateKeyRequest{})
	tok := e.exchange(key)
	e.store.SetFailing(true)
	_, err := e.admin().RevokeTokens(ctx(t), &adminv1.RevokeTokensRequest{Target: &adminv1.RevokeTokensRequest_Jti{Jti: tok.GetJti()}})
	e.store.SetFailing(false)
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("got %v, want Unavailable", err)
	}
	if !e.introspect(tok.GetAccessToken()).GetActive() {
		t.Fatal("an unacknowledged revocation took effect")
	}
}

// A watcher gets a snapshot, then every revocation live, in revision order;
// reconnecting from its revision resumes without a snapshot.
func TestWatchRevocations(t *testing.T) {
	e := newEnv(t)
	admin := e.admin()
	revokeJTI := func(jti string) uint64 {
		r, err := admin.RevokeTokens(ctx(t), &adminv1.RevokeTokensRequest{Target: &adminv1.RevokeTokensRequest_Jti{Jti: jti}})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetRevision()
	}
	first := revokeJTI("jti-before-watch")
	c, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := e.tokens(idIntrospect).WatchRevocations(c, &latchkeyv1.WatchRevocationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := stream.Recv()
	if err != nil || !snap.GetResync() || !snap.GetSnapshotComplete() || snap.GetRevision() != first ||
		len(snap.GetRevocations()) != 1 || snap.GetRevocations()[0].GetValue() != "jti-before-watch" {
		t.Fatalf("snapshot: %v %v", snap, err)
	}
	var want []uint64
	for _, j := range []string{"a", "b", "c"} {
		want = append(want, revokeJTI(j))
	}
	var got []uint64
	for len(got) < len(want) {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if msg.GetResync() {
			t.Fatal("live events must not reset the replica")
		}
		for _, r := range msg.GetRevocations() {
			got = append(got, r.GetRevision())
		}
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("revisions %v, want %v", got, want)
		}
	}
	cancel()

	resumed, err := e.tokens(idIntrospect).WatchRevocations(ctx(t), &latchkeyv1.WatchRevocationsRequest{FromRevision: want[0]})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := resumed.Recv()
	if err != nil || msg.GetResync() || len(msg.GetRevocations()) == 0 || msg.GetRevocations()[0].GetRevision() != want[1] {
		t.Fatalf("resume from %d: %v %v", want[0], msg, err)
	}
	denied, err := e.tokens(idWorkloadA).WatchRevocations(ctx(t), &latchkeyv1.WatchRevocationsRequest{})
	if err == nil {
		_, err = denied.Recv()
	}
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("a caller without the introspect role: %v", err)
	}
}
