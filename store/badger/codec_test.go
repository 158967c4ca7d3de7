package badger

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/latchkeyhq/latchkey/store"
)

// legacyV1 is a key record exactly as the version 1 encoder wrote it,
// before the lifecycle, usage and history fields existed.
const legacyV1 = `{"v":1,"id":"legacy","owner":"team-a","description":"old key",` +
	`"created_by":"spiffe://example.org/admin","labels":{"env":"prod"},"secret_hash":"AP8QIA==",` +
	`"scopes":["read:ledger"],"audiences":["ledger"],"bound_identities":["spiffe://example.org/w"],` +
	`"max_ttl_ns":900000000000,"state":"disabled","revocation_reason":"unspecified",` +
	`"created_at":"2024-01-02T03:04:05.123456789Z","expires_at":"2027-01-02T03:04:05Z"}`

func legacyRecord() store.KeyRecord {
	return store.KeyRecord{
		ID: "legacy", Owner: "team-a", Description: "old key", CreatedBy: "spiffe://example.org/admin",
		Labels: map[string]string{"env": "prod"}, SecretHash: []byte{0x00, 0xff, 0x10, 0x20},
		Scopes: []string{"read:ledger"}, Audiences: []string{"ledger"},
		BoundIdentities: []string{"spiffe://example.org/w"}, MaxTTL: 15 * time.Minute,
		State:     store.KeyStateDisabled,
		CreatedAt: time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.UTC),
		ExpiresAt: time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func putRaw(t *testing.T, s *Store, key, value string) {
	t.Helper()
	if err := s.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(key), []byte(value)) }); err != nil {
		t.Fatal(err)
	}
}

func rawVersion(t *testing.T, s *Store, id string) int {
	t.Helper()
	var w struct{ V int }
	err := s.db.View(func(txn *badger.Txn) error {
		val, _, err := get(txn, keyKey(id))
		if err != nil {
			return err
		}
		return json.Unmarshal(val, &w)
	})
	if err != nil {
		t.Fatal(err)
	}
	return w.V
}

// Records written before the lifecycle fields existed must keep working
// for every operation, and are upgraded when next written.
func TestVersion1RecordsStillLoad(t *testing.T) {
	ctx := context.Background()
	used := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		op   func(*Store) (store.KeyRecord, error)
		want func(*store.KeyRecord)
		v    int
	}{
		{"get", func(s *Store) (store.KeyRecord, error) { return s.GetKey(ctx, "legacy") },
			func(*store.KeyRecord) {}, keyWireV1},
		{"list with new filters", func(s *Store) (store.KeyRecord, error) {
			page, err := s.ListKeys(ctx, store.KeyQuery{Label: "env=prod", UnusedSince: used,
				ExpiringBefore: used.AddDate(5, 0, 0)})
			if err != nil || len(page.Keys) != 1 {
				return store.KeyRecord{}, fmt.Errorf("page %v, %v", page.Keys, err)
			}
			return page.Keys[0], nil
		}, func(*store.KeyRecord) {}, keyWireV1},
		{"update", func(s *Store) (store.KeyRecord, error) {
			return s.UpdateKey(ctx, "legacy", func(r *store.KeyRecord) error {
				r.AddEvent(store.KeyEvent{At: used, Action: "enabled", Actor: "admin"})
				r.State = store.KeyStateActive
				return nil
			})
		}, func(r *store.KeyRecord) {
			r.State = store.KeyStateActive
			r.History = []store.KeyEvent{{At: used, Action: "enabled", Actor: "admin"}}
		}, keyWireVersion},
		{"usage", func(s *Store) (store.KeyRecord, error) {
			if err := s.RecordUsage(ctx, []store.KeyUsage{{ID: "legacy", LastUsedAt: used, Count: 4}}); err != nil {
				return store.KeyRecord{}, err
			}
			return s.GetKey(ctx, "legacy")
			// A flush writes beside the record, leaving it as it was.
		}, func(r *store.KeyRecord) { r.LastUsedAt, r.UseCount = used, 4 }, keyWireV1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpen(t, Options{InMemory: true, EncryptionKey: newKey(t)})
			putRaw(t, s, "key/legacy", legacyV1)
			got, err := tc.op(s)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			want := legacyRecord()
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("record mismatch\n got: %+v\nwant: %+v", got, want)
			}
			if !reflect.DeepEqual(mustGetKey(t, s, "legacy"), want) {
				t.Fatalf("stored record differs from the returned one")
			}
			if v := rawVersion(t, s, "legacy"); v != tc.v {
				t.Fatalf("stored version = %d, want %d", v, tc.v)
			}
		})
	}
}

func mustGetKey(t *testing.T, s *Store, id string) store.KeyRecord {
	t.Helper()
	rec, err := s.GetKey(context.Background(), id)
	if err != nil {
		t.Fatalf("GetKey(%q): %v", id, err)
	}
	return rec
}

// Both hashes are printable on purpose: a formatter leaking raw bytes
// would show them as text.
var (
	hashMarker = []byte("CURRENT-HASH-0123456789abcdefghij")
	prevMarker = []byte("PREVIOUS-HASH-0123456789abcdefghi")
)

func leakForms() map[string]string {
	forms := map[string]string{}
	for name, b := range map[string][]byte{"hash": hashMarker, "previous hash": prevMarker} {
		forms[name] = string(b)
		forms[name+" hex"] = hex.EncodeToString(b)
		forms[name+" base64"] = base64.StdEncoding.EncodeToString(b)
		forms[name+" bytes"] = fmt.Sprint(b)
	}
	return forms
}

// A record read back from the store must print neither hash, whatever
// the formatter, and a corrupt record's error must not quote them.
func TestStoredRecordsRedactBothHashes(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, Options{InMemory: true, EncryptionKey: newKey(t)})
	rec := store.KeyRecord{ID: "k", State: store.KeyStateActive, SecretHash: hashMarker,
		PreviousSecretHash: prevMarker, GraceDeadline: time.Unix(100, 0)}
	if err := s.CreateKey(ctx, rec); err != nil {
		t.Fatal(err)
	}
	got := mustGetKey(t, s, "k")
	if !bytes.Equal(got.PreviousSecretHash, prevMarker) {
		t.Fatalf("PreviousSecretHash did not round trip: %x", got.PreviousSecretHash)
	}
	slogOut := func(h func(*bytes.Buffer) slog.Handler) string {
		var buf bytes.Buffer
		slog.New(h(&buf)).Info("m", "rec", got, "ptr", &got)
		return buf.String()
	}
	corrupt := store.KeyRecord{ID: "bad", State: store.KeyStateActive, SecretHash: hashMarker,
		PreviousSecretHash: prevMarker}
	blob, err := encodeKey(corrupt)
	if err != nil {
		t.Fatal(err)
	}
	putRaw(t, s, "key/bad", strings.Replace(string(blob), `"v":2`, `"v":2,"rate_limit_burst":-1`, 1))
	_, badErr := s.GetKey(ctx, "bad")
	if badErr == nil {
		t.Fatal("GetKey of an invalid stored record succeeded")
	}

	outputs := map[string]string{
		"%v":           fmt.Sprintf("%v", got),
		"%+v":          fmt.Sprintf("%+v", got),
		"%#v":          fmt.Sprintf("%#v", got),
		"%s":           fmt.Sprintf("%s", got),
		"%q":           fmt.Sprintf("%q", got),
		"%x":           fmt.Sprintf("%x", got),
		"pointer %+v":  fmt.Sprintf("%+v", &got),
		"in a slice":   fmt.Sprintf("%v", []store.KeyRecord{got}),
		"slog text":    slogOut(func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }),
		"slog json":    slogOut(func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }),
		"corrupt read": badErr.Error(),
	}
	for name, out := range outputs {
		t.Run(name, func(t *testing.T) {
			if name != "corrupt read" && !strings.Contains(out, "[REDACTED]") {
				t.Fatalf("output %q does not mark the hashes as redacted", out)
			}
			for form, leak := range leakForms() {
				if strings.Contains(out, leak) {
					t.Fatalf("output contains the %s: %q", form, out)
				}
			}
		})
	}
}

// A flush writes usage entries only: the records, however large, are not
// rewritten, so a whole batch fits one transaction, and a later read adds
// the usage in.
func TestFoldUsageLeavesRecordsAlone(t *testing.T) {
	ctx := context.Background()
	s := mustOpen(t, Options{InMemory: true, EncryptionKey: newKey(t)})
	var batch []store.KeyUsage
	for i := range store.MaxUsageBatch {
		rec := store.KeyRecord{ID: fmt.Sprintf("k%04d", i), State: store.KeyStateActive}
		for range 10 {
			rec.AddEvent(store.KeyEvent{Action: "updated", Detail: strings.Repeat("d", 3000)})
		}
		if err := s.CreateKey(ctx, rec); err != nil {
			t.Fatal(err)
		}
		batch = append(batch, store.KeyUsage{ID: rec.ID, LastUsedAt: time.Unix(int64(1000+i), 5), Count: uint64(i + 1)})
	}
	raw := func(id string) (key, usage []byte) {
		t.Helper()
		if err := s.db.View(func(txn *badger.Txn) error {
			var err error
			if key, _, err = get(txn, keyKey(id)); err != nil {
				return err
			}
			usage, _, err = get(txn, usageKey(id))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return key, usage
	}
	before, _ := raw(batch[7].ID)
	txn := s.db.NewTransaction(true)
	n, err := foldUsage(txn, batch)
	if err != nil || n != len(batch) {
		t.Fatalf("foldUsage = %d, %v; want the whole batch of %d", n, err, len(batch))
	}
	if err := txn.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	after, usage := raw(batch[7].ID)
	if !bytes.Equal(before, after) {
		t.Fatal("a usage flush rewrote the key record")
	}
	if len(usage) != usageWireLen {
		t.Fatalf("usage entry of %d bytes, want %d", len(usage), usageWireLen)
	}
	for _, u := range []store.KeyUsage{batch[0], batch[7], batch[len(batch)-1]} {
		if got := mustGetKey(t, s, u.ID); got.UseCount != u.Count || !got.LastUsedAt.Equal(u.LastUsedAt) {
			t.Fatalf("%s: used %d at %v, want %d at %v", u.ID, got.UseCount, got.LastUsedAt, u.Count, u.LastUsedAt)
		}
	}
}
