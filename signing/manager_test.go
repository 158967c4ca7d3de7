package signing

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/latchkeyhq/latchkey/issuer"
	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/store"
	badgerstore "github.com/latchkeyhq/latchkey/store/badger"
	"github.com/latchkeyhq/latchkey/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

const testPolicy = `
issuer: https://latchkey.test
tokens:
  max_ttl: 1h
  leeway: 30s
signing:
  algorithm: ES256
  rotation_period: 24h
  publish_lead: 1h
  jwks_max_age: 5m
`

func openStore(t *testing.T, dir string) *badgerstore.Store {
	t.Helper()
	key := make([]byte, 32)
	copy(key, "signing-manager-test-store-key!!")
	st, err := badgerstore.Open(badgerstore.Options{Dir: dir, EncryptionKey: key})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func setup(t *testing.T, st store.SigningKeyStore, clk *clock) *Manager {
	t.Helper()
	pol, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Open(context.Background(), Config{Store: st, Policy: func() *policy.Policy { return pol }, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func stored(t *testing.T, st store.SigningKeyStore) map[string]string {
	t.Helper()
	recs, err := st.ListSigningKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range recs {
		out[r.KID] = r.State
	}
	return out
}

func mint(t *testing.T, m *Manager) issuer.Token {
	t.Helper()
	tok, err := m.Issuer().Mint(issuer.Grant{Subject: "s", ClientID: "c", Audiences: []string{"a"}, Scopes: []string{"x"},
		TTL: 30 * time.Minute, CertThumbprint: issuer.CertThumbprint([]byte("cert"))})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// The keyring survives a restart, and every state change is in the store
// before the issuer uses it.
func TestKeyringPersistsAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	st := openStore(t, dir)
	m := setup(t, st, clk)
	first := m.Entries()
	if len(first) != 1 || first[0].State != issuer.KeyActive || first[0].Key.Alg() != "ES256" {
		t.Fatalf("fresh keyring: %+v", first)
	}
	kid := first[0].Key.KID()
	if got := stored(t, st); got[kid] != "active" {
		t.Fatalf("stored: %v", got)
	}
	tok := mint(t, m)

	clk.Advance(23 * time.Hour) // rotation period minus the publish lead
	if err := m.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	states := stored(t, st)
	if len(states) != 2 || states[kid] != "active" {
		t.Fatalf("after the lead point: %v", states)
	}
	st.Close()

	st = openStore(t, dir)
	defer st.Close()
	m2 := setup(t, st, clk)
	// The token expired hours ago, so Verify fails; it must fail as
	// expired, not as signed by an unknown key.
	if _, err := m2.Issuer().Verify(tok.Raw, issuer.VerifyOptions{}); !errors.Is(err, issuer.ErrExpired) {
		t.Fatalf("token from before the restart: %v, want ErrExpired (key still known)", err)
	}
	if got := m2.Entries(); len(got) != 2 || got[0].Key.KID() != kid {
		t.Fatalf("reloaded keyring: %+v", got)
	}
	clk.Advance(time.Hour)
	if err := m2.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := stored(t, st); got[kid] != "retired" {
		t.Fatalf("after the rotation: %v", got)
	}
	fresh := mint(t, m2)
	if _, err := m2.Issuer().Verify(fresh.Raw, issuer.VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestRevokeIsStoredAndTakesEffect(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	st := openStore(t, dir)
	m := setup(t, st, clk)
	tok := mint(t, m)
	kid := m.Entries()[0].Key.KID()
	if err := m.Revoke(context.Background(), kid); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Issuer().Verify(tok.Raw, issuer.VerifyOptions{}); !errors.Is(err, issuer.ErrUnknownKey) {
		t.Fatalf("token of a revoked key: %v", err)
	}
	st.Close()
	st = openStore(t, dir)
	defer st.Close()
	m2 := setup(t, st, clk)
	if _, err := m2.Issuer().Verify(tok.Raw, issuer.VerifyOptions{}); !errors.Is(err, issuer.ErrUnknownKey) {
		t.Fatalf("after restart, token of a revoked key: %v", err)
	}
	for _, k := range m2.Issuer().JWKS() {
		if k.Kid == kid {
			t.Fatal("revoked key is back in the JWKS after a restart")
		}
	}
	if err := m2.Revoke(context.Background(), "nope"); !errors.Is(err, issuer.ErrUnknownKey) {
		t.Fatalf("revoke unknown: %v", err)
	}
}

// A store failure leaves the keyring as it was: no key is used that is not
// stored.
func TestStoreFailureChangesNothing(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	st := openStore(t, t.TempDir())
	defer st.Close()
	f := storetest.NewFaulty(st)
	m := setup(t, f, clk)
	before := m.Issuer()
	f.SetFailing(true)
	if err := m.Rotate(context.Background()); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("rotate with the store down: %v", err)
	}
	if m.Issuer() != before || len(m.Entries()) != 1 {
		t.Fatal("a failed rotation changed the keyring")
	}
	f.SetFailing(false)
	if err := m.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(m.Entries()) != 2 || len(stored(t, st)) != 2 {
		t.Fatalf("rotation after recovery: %d entries", len(m.Entries()))
	}
}

// Records from before keyring states: the newest is active, the rest retired.
func TestLegacyRecordsAndCorruption(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	st := openStore(t, t.TempDir())
	defer st.Close()
	var kids []string
	for i := range 2 {
		k, err := issuer.GenerateSigningKey()
		if err != nil {
			t.Fatal(err)
		}
		der, _ := k.MarshalPKCS8()
		if err := st.PutSigningKey(context.Background(), store.SigningKeyRecord{KID: k.KID(), Alg: k.Alg(), Private: der,
			CreatedAt: clk.Now().Add(time.Duration(i-2) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
		kids = append(kids, k.KID())
	}
	m := setup(t, st, clk)
	es := m.Entries()
	if len(es) != 2 || es[0].State != issuer.KeyRetired || es[1].State != issuer.KeyActive || es[1].Key.KID() != kids[1] {
		t.Fatalf("legacy keys: %+v", es)
	}
	junk := make([]byte, 40)
	rand.Read(junk)
	if err := st.PutSigningKey(context.Background(), store.SigningKeyRecord{KID: "broken-key", Alg: "EdDSA", Private: junk, CreatedAt: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	pol, _ := policy.Parse([]byte(testPolicy))
	_, err := Open(context.Background(), Config{Store: st, Policy: func() *policy.Policy { return pol }, Now: clk.Now})
	if err == nil || !strings.Contains(err.Error(), `"broken-key"`) {
		t.Fatalf("a corrupt record must stop the start, named: %v", err)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	st := openStore(t, t.TempDir())
	defer st.Close()
	pol, _ := policy.Parse([]byte(testPolicy))
	m, err := Open(context.Background(), Config{Store: st, Policy: func() *policy.Policy { return pol }, Now: clk.Now, Interval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	clk.Advance(23 * time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for len(m.Entries()) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("Run did not apply the schedule")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if !slices.ContainsFunc(m.Entries(), func(e issuer.KeyringEntry) bool { return e.State == issuer.KeyNext }) {
		t.Fatal("no next key published")
	}
}
