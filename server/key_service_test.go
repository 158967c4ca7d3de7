package server

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	"github.com/latchkeyhq/latchkey/rootkey"
)

// The secret is shown once; the inventory never carries it or its hash
// (SECURITY-CASES K5).
func TestKeyInventoryNeverShowsSecret(t *testing.T) {
	e := newEnv(t)
	secret, meta := e.createKey(&adminv1.CreateKeyRequest{Description: "orders sync", Labels: map[string]string{"env": "prod"}})
	k, err := rootkey.Parse(secret)
	if err != nil {
		t.Fatalf("CreateKey returned an unparsable key: %v", err)
	}
	if meta.GetPrefix() != k.PublicPrefix() || meta.GetState() != adminv1.KeyState_KEY_STATE_ACTIVE || meta.GetCreatedBy() != idAdmin {
		t.Fatalf("record = %v", meta)
	}
	hash := e.pepper.Hash(k)
	secretPart := strings.TrimPrefix(secret, k.PublicPrefix())
	forbidden := []string{secretPart[:32], string(hash), hex.EncodeToString(hash), base64.StdEncoding.EncodeToString(hash)}
	got, err := e.admin().GetKey(ctx(t), &adminv1.GetKeyRequest{KeyId: meta.GetKeyId()})
	if err != nil {
		t.Fatal(err)
	}
	list, err := e.admin().ListKeys(ctx(t), &adminv1.ListKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []proto.Message{got, list} {
		raw, _ := proto.Marshal(m)
		js, _ := protojson.Marshal(m)
		for _, f := range forbidden {
			if strings.Contains(string(raw), f) || strings.Contains(string(js), f) {
				t.Fatalf("%T exposes secret material", m)
			}
		}
	}
	if !proto.Equal(got.GetKey(), meta) {
		t.Fatalf("GetKey = %v, want %v", got.GetKey(), meta)
	}
}

func TestListKeysPaginatesAndFilters(t *testing.T) {
	e := newEnv(t)
	for i := range 5 {
		owner := "team-a"
		if i%2 == 1 {
			owner = "team-b"
		}
		e.createKey(&adminv1.CreateKeyRequest{Owner: owner})
	}
	var ids []string
	token := ""
	for {
		page, err := e.admin().ListKeys(ctx(t), &adminv1.ListKeysRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.GetKeys()) > 2 {
			t.Fatalf("page of %d keys, want at most 2", len(page.GetKeys()))
		}
		for _, k := range page.GetKeys() {
			ids = append(ids, k.GetKeyId())
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	if len(ids) != 5 {
		t.Fatalf("listed %d keys, want 5", len(ids))
	}
	for i := 1; i < len(ids); i++ {
		if ids[i-1] >= ids[i] {
			t.Fatalf("keys not in stable id order: %v", ids)
		}
	}
	b, err := e.admin().ListKeys(ctx(t), &adminv1.ListKeysRequest{Owner: "team-b"})
	if err != nil || len(b.GetKeys()) != 2 {
		t.Fatalf("owner filter: %v, %v", b, err)
	}
	if _, err := e.admin().ListKeys(ctx(t), &adminv1.ListKeysRequest{PageToken: "%%%"}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad page token: got %v", err)
	}
}

func TestRevokeKeyIsIdempotent(t *testing.T) {
	e := newEnv(t)
	_, meta := e.createKey(&adminv1.CreateKeyRequest{})
	first, err := e.admin().RevokeKey(ctx(t), &adminv1.RevokeKeyRequest{KeyId: meta.GetKeyId(), Reason: adminv1.RevocationReason_REVOCATION_REASON_LEAKED})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	second, err := e.admin().RevokeKey(ctx(t), &adminv1.RevokeKeyRequest{KeyId: meta.GetKeyId(), Reason: adminv1.RevocationReason_REVOCATION_REASON_OTHER})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(first.GetKey(), second.GetKey()) || second.GetKey().GetRevocationReason() != adminv1.RevocationReason_REVOCATION_REASON_LEAKED ||
		second.GetKey().GetState() != adminv1.KeyState_KEY_STATE_REVOKED {
		t.Fatalf("second revocation changed the record: %v -> %v", first.GetKey(), second.GetKey())
	}
	revoked, err := e.admin().ListKeys(ctx(t), &adminv1.ListKeysRequest{State: adminv1.KeyState_KEY_STATE_REVOKED})
	if err != nil || len(revoked.GetKeys()) != 1 {
		t.Fatalf("state filter: %v %v", revoked, err)
	}
}

func TestKeyServiceRequestErrors(t *testing.T) {
	e := newEnv(t)
	valid := func(mod func(*adminv1.CreateKeyRequest)) *adminv1.CreateKeyRequest {
		r := &adminv1.CreateKeyRequest{Owner: "o", Scopes: []string{"orders.read"}, Audiences: []string{"orders-api"}}
		mod(r)
		return r
	}
	create := []struct {
		name string
		req  *adminv1.CreateKeyRequest
		msg  string
	}{
		{"no owner", valid(func(r *adminv1.CreateKeyRequest) { r.Owner = "" }), "owner"},
		{"control chars in owner", valid(func(r *adminv1.CreateKeyRequest) { r.Owner = "a\nb" }), "owner"},
		{"no scopes", valid(func(r *adminv1.CreateKeyRequest) { r.Scopes = nil }), "scope"},
		{"scope outside catalog", valid(func(r *adminv1.CreateKeyRequest) { r.Scopes = []string{"root"} }), `"root"`},
		{"no audience", valid(func(r *adminv1.CreateKeyRequest) { r.Audiences = nil }), "audience"},
		{"empty audience", valid(func(r *adminv1.CreateKeyRequest) { r.Audiences = []string{""} }), "audience"},
		{"bad binding", valid(func(r *adminv1.CreateKeyRequest) { r.BoundIdentities = []string{"spiffe://a/**/b"} }), "bound identity"},
		{"max ttl above policy", valid(func(r *adminv1.CreateKeyRequest) { r.MaxTtl = durationpb.New(2 * time.Hour) }), "max_ttl"},
		{"negative max ttl", valid(func(r *adminv1.CreateKeyRequest) { r.MaxTtl = durationpb.New(-time.Second) }), "max_ttl"},
		{"expiry in the past", valid(func(r *adminv1.CreateKeyRequest) { r.ExpiresAt = timestamppb.New(e.clock.Now().Add(-time.Second)) }), "expires_at"},
		{"expiry and lifetime", valid(func(r *adminv1.CreateKeyRequest) {
			r.ExpiresAt = timestamppb.New(e.clock.Now().Add(time.Hour))
			r.Lifetime = durationpb.New(time.Hour)
		}), "not both"},
	}
	for _, tc := range create {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.admin().CreateKey(ctx(t), tc.req)
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tc.msg) {
				t.Fatalf("got %v, want InvalidArgument mentioning %q", err, tc.msg)
			}
		})
	}
	unknown, _ := rootkey.Generate()
	other := []struct {
		name string
		call func() error
		code codes.Code
	}{
		{"get malformed id", func() error {
			_, err := e.admin().GetKey(ctx(t), &adminv1.GetKeyRequest{KeyId: "../x"})
			return err
		}, codes.InvalidArgument},
		{"get unknown id", func() error {
			_, err := e.admin().GetKey(ctx(t), &adminv1.GetKeyRequest{KeyId: unknown.ID()})
			return err
		}, codes.NotFound},
		{"revoke without reason", func() error {
			_, err := e.admin().RevokeKey(ctx(t), &adminv1.RevokeKeyRequest{KeyId: unknown.ID()})
			return err
		}, codes.InvalidArgument},
		{"revoke unknown", func() error {
			_, err := e.admin().RevokeKey(ctx(t), &adminv1.RevokeKeyRequest{KeyId: unknown.ID(), Reason: adminv1.RevocationReason_REVOCATION_REASON_OTHER})
			return err
		}, codes.NotFound},
		{"negative page size", func() error {
			_, err := e.admin().ListKeys(ctx(t), &adminv1.ListKeysRequest{PageSize: -1})
			return err
		}, codes.InvalidArgument},
	}
	for _, tc := range other {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); status.Code(err) != tc.code {
				t.Fatalf("got %v, want %v", err, tc.code)
			}
		})
	}
}
