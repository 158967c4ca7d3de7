package badger

import (
	"context"
	"errors"
	"fmt"
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
	if err := s.RevokeToken(ctx, "jti-1", time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("RevokeToken: %v", err)
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
	if revoked, err := s.IsTokenRevoked(ctx, "jti-1"); err != nil || !revoked {
		t.Fatalf("IsTokenRevoked after reopen = %v, %v; want true", revoked, err)
	}
	sk, err := s.ListSigningKeys(ctx)
	if err != nil || len(sk) != 1 || !reflect.DeepEqual(sk[0], signing) {
		t.Fatalf("signing keys after reopen = %+v, %v; want [%+v]", sk, err, signing)
	}
}

// The revocation entry must outlive the token it revokes, even though
// Badger keeps expiry in whole seconds (SECURITY-CASES I9).
func TestRevocationEntryOutlivesUntil(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, Options{Dir: t.TempDir(), EncryptionKey: newKey(t)})
	sec := time.Now().Add(time.Hour).Truncate(time.Second)
	cases := []struct {
		name  string
		until time.Time
		want  int64
	}{
		{"whole second", sec, sec.Unix()},
		{"one nanosecond past", sec.Add(time.Nanosecond), sec.Unix() + 1},
		{"just before the next second", sec.Add(time.Second - time.Nanosecond), sec.Unix() + 1},
		{"other zone", sec.Add(time.Millisecond).In(time.FixedZone("Z", -3600)), sec.Unix() + 1},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			jti := fmt.Sprintf("jti-%d", i)
			if err := s.RevokeToken(ctx, jti, tc.until); err != nil {
				t.Fatalf("RevokeToken: %v", err)
			}
			got := entryExpiresAt(t, s, jti)
			if time.Unix(int64(got), 0).Before(tc.until) {
				t.Fatalf("ExpiresAt %d is before until %v", got, tc.until)
			}
			if int64(got) != tc.want {
				t.Fatalf("ExpiresAt = %d, want %d (rounded up to the second)", got, tc.want)
			}
		})
	}

	t.Run("a second revocation never shortens the first", func(t *testing.T) {
		steps := []struct {
			until time.Time
			want  int64
		}{
			{sec.Add(2 * time.Hour), sec.Add(2 * time.Hour).Unix()},
			{sec.Add(time.Hour), sec.Add(2 * time.Hour).Unix()},
			{sec.Add(3 * time.Hour), sec.Add(3 * time.Hour).Unix()},
		}
		for _, st := range steps {
			if err := s.RevokeToken(ctx, "twice", st.until); err != nil {
				t.Fatalf("RevokeToken: %v", err)
			}
			if got := entryExpiresAt(t, s, "twice"); int64(got) != st.want {
				t.Fatalf("after revoking until %v: ExpiresAt = %d, want %d", st.until, got, st.want)
			}
		}
	})

	t.Run("past until stores nothing", func(t *testing.T) {
		if err := s.RevokeToken(ctx, "past", time.Now().Add(-time.Second)); err != nil {
			t.Fatalf("RevokeToken: %v", err)
		}
		err := s.db.View(func(txn *badger.Txn) error {
			_, err := txn.Get(revokedKey("past"))
			return err
		})
		if !errors.Is(err, badger.ErrKeyNotFound) {
			t.Fatalf("entry lookup = %v, want ErrKeyNotFound", err)
		}
	})
}

func entryExpiresAt(t *testing.T, s *Store, jti string) uint64 {
	t.Helper()
	var exp uint64
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(revokedKey(jti))
		if err != nil {
			return err
		}
		exp = item.ExpiresAt()
		return nil
	})
	if err != nil {
		t.Fatalf("reading revocation entry %q: %v", jti, err)
	}
	return exp
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
