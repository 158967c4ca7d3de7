package badger

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"go.uber.org/goleak"

	"github.com/latchkeyhq/latchkey/store"
	"github.com/latchkeyhq/latchkey/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestConformance(t *testing.T) {
	t.Run("in memory", func(t *testing.T) { storetest.Run(t, openInMemory) })
	t.Run("on disk", func(t *testing.T) { storetest.Run(t, openOnDisk) })
}

func TestReopenReadsBackEverything(t *testing.T) {
	ctx := context.Background()
	dir, key := t.TempDir(), newKey(t)
	created := time.Date(2025, 5, 6, 7, 8, 9, 10, time.UTC)
	keys := []store.KeyRecord{
		{ID: "k1", Owner: "alice", SecretHash: []byte{1, 2, 3}, Scopes: []string{"a", "b"},
			Labels: map[string]string{"x": "y"}, MaxTTL: time.Minute, State: store.KeyStateActive, CreatedAt: created},
		{ID: "k2", Owner: "bob", State: store.KeyStateRevoked, RevocationReason: store.ReasonSuperseded,
			RevokedAt: created.Add(time.Hour)},
	}
	signing := store.SigningKeyRecord{KID: "s1", Alg: "EdDSA", Private: []byte("der"), CreatedAt: created}

	s, err := Open(Options{Dir: dir, EncryptionKey: key})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	for _, k := range keys {
		if err := s.CreateKey(ctx, k); err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
	}
	if _, err := s.UpdateKey(ctx, "k1", func(r *store.KeyRecord) error {
		r.Description = "updated"
		return nil
	}); err != nil {
		t.Fatalf("UpdateKey: %v", err)
	}
	keys[0].Description = "updated"
	if _, err := s.AppendRevocation(ctx, store.Revocation{Kind: store.RevokeJTI, Value: "jti-1", At: time.Now(),
		ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatalf("AppendRevocation: %v", err)
	}
	if err := s.PutSigningKey(ctx, signing); err != nil {
		t.Fatalf("PutSigningKey: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = mustOpen(t, Options{Dir: dir, EncryptionKey: key})
	page, err := s.ListKeys(ctx, store.KeyQuery{})
	if err != nil {
		t.Fatalf("ListKeys: %v", err)
	}
	if !reflect.DeepEqual(page.Keys, keys) {
		t.Fatalf("keys after reopen:\n got %+v\nwant %+v", page.Keys, keys)
	}
	if revs, last, err := s.LoadRevocations(ctx); err != nil || len(revs) != 1 || revs[0].Value != "jti-1" || last != 1 {
		t.Fatalf("revocations after reopen = %+v (last %d), %v; want jti-1 at revision 1", revs, last, err)
	}
	sk, err := s.ListSigningKeys(ctx)
	if err != nil || len(sk) != 1 || !reflect.DeepEqual(sk[0], signing) {
		t.Fatalf("signing keys after reopen = %+v, %v; want [%+v]", sk, err, signing)
	}
}

// A damaged record must surface as the store being unavailable, never as a
// zero record or "not found" that a caller could read as permission.
func TestCorruptRecordsAreUnavailable(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		key   string
		value string
		call  func(*Store) error
	}{
		{"key not json", "key/k", "{not json", func(s *Store) error { _, err := s.GetKey(ctx, "k"); return err }},
		{"key from the future", "key/k", `{"v":3,"id":"k","state":"active"}`,
			func(s *Store) error { _, err := s.GetKey(ctx, "k"); return err }},
		{"key under another id", "key/k", `{"v":1,"id":"j","state":"active"}`,
			func(s *Store) error { _, err := s.GetKey(ctx, "k"); return err }},
		{"unknown state", "key/k", `{"v":1,"id":"k","state":"super"}`,
			func(s *Store) error { _, err := s.GetKey(ctx, "k"); return err }},
		{"listing", "key/k", "garbage",
			func(s *Store) error { _, err := s.ListKeys(ctx, store.KeyQuery{}); return err }},
		{"update", "key/k", "garbage", func(s *Store) error {
			_, err := s.UpdateKey(ctx, "k", func(*store.KeyRecord) error { return nil })
			return err
		}},
		{"history too long", "key/k", `{"v":2,"id":"k","state":"active","history":[` +
			strings.Repeat(`{"action":"updated"},`, store.MaxKeyHistory) + `{"action":"updated"}]}`,
			func(s *Store) error { _, err := s.GetKey(ctx, "k"); return err }},
		{"negative rate limit", "key/k", `{"v":2,"id":"k","state":"active","rate_limit_burst":-1}`,
			func(s *Store) error { _, err := s.GetKey(ctx, "k"); return err }},
		{"signing key", "sign/s", `{"v":1,"kid":"s","alg":"EdDSA"}`,
			func(s *Store) error { _, err := s.ListSigningKeys(ctx); return err }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpen(t, Options{InMemory: true, EncryptionKey: newKey(t)})
			if err := s.db.Update(func(txn *badger.Txn) error {
				return txn.Set([]byte(tc.key), []byte(tc.value))
			}); err != nil {
				t.Fatal(err)
			}
			if err := tc.call(s); !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("call on a corrupt record = %v, want ErrUnavailable", err)
			}
		})
	}
}
