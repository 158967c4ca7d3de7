package lifecycle

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/store"
	badgerstore "github.com/latchkeyhq/latchkey/store/badger"
)

// t0 is the creation time of every test key.
var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func openStore(t testing.TB) store.Store {
	t.Helper()
	key := make([]byte, badgerstore.EncryptionKeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	s, err := badgerstore.Open(badgerstore.Options{InMemory: true, EncryptionKey: key})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// newKey returns an active key of owner "team-a" created at t0, changed by
// each of mods.
func newKey(id string, mods ...func(*store.KeyRecord)) store.KeyRecord {
	rec := store.KeyRecord{
		ID:         id,
		Owner:      "team-a",
		SecretHash: bytes.Repeat([]byte{0xa5}, 32),
		Scopes:     []string{"read"},
		State:      store.KeyStateActive,
		CreatedAt:  t0,
	}
	for _, m := range mods {
		m(&rec)
	}
	return rec
}

// create stores rec and returns it as the store reads it back.
func create(t *testing.T, s store.KeyStore, rec store.KeyRecord) store.KeyRecord {
	t.Helper()
	ctx := context.Background()
	if err := s.CreateKey(ctx, rec); err != nil {
		t.Fatalf("CreateKey(%s): %v", rec.ID, err)
	}
	return get(t, s, rec.ID)
}

func get(t *testing.T, s store.KeyStore, id string) store.KeyRecord {
	t.Helper()
	rec, err := s.GetKey(context.Background(), id)
	if err != nil {
		t.Fatalf("GetKey(%s): %v", id, err)
	}
	return rec
}

func newJanitor(t *testing.T, keys store.KeyStore, pol *policy.Policy, now time.Time) *Janitor {
	t.Helper()
	j, err := NewJanitor(JanitorConfig{
		Keys:   keys,
		Policy: func() *policy.Policy { return pol },
		Now:    func() time.Time { return now },
	})
	if err != nil {
		t.Fatalf("NewJanitor: %v", err)
	}
	return j
}

func sweep(t *testing.T, j *Janitor) SweepReport {
	t.Helper()
	r, err := j.Sweep(context.Background())
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	return r
}

func rules(mod func(*policy.KeyRules)) policy.KeyRules {
	r := policy.DefaultKeyRules()
	if mod != nil {
		mod(&r)
	}
	return r
}

func janitorEvent(at time.Time, action, reason, detail string) store.KeyEvent {
	return store.KeyEvent{At: at, Action: action, Actor: Actor, Reason: reason, Detail: detail}
}

func assertRecord(t *testing.T, got, want store.KeyRecord) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("record mismatch\n got: %v\nwant: %v", got, want)
		if !reflect.DeepEqual(got.History, want.History) {
			t.Errorf("history\n got: %+v\nwant: %+v", got.History, want.History)
		}
		if !bytes.Equal(got.PreviousSecretHash, want.PreviousSecretHash) {
			t.Errorf("previous secret hash differs")
		}
	}
}

// hookedKeys runs beforeUpdate ahead of each UpdateKey and counts ListKeys
// calls, so tests can change a record between the listing and the update.
type hookedKeys struct {
	store.KeyStore
	mu    sync.Mutex
	lists int
	// withHistory counts listings that asked for the keys' history.
	withHistory  int
	beforeUpdate func(id string)
}

func (h *hookedKeys) ListKeys(ctx context.Context, q store.KeyQuery) (store.KeyPage, error) {
	h.mu.Lock()
	h.lists++
	if !q.WithoutHistory {
		h.withHistory++
	}
	h.mu.Unlock()
	return h.KeyStore.ListKeys(ctx, q)
}

func (h *hookedKeys) UpdateKey(ctx context.Context, id string, fn func(*store.KeyRecord) error) (store.KeyRecord, error) {
	if h.beforeUpdate != nil {
		h.beforeUpdate(id)
	}
	return h.KeyStore.UpdateKey(ctx, id, fn)
}

// syncBuffer is a log sink that several goroutines may write.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// manualTicker hands Run a tick channel the test drives.
func manualTicker(ch chan time.Time) func(time.Duration) (<-chan time.Time, func()) {
	return func(time.Duration) (<-chan time.Time, func()) { return ch, func() {} }
}

func keyID(i int) string { return fmt.Sprintf("key-%04d", i) }
