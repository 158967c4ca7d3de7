package storetest_test

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/latchkeyhq/latchkey/store"
	badgerstore "github.com/latchkeyhq/latchkey/store/badger"
	"github.com/latchkeyhq/latchkey/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func openBadger(t *testing.T) store.Store {
	t.Helper()
	key := make([]byte, badgerstore.EncryptionKeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	s, err := badgerstore.Open(badgerstore.Options{InMemory: true, EncryptionKey: key})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// With the switch off, Faulty is an exact pass-through: it meets the
// whole contract itself.
func TestFaultyPassesConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return storetest.NewFaulty(openBadger(t)) })
}

func TestFaultyFailsEveryCall(t *testing.T) {
	ctx := context.Background()
	inner := openBadger(t)
	f := storetest.NewFaulty(inner)
	defer f.Close()
	until := time.Now().Add(time.Hour)
	if err := f.CreateKey(ctx, store.KeyRecord{ID: "k", State: store.KeyStateActive}); err != nil {
		t.Fatalf("CreateKey while healthy: %v", err)
	}

	f.SetFailing(true)
	calls := map[string]func() error{
		"CreateKey": func() error { return f.CreateKey(ctx, store.KeyRecord{ID: "k2", State: store.KeyStateActive}) },
		"GetKey":    func() error { _, err := f.GetKey(ctx, "k"); return err },
		"ListKeys":  func() error { _, err := f.ListKeys(ctx, store.KeyQuery{}); return err },
		"UpdateKey": func() error {
			_, err := f.UpdateKey(ctx, "k", func(r *store.KeyRecord) error {
				r.Owner = "changed"
				return nil
			})
			return err
		},
		"PutSigningKey": func() error {
			return f.PutSigningKey(ctx, store.SigningKeyRecord{KID: "s", Alg: "EdDSA", Private: []byte{1}})
		},
		"ListSigningKeys": func() error { _, err := f.ListSigningKeys(ctx); return err },
		"RecordUsage": func() error {
			return f.RecordUsage(ctx, []store.KeyUsage{{ID: "k", LastUsedAt: until, Count: 1}})
		},
		"AppendRevocation": func() error {
			_, err := f.AppendRevocation(ctx, store.Revocation{Kind: store.RevokeJTI, Value: "j", ExpiresAt: until})
			return err
		},
		"LoadRevocations": func() error { _, _, err := f.LoadRevocations(ctx); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(); !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("%s while failing = %v, want ErrUnavailable", name, err)
			}
		})
	}
	if got := f.FailedCalls(); got != int64(len(calls)) {
		t.Fatalf("FailedCalls = %d, want %d", got, len(calls))
	}

	// Nothing reached the wrapped store while failing.
	f.SetFailing(false)
	if _, err := f.GetKey(ctx, "k2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetKey(k2) after recovery = %v, want ErrNotFound", err)
	}
	if rec, err := f.GetKey(ctx, "k"); err != nil || rec.Owner != "" || rec.UseCount != 0 {
		t.Fatalf("GetKey(k) after recovery = %+v, %v; want unchanged", rec, err)
	}
	if revs, _, err := inner.LoadRevocations(ctx); err != nil || len(revs) != 0 {
		t.Fatalf("revocations after recovery = %v, %v; want none", revs, err)
	}
	if keys, err := inner.ListSigningKeys(ctx); err != nil || len(keys) != 0 {
		t.Fatalf("signing keys after recovery = %v, %v; want none", keys, err)
	}
	if revs, last, err := f.LoadRevocations(ctx); err != nil || len(revs) != 0 || last != 0 {
		t.Fatalf("revocation log after recovery = %+v, %d, %v; want empty", revs, last, err)
	}
}
