package server

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
)

func (e *env) tryExchange(key string) error {
	_, err := e.tokens(idWorkloadA).ExchangeToken(ctx(e.t), &latchkeyv1.ExchangeTokenRequest{RootKey: key})
	return err
}

// The old secret works until the grace deadline and stops exactly there; the
// new one works at once (SECURITY-CASES K8).
func TestRotationGraceBoundary(t *testing.T) {
	e := newEnv(t)
	oldKey, meta := e.createKey(&adminv1.CreateKeyRequest{})
	resp, err := e.admin().RotateKey(ctx(t), &adminv1.RotateKeyRequest{KeyId: meta.GetKeyId(), Grace: durationpb.New(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	newKey := resp.GetRootKey()
	if newKey == oldKey || !strings.HasPrefix(newKey, meta.GetPrefix()) {
		t.Fatal("rotation must keep the key id and change the secret")
	}
	if got := resp.GetKey().GetGraceDeadline().AsTime(); !got.Equal(e.clock.Now().Add(time.Hour)) {
		t.Fatalf("grace deadline %v", got)
	}
	steps := []struct {
		at           time.Duration
		oldOK, newOK bool
	}{
		{0, true, true},
		{time.Hour - time.Second, true, true},
		{time.Hour, false, true},
		{time.Hour + time.Second, false, true},
	}
	start := e.clock.Now()
	for _, st := range steps {
		t.Run(fmt.Sprintf("at+%s", st.at), func(t *testing.T) {
			e.clock.Advance(start.Add(st.at).Sub(e.clock.Now()))
			if err := e.tryExchange(oldKey); (err == nil) != st.oldOK {
				t.Fatalf("old secret: err=%v, want ok=%v", err, st.oldOK)
			}
			if err := e.tryExchange(newKey); (err == nil) != st.newOK {
				t.Fatalf("new secret: err=%v, want ok=%v", err, st.newOK)
			}
		})
	}
	t.Run("grace zero stops the old secret at once", func(t *testing.T) {
		r2, err := e.admin().RotateKey(ctx(t), &adminv1.RotateKeyRequest{KeyId: meta.GetKeyId(), Grace: durationpb.New(0)})
		if err != nil {
			t.Fatal(err)
		}
		assertInvalidRootKey(t, e.tryExchange(newKey))
		if err := e.tryExchange(r2.GetRootKey()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("grace over the policy maximum", func(t *testing.T) {
		_, err := e.admin().RotateKey(ctx(t), &adminv1.RotateKeyRequest{KeyId: meta.GetKeyId(), Grace: durationpb.New(49 * time.Hour)})
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "max_rotation_grace") {
			t.Fatalf("got %v", err)
		}
	})
}

// Every state transition, and what it allows afterwards (SECURITY-CASES K9).
func TestKeyStateTransitions(t *testing.T) {
	e := newEnv(t)
	key, meta := e.createKey(&adminv1.CreateKeyRequest{})
	id := meta.GetKeyId()
	tok := e.exchange(key).GetAccessToken()

	d, err := e.admin().DisableKey(ctx(t), &adminv1.DisableKeyRequest{KeyId: id, Reason: "suspicious use"})
	if err != nil || d.GetKey().GetState() != adminv1.KeyState_KEY_STATE_DISABLED || d.GetKey().GetDisabledReason() != "suspicious use" {
		t.Fatalf("disable: %v %v", d, err)
	}
	assertInvalidRootKey(t, e.tryExchange(key))
	if e.introspect(tok).GetActive() {
		t.Fatal("tokens of a disabled key must be inactive")
	}
	// Token times have one-second resolution: a token minted in the same
	// second as the disable counts as issued before it.
	e.clock.Advance(time.Second)
	en, err := e.admin().EnableKey(ctx(t), &adminv1.EnableKeyRequest{KeyId: id})
	if err != nil || en.GetKey().GetState() != adminv1.KeyState_KEY_STATE_ACTIVE || en.GetKey().GetDisabledAt() != nil {
		t.Fatalf("enable: %v %v", en, err)
	}
	if err := e.tryExchange(key); err != nil {
		t.Fatalf("exchange after enable: %v", err)
	}
	if e.introspect(tok).GetActive() {
		t.Fatal("tokens issued before the key was disabled must stay revoked after it is enabled")
	}
	if !e.introspect(e.exchange(key).GetAccessToken()).GetActive() {
		t.Fatal("a token minted after re-enabling must be active")
	}
	at, err := e.admin().AttestKey(ctx(t), &adminv1.AttestKeyRequest{KeyId: id, Note: "still used by billing"})
	if err != nil || !at.GetKey().GetLastAttestedAt().AsTime().Equal(e.clock.Now()) {
		t.Fatalf("attest: %v %v", at, err)
	}
	if _, err := e.admin().RevokeKey(ctx(t), &adminv1.RevokeKeyRequest{KeyId: id, Reason: adminv1.RevocationReason_REVOCATION_REASON_DECOMMISSIONED}); err != nil {
		t.Fatal(err)
	}
	refused := map[string]func() error{
		"rotate": func() error {
			_, err := e.admin().RotateKey(ctx(t), &adminv1.RotateKeyRequest{KeyId: id})
			return err
		},
		"enable": func() error {
			_, err := e.admin().EnableKey(ctx(t), &adminv1.EnableKeyRequest{KeyId: id})
			return err
		},
		"disable": func() error {
			_, err := e.admin().DisableKey(ctx(t), &adminv1.DisableKeyRequest{KeyId: id})
			return err
		},
		"attest": func() error {
			_, err := e.admin().AttestKey(ctx(t), &adminv1.AttestKeyRequest{KeyId: id})
			return err
		},
		"update": func() error {
			_, err := e.admin().UpdateKey(ctx(t), &adminv1.UpdateKeyRequest{Key: &adminv1.Key{KeyId: id, Description: "x"},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description"}}})
			return err
		},
	}
	for name, call := range refused {
		t.Run(name+" revoked key", func(t *testing.T) {
			if err := call(); status.Code(err) != codes.FailedPrecondition {
				t.Fatalf("got %v, want FailedPrecondition", err)
			}
		})
	}
	hist, err := e.admin().ListKeyHistory(ctx(t), &adminv1.ListKeyHistoryRequest{KeyId: id})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range hist.GetEvents() {
		actions = append(actions, ev.GetAction())
		if ev.GetActor() != idAdmin {
			t.Fatalf("event %v: actor %q, want the admin identity", ev.GetAction(), ev.GetActor())
		}
	}
	if got := strings.Join(actions, ","); got != "revoked,attested,enabled,disabled,created" {
		t.Fatalf("history newest first = %s", got)
	}
}

func TestUpdateKey(t *testing.T) {
	e := newEnv(t)
	_, meta := e.createKey(&adminv1.CreateKeyRequest{BoundIdentities: []string{idWorkloadA}})
	id := meta.GetKeyId()
	update := func(k *adminv1.Key, paths ...string) (*adminv1.UpdateKeyResponse, error) {
		k.KeyId = id
		return e.admin().UpdateKey(ctx(t), &adminv1.UpdateKeyRequest{Key: k, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
	}
	shrunk, err := update(&adminv1.Key{Scopes: []string{"orders.read"}, Description: "ignored"}, "scopes")
	if err != nil || strings.Join(shrunk.GetKey().GetScopes(), " ") != "orders.read" || shrunk.GetKey().GetDescription() != "" {
		t.Fatalf("shrink: %v %v", shrunk, err)
	}
	if _, err := update(&adminv1.Key{Scopes: []string{"orders.read", "billing.read"}, Audiences: []string{"orders-api", "billing-api"}}, "scopes", "audiences"); err != nil {
		t.Fatal(err)
	}
	hist, err := e.admin().ListKeyHistory(ctx(t), &adminv1.ListKeyHistoryRequest{KeyId: id})
	if err != nil {
		t.Fatal(err)
	}
	widenings := 0
	for _, ev := range hist.GetEvents() {
		if ev.GetAction() == "scopes_widened" {
			widenings++
			if ev.GetDetail() != "scopes +billing.read; audiences +billing-api" {
				t.Fatalf("widening detail %q", ev.GetDetail())
			}
		}
	}
	if widenings != 1 {
		t.Fatalf("%d widening events, want exactly 1 (shrinking is not one)", widenings)
	}
	bad := []struct {
		name  string
		k     *adminv1.Key
		paths []string
	}{
		{"empty mask", &adminv1.Key{}, nil},
		{"unknown field", &adminv1.Key{}, []string{"secret_hash"}},
		{"immutable field", &adminv1.Key{}, []string{"state"}},
		{"uncatalogued scope", &adminv1.Key{Scopes: []string{"root"}}, []string{"scopes"}},
		{"empty owner", &adminv1.Key{}, []string{"owner"}},
		{"past expiry", &adminv1.Key{ExpiresAt: timestamppb.New(e.clock.Now().Add(-time.Hour))}, []string{"expires_at"}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := update(tc.k, tc.paths...); status.Code(err) != codes.InvalidArgument {
				t.Fatalf("got %v, want InvalidArgument", err)
			}
		})
	}
	t.Run("concurrent updates lose nothing", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := update(&adminv1.Key{Description: fmt.Sprint("d", i)}, "description"); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		h, err := e.admin().ListKeyHistory(ctx(t), &adminv1.ListKeyHistoryRequest{KeyId: id})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ev := range h.GetEvents() {
			if ev.GetDetail() == "fields: description" {
				n++
			}
		}
		if n != 16 {
			t.Fatalf("%d description updates recorded, want 16", n)
		}
	})
}

func TestCreateKeyPolicyRules(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name string
		req  *adminv1.CreateKeyRequest
		rule string
	}{
		{"binding required for the owner", &adminv1.CreateKeyRequest{Owner: "strict-team"}, "requires at least one bound identity"},
		{"lifetime over the owner's maximum", &adminv1.CreateKeyRequest{Owner: "strict-team", BoundIdentities: []string{idWorkloadA},
			Lifetime: durationpb.New(721 * time.Hour)}, "keys.max_lifetime"},
		{"uncatalogued scope", &adminv1.CreateKeyRequest{Scopes: []string{"root"}}, "scope catalog"},
		{"bad rotation period", &adminv1.CreateKeyRequest{RotationPeriod: durationpb.New(time.Millisecond)}, "rotation_period"},
		{"bad rate limit", &adminv1.CreateKeyRequest{RateLimit: &adminv1.RateLimit{PerSecond: 0, Burst: 1}}, "rate_limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.req.Scopes == nil {
				tc.req.Scopes = []string{"orders.read"}
			}
			tc.req.Audiences = []string{"orders-api"}
			if tc.req.Owner == "" {
				tc.req.Owner = "orders-team"
			}
			_, err := e.admin().CreateKey(ctx(t), tc.req)
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tc.rule) {
				t.Fatalf("got %v, want InvalidArgument naming %q", err, tc.rule)
			}
		})
	}
	t.Run("owner rules give due dates and a default expiry", func(t *testing.T) {
		_, k := e.createKey(&adminv1.CreateKeyRequest{Owner: "strict-team", BoundIdentities: []string{idWorkloadA}})
		now := e.clock.Now()
		if !k.GetExpiresAt().AsTime().Equal(now.Add(720*time.Hour)) ||
			!k.GetAttestationDueAt().AsTime().Equal(now.Add(240*time.Hour)) ||
			!k.GetRotationDueAt().AsTime().Equal(now.Add(720*time.Hour)) {
			t.Fatalf("due dates: %v", k)
		}
	})
}

func TestUnknownKeyIsNotFoundOnEveryAdminCall(t *testing.T) {
	e := newEnv(t)
	id := "AAAAAAAAAAAA"
	calls := map[string]func() error{
		"get":    func() error { _, err := e.admin().GetKey(ctx(t), &adminv1.GetKeyRequest{KeyId: id}); return err },
		"rotate": func() error { _, err := e.admin().RotateKey(ctx(t), &adminv1.RotateKeyRequest{KeyId: id}); return err },
		"disable": func() error {
			_, err := e.admin().DisableKey(ctx(t), &adminv1.DisableKeyRequest{KeyId: id})
			return err
		},
		"enable": func() error { _, err := e.admin().EnableKey(ctx(t), &adminv1.EnableKeyRequest{KeyId: id}); return err },
		"attest": func() error { _, err := e.admin().AttestKey(ctx(t), &adminv1.AttestKeyRequest{KeyId: id}); return err },
		"history": func() error {
			_, err := e.admin().ListKeyHistory(ctx(t), &adminv1.ListKeyHistoryRequest{KeyId: id})
			return err
		},
		"update": func() error {
			_, err := e.admin().UpdateKey(ctx(t), &adminv1.UpdateKeyRequest{Key: &adminv1.Key{KeyId: id},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"description"}}})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(); status.Code(err) != codes.NotFound {
				t.Fatalf("got %v, want NotFound", err)
			}
		})
	}
}
