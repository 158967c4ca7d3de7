package audit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/latchkeyhq/latchkey/store"
	badgerstore "github.com/latchkeyhq/latchkey/store/badger"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func testKey(t testing.TB) []byte {
	k := make([]byte, MACKeyLen)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func openTrail(t *testing.T, cfg Config) *Trail {
	t.Helper()
	tr, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func exchange(key, actor string, result Result, reason string) Event {
	return Event{
		Kind: KindExchange, Actor: actor, KeyID: key, Result: result, Reason: reason,
		Method: "/latchkey.v1.TokenService/ExchangeToken", Scopes: []string{"read"},
		Peer: netip.MustParseAddrPort("127.0.0.1:5000"),
	}
}

func record(t *testing.T, tr *Trail, e Event) Event {
	t.Helper()
	got, err := tr.Record(context.Background(), e)
	if err != nil {
		t.Fatalf("Record: %v", err)
	}
	return got
}

func mustVerify(t *testing.T, tr *Trail) VerifyResult {
	t.Helper()
	res, err := tr.Verify(context.Background())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if res.Break != nil {
		t.Fatalf("Verify: chain broken: %v", res.Break)
	}
	return res
}

func TestConcurrentRecordsAreNumberedWithoutGapsAndVerify(t *testing.T) {
	log := newMemLog()
	tr := openTrail(t, Config{Log: log, Key: testKey(t)})
	const workers, each = 32, 40
	seqs := make(chan uint64, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				e := record(t, tr, exchange(fmt.Sprintf("key%d", w), "spiffe://t/w", ResultOK, ""))
				if e.Seq == 0 || len(e.MAC) != MACKeyLen {
					t.Errorf("event %d of worker %d: seq %d mac %d bytes", i, w, e.Seq, len(e.MAC))
				}
				seqs <- e.Seq
			}
		})
	}
	wg.Wait()
	close(seqs)
	got := slices.Sorted(func(yield func(uint64) bool) {
		for s := range seqs {
			if !yield(s) {
				return
			}
		}
	})
	for i, s := range got {
		if s != uint64(i+1) {
			t.Fatalf("sequence numbers are not 1..%d without gaps: position %d holds %d", len(got), i, s)
		}
	}
	res := mustVerify(t, tr)
	if res.First != 1 || res.Last != workers*each || res.Events != workers*each {
		t.Errorf("Verify = %+v, want 1..%d", res, workers*each)
	}
	if calls := log.appendCalls(); calls >= workers*each {
		t.Errorf("%d writes for %d events: concurrent events were not batched", calls, workers*each)
	}
}

func TestEventsQueuedDuringAWriteShareTheNextWrite(t *testing.T) {
	log := newMemLog()
	block := make(chan struct{})
	log.block = block
	tr := openTrail(t, Config{Log: log, Key: testKey(t)})
	const n = 100
	var wg sync.WaitGroup
	wg.Go(func() { record(t, tr, exchange("first", "a", ResultOK, "")) })
	// Wait for the writer to take the first event and block in the store.
	waitFor(t, func() bool {
		log.mu.Lock()
		defer log.mu.Unlock()
		return log.blocked == 1
	})
	for range n - 1 {
		wg.Go(func() { record(t, tr, exchange("k", "a", ResultOK, "")) })
	}
	waitFor(t, func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return len(tr.pending) == n-1
	})
	log.mu.Lock()
	log.block = nil
	log.mu.Unlock()
	close(block)
	wg.Wait()
	if got := log.appendCalls(); got != 2 {
		t.Errorf("%d writes, want 2: the %d events queued behind the first should share one", got, n-1)
	}
	if res := mustVerify(t, tr); res.Events != n {
		t.Errorf("verified %d events, want %d", res.Events, n)
	}
}

// waitFor polls cond: only for waiting on other goroutines to reach a
// state, never as a clock.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestFailedWriteFailsEveryWaiterAndLeavesTheChainIntact(t *testing.T) {
	log := newMemLog()
	tr := openTrail(t, Config{Log: log, Key: testKey(t)})
	record(t, tr, exchange("k1", "a", ResultOK, ""))
	boom := fmt.Errorf("%w: disk full", store.ErrUnavailable)
	log.setFail(boom)
	if _, err := tr.Record(context.Background(), exchange("k2", "a", ResultOK, "")); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Record with a failing store: err = %v, want ErrUnavailable", err)
	}
	if tr.Head() != 1 {
		t.Errorf("head moved to %d after a failed write", tr.Head())
	}
	log.setFail(nil)
	e := record(t, tr, exchange("k3", "a", ResultOK, ""))
	if e.Seq != 2 {
		t.Errorf("after recovery the next event is %d, want 2 (the failed one was never written)", e.Seq)
	}
	if res := mustVerify(t, tr); res.Events != 2 {
		t.Errorf("verified %d events, want 2", res.Events)
	}
}

func TestVerifyFindsTheFirstBrokenEvent(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(*memLog, []byte)
		seq    uint64
		reason string
	}{
		{"altered field", func(m *memLog, _ []byte) {
			m.edit(4, func(b []byte) []byte {
				return bytes.Replace(b, []byte(`"result":"denied"`), []byte(`"result":"ok"`), 1)
			})
		}, 4, "altered"},
		{"deleted event", func(m *memLog, _ []byte) { m.remove(5) }, 5, "missing"},
		{"swapped events", func(m *memLog, _ []byte) { m.swap(3, 6) }, 3, ""},
		{"forged event with a guessed key", func(m *memLog, _ []byte) {
			forged := newChainKey(make([]byte, MACKeyLen))
			e := Event{Seq: 7, Kind: KindExchange, Result: ResultOK}
			rec, _ := forged.seal(&e)
			m.edit(7, func([]byte) []byte { return rec.Body })
		}, 7, "altered"},
		{"event re-sealed with the real key but not chained", func(m *memLog, key []byte) {
			k := newChainKey(key)
			e := Event{Seq: 6, Kind: KindExchange, Result: ResultOK, Prev: []byte("not the previous mac")}
			rec, _ := k.seal(&e)
			m.edit(6, func([]byte) []byte { return rec.Body })
		}, 6, "predecessor"},
		{"truncated tail", func(m *memLog, _ []byte) { m.remove(10) }, 10, "missing"},
		{"garbage body", func(m *memLog, _ []byte) { m.edit(2, func([]byte) []byte { return []byte("x") }) }, 2, "truncated"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log, key := newMemLog(), testKey(t)
			tr := openTrail(t, Config{Log: log, Key: key})
			for i := range 10 {
				result := ResultOK
				if i == 3 {
					result = ResultDenied
				}
				record(t, tr, exchange("k", "a", result, ""))
			}
			mustVerify(t, tr)
			tc.tamper(log, key)
			res, err := tr.Verify(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if res.Break == nil {
				t.Fatal("Verify passed a tampered trail")
			}
			if res.Break.Seq != tc.seq || !strings.Contains(res.Break.Error(), tc.reason) {
				t.Errorf("Break = %v, want event %d (%s)", res.Break, tc.seq, tc.reason)
			}
			if !errors.Is(res.Break, ErrTampered) {
				t.Errorf("Break does not wrap ErrTampered")
			}
		})
	}
}

func TestOpenRefusesATamperedHead(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(*memLog)
		key    func(real []byte) []byte
	}{
		{"head record forged", func(m *memLog) { m.meta[metaHead] = bytes.Repeat([]byte{1}, 50) }, nil},
		{"head event deleted", func(m *memLog) { m.remove(3) }, nil},
		{"head event altered", func(m *memLog) {
			m.edit(3, func(b []byte) []byte { return bytes.Replace(b, []byte(`"ok"`), []byte(`"no"`), 1) })
		}, nil},
		{"head record deleted", func(m *memLog) { delete(m.meta, metaHead) }, nil},
		{"another chain key", func(*memLog) {}, func([]byte) []byte { return bytes.Repeat([]byte{7}, MACKeyLen) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			log, key := newMemLog(), testKey(t)
			tr, err := Open(context.Background(), Config{Log: log, Key: key})
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				record(t, tr, exchange("k", "a", ResultOK, ""))
			}
			tr.Close()
			tc.tamper(log)
			if tc.key != nil {
				key = tc.key(key)
			}
			if tr, err := Open(context.Background(), Config{Log: log, Key: key}); !errors.Is(err, ErrTampered) {
				if tr != nil {
					tr.Close()
				}
				t.Fatalf("Open = %v, want ErrTampered", err)
			}
		})
	}
}

func TestVerifyDetectsAHeadRolledBack(t *testing.T) {
	log := newMemLog()
	tr := openTrail(t, Config{Log: log, Key: testKey(t)})
	record(t, tr, exchange("k", "a", ResultOK, ""))
	old, _ := log.AuditMeta(context.Background(), metaHead)
	record(t, tr, exchange("k", "a", ResultOK, ""))
	log.mu.Lock()
	log.meta[metaHead] = old
	log.mu.Unlock()
	log.remove(2)
	res, err := tr.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Break == nil || res.Break.Seq != 2 {
		t.Fatalf("Break = %v, want event 2", res.Break)
	}
}

func TestTrailSurvivesReopenOnBadger(t *testing.T) {
	dir, skey, key := t.TempDir(), testKey(t), testKey(t)
	ctx := context.Background()
	for round := range 3 {
		st, err := badgerstore.Open(badgerstore.Options{Dir: dir, EncryptionKey: skey})
		if err != nil {
			t.Fatal(err)
		}
		tr, err := Open(ctx, Config{Log: st, Key: key})
		if err != nil {
			t.Fatalf("round %d: Open: %v", round, err)
		}
		for i := range 50 {
			e := record(t, tr, exchange(fmt.Sprintf("k%d", i%5), "spiffe://t/a", ResultOK, ""))
			if want := uint64(round*50 + i + 1); e.Seq != want {
				t.Fatalf("round %d: seq %d, want %d", round, e.Seq, want)
			}
		}
		res := mustVerify(t, tr)
		if res.Events != uint64((round+1)*50) {
			t.Errorf("round %d: verified %d events", round, res.Events)
		}
		page, err := tr.Query(ctx, Query{Filter: Filter{KeyID: "k3"}, PageSize: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Events) != (round+1)*10 {
			t.Errorf("round %d: %d events for k3, want %d", round, len(page.Events), (round+1)*10)
		}
		tr.Close()
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSinkGetsEachDurableEventAsAJSONLine(t *testing.T) {
	var sink bytes.Buffer
	tr := openTrail(t, Config{Log: newMemLog(), Key: testKey(t), Sink: &sink})
	var want []Event
	for i := range 5 {
		want = append(want, record(t, tr, exchange(fmt.Sprintf("k%d", i), "a", ResultOK, "")))
	}
	tr.Close()
	lines := strings.Split(strings.TrimSuffix(sink.String(), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 5:\n%s", len(lines), sink.String())
	}
	for i, l := range lines {
		var got Event
		if err := json.Unmarshal([]byte(l), &got); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if got.Seq != want[i].Seq || got.KeyID != want[i].KeyID || !bytes.Equal(got.MAC, want[i].MAC) || !got.Time.Equal(want[i].Time) {
			t.Errorf("line %d = %+v, want %+v", i, got, want[i])
		}
	}
}

type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	w.n++
	return 0, errors.New("sink down")
}

func TestFailingSinkDoesNotFailRecords(t *testing.T) {
	var sinkErrs []error
	var mu sync.Mutex
	tr := openTrail(t, Config{Log: newMemLog(), Key: testKey(t), Sink: &failingWriter{}, OnSinkError: func(err error) {
		mu.Lock()
		defer mu.Unlock()
		sinkErrs = append(sinkErrs, err)
	}})
	for range 3 {
		record(t, tr, exchange("k", "a", ResultOK, ""))
	}
	tr.Close()
	if len(sinkErrs) != 3 {
		t.Errorf("OnSinkError called %d times, want 3 (once per write)", len(sinkErrs))
	}
}

func TestRecordAfterCloseFails(t *testing.T) {
	tr := openTrail(t, Config{Log: newMemLog(), Key: testKey(t)})
	record(t, tr, exchange("k", "a", ResultOK, ""))
	tr.Close()
	if _, err := tr.Record(context.Background(), exchange("k", "a", ResultOK, "")); !errors.Is(err, ErrClosed) {
		t.Errorf("Record after Close = %v, want ErrClosed", err)
	}
}

func TestOpenValidatesConfig(t *testing.T) {
	if _, err := Open(context.Background(), Config{Key: testKey(t)}); err == nil {
		t.Error("Open without a log succeeded")
	}
	if _, err := Open(context.Background(), Config{Log: newMemLog(), Key: make([]byte, 16)}); err == nil {
		t.Error("Open with a 16-byte key succeeded")
	}
}

// A caller that gives up while queued must not strand the write it was
// due to lead: later callers still get through and Close returns.
func TestAbandonedRecordsDoNotStallTheTrail(t *testing.T) {
	log := newMemLog()
	tr := openTrail(t, Config{Log: log, Key: testKey(t)})
	block := make(chan struct{})
	log.mu.Lock()
	log.block = block
	log.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() { record(t, tr, exchange("leader", "a", ResultOK, "")) })
	waitFor(t, func() bool {
		log.mu.Lock()
		defer log.mu.Unlock()
		return log.blocked == 1
	})
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		if _, err := tr.Record(ctx, exchange("quitter", "a", ResultOK, "")); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Record with an expired context = %v", err)
		}
		cancel()
	}
	log.mu.Lock()
	log.block = nil
	log.mu.Unlock()
	close(block)
	wg.Wait()
	if e := record(t, tr, exchange("after", "a", ResultOK, "")); e.Seq != 22 {
		t.Errorf("next event %d, want 22 (the abandoned ones are written)", e.Seq)
	}
	mustVerify(t, tr)
}
