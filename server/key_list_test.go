package server

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
)

func (e *env) listIDs(req *adminv1.ListKeysRequest) []string {
	e.t.Helper()
	resp, err := e.admin().ListKeys(ctx(e.t), req)
	if err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, k := range resp.GetKeys() {
		ids = append(ids, k.GetKeyId())
	}
	return ids
}

func TestUsageIsVisibleWithoutAWritePerExchange(t *testing.T) {
	e := newEnv(t)
	key, meta := e.createKey(&adminv1.CreateKeyRequest{})
	for range 3 {
		e.exchange(key)
	}
	got, err := e.admin().GetKey(ctx(t), &adminv1.GetKeyRequest{KeyId: meta.GetKeyId()})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetKey().GetUseCount() != 3 || !got.GetKey().GetLastUsedAt().AsTime().Equal(e.clock.Now()) {
		t.Fatalf("usage before flush: count %d last %v", got.GetKey().GetUseCount(), got.GetKey().GetLastUsedAt())
	}
	stored, err := e.store.GetKey(ctx(t), meta.GetKeyId())
	if err != nil || stored.UseCount != 0 {
		t.Fatalf("the exchange path wrote usage to the store: %d, %v", stored.UseCount, err)
	}
	if err := e.usage.Flush(ctx(t)); err != nil {
		t.Fatal(err)
	}
	stored, err = e.store.GetKey(ctx(t), meta.GetKeyId())
	if err != nil || stored.UseCount != 3 || !stored.LastUsedAt.Equal(e.clock.Now()) {
		t.Fatalf("after flush: %d %v %v", stored.UseCount, stored.LastUsedAt, err)
	}
	again, _ := e.admin().GetKey(ctx(t), &adminv1.GetKeyRequest{KeyId: meta.GetKeyId()})
	if again.GetKey().GetUseCount() != 3 {
		t.Fatalf("flushed usage counted twice: %d", again.GetKey().GetUseCount())
	}
}

func TestListKeysFilters(t *testing.T) {
	e := newEnv(t)
	start := e.clock.Now()
	usedKey, used := e.createKey(&adminv1.CreateKeyRequest{Labels: map[string]string{"env": "prod"}})
	_, idle := e.createKey(&adminv1.CreateKeyRequest{Labels: map[string]string{"env": "dev"}, Lifetime: durationpb.New(48 * time.Hour)})
	_, rotating := e.createKey(&adminv1.CreateKeyRequest{RotationPeriod: durationpb.New(24 * time.Hour)})
	_, strict := e.createKey(&adminv1.CreateKeyRequest{Owner: "strict-team", BoundIdentities: []string{idWorkloadA}})
	e.clock.Advance(30 * 24 * time.Hour)
	e.exchange(usedKey) // idle's lifetime has passed, but the janitor has not run: still listed as active

	cases := []struct {
		name string
		req  *adminv1.ListKeysRequest
		want []string
	}{
		{"unused for 10 days", &adminv1.ListKeysRequest{UnusedSince: timestamppb.New(e.clock.Now().Add(-10 * 24 * time.Hour))},
			[]string{idle.GetKeyId(), rotating.GetKeyId(), strict.GetKeyId()}},
		{"rotation due", &adminv1.ListKeysRequest{RotationDue: true}, []string{rotating.GetKeyId(), strict.GetKeyId()}},
		{"attestation due", &adminv1.ListKeysRequest{AttestationDue: true}, []string{strict.GetKeyId()}},
		{"label with value", &adminv1.ListKeysRequest{Label: "env=prod"}, []string{used.GetKeyId()}},
		{"label present", &adminv1.ListKeysRequest{Label: "env"}, []string{used.GetKeyId(), idle.GetKeyId()}},
		{"expiring before", &adminv1.ListKeysRequest{ExpiringBefore: timestamppb.New(start.Add(72 * time.Hour))}, []string{idle.GetKeyId()}},
		{"owner and rotation due", &adminv1.ListKeysRequest{Owner: "strict-team", RotationDue: true}, []string{strict.GetKeyId()}},
		{"rotation due, one per page", &adminv1.ListKeysRequest{RotationDue: true, PageSize: 1}, []string{first(rotating.GetKeyId(), strict.GetKeyId())}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if got := e.listIDs(tc.req); !slices.Equal(got, want) {
				t.Fatalf("got %v, want %v", got, want)
			}
		})
	}
	t.Run("attesting clears attestation due", func(t *testing.T) {
		if _, err := e.admin().AttestKey(ctx(t), &adminv1.AttestKeyRequest{KeyId: strict.GetKeyId()}); err != nil {
			t.Fatal(err)
		}
		if got := e.listIDs(&adminv1.ListKeysRequest{AttestationDue: true}); len(got) != 0 {
			t.Fatalf("still due: %v", got)
		}
	})
	t.Run("rotating clears rotation due", func(t *testing.T) {
		if _, err := e.admin().RotateKey(ctx(t), &adminv1.RotateKeyRequest{KeyId: rotating.GetKeyId()}); err != nil {
			t.Fatal(err)
		}
		if got := e.listIDs(&adminv1.ListKeysRequest{RotationDue: true}); !slices.Equal(got, []string{strict.GetKeyId()}) {
			t.Fatalf("rotation due after rotating: %v", got)
		}
	})
}

func first(a, b string) string { return min(a, b) }
