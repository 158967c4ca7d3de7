package audit

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// seed records 30 events one minute apart: keys k0..k2 in turn, actors
// a0/a1 alternating, every fifth a key.revoke.
func seed(t *testing.T, tr *Trail, c *clock) []Event {
	var out []Event
	for i := range 30 {
		e := exchange(fmt.Sprintf("k%d", i%3), fmt.Sprintf("spiffe://t/a%d", i%2), ResultOK, "")
		if i%5 == 4 {
			e.Kind = KindKeyRevoke
		}
		out = append(out, record(t, tr, e))
		c.Advance(time.Minute)
	}
	return out
}

func seqs(es []Event) []uint64 {
	var s []uint64
	for _, e := range es {
		s = append(s, e.Seq)
	}
	return s
}

func TestQueryFilters(t *testing.T) {
	c := newClock()
	tr := openTrail(t, Config{Log: newMemLog(), Key: testKey(t), Now: c.Now})
	all := seed(t, tr, c)
	t0 := all[0].Time
	tests := []struct {
		name string
		q    Query
		want func(i int, e Event) bool
	}{
		{"everything", Query{}, func(int, Event) bool { return true }},
		{"by key", Query{Filter: Filter{KeyID: "k1"}}, func(i int, _ Event) bool { return i%3 == 1 }},
		{"by actor", Query{Filter: Filter{Actor: "spiffe://t/a0"}}, func(i int, _ Event) bool { return i%2 == 0 }},
		{"by kind", Query{Filter: Filter{Kind: KindKeyRevoke}}, func(i int, _ Event) bool { return i%5 == 4 }},
		{"key and kind", Query{Filter: Filter{KeyID: "k2", Kind: KindKeyRevoke}}, func(i int, _ Event) bool { return i%3 == 2 && i%5 == 4 }},
		{"since", Query{Since: t0.Add(20 * time.Minute)}, func(i int, _ Event) bool { return i >= 20 }},
		{"until", Query{Until: t0.Add(5 * time.Minute)}, func(i int, _ Event) bool { return i < 5 }},
		{"window and key", Query{Filter: Filter{KeyID: "k0"}, Since: t0.Add(9 * time.Minute), Until: t0.Add(18 * time.Minute)},
			func(i int, _ Event) bool { return i%3 == 0 && i >= 9 && i < 18 }},
		{"nothing matches", Query{Filter: Filter{KeyID: "nope"}}, func(int, Event) bool { return false }},
		{"from a sequence number", Query{FromSeq: all[12].Seq}, func(i int, _ Event) bool { return i >= 12 }},
		{"from a sequence number, by kind", Query{Filter: Filter{Kind: KindKeyRevoke}, FromSeq: all[12].Seq},
			func(i int, _ Event) bool { return i >= 12 && i%5 == 4 }},
		{"since later than the sequence number", Query{FromSeq: all[3].Seq, Since: t0.Add(20 * time.Minute)},
			func(i int, _ Event) bool { return i >= 20 }},
		{"sequence number later than since", Query{FromSeq: all[25].Seq, Since: t0.Add(20 * time.Minute)},
			func(i int, _ Event) bool { return i >= 25 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var want []uint64
			for i, e := range all {
				if tc.want(i, e) {
					want = append(want, e.Seq)
				}
			}
			page, err := tr.Query(context.Background(), tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(seqs(page.Events)) != fmt.Sprint(want) || page.NextPageToken != "" {
				t.Errorf("got %v (next %q), want %v", seqs(page.Events), page.NextPageToken, want)
			}
		})
	}
}

func TestQueryPages(t *testing.T) {
	c := newClock()
	tr := openTrail(t, Config{Log: newMemLog(), Key: testKey(t), Now: c.Now})
	seed(t, tr, c)
	var got []uint64
	q := Query{Filter: Filter{KeyID: "k1"}, PageSize: 3}
	pages := 0
	for {
		page, err := tr.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		got = append(got, seqs(page.Events)...)
		if page.NextPageToken == "" {
			break
		}
		q.PageToken = page.NextPageToken
	}
	if want := "[2 5 8 11 14 17 20 23 26 29]"; fmt.Sprint(got) != want || pages != 4 {
		t.Errorf("paged %v in %d pages, want %s in 4", got, pages, want)
	}
}

func TestQueryRejectsBadInput(t *testing.T) {
	tr := openTrail(t, Config{Log: newMemLog(), Key: testKey(t)})
	now := time.Now()
	for name, q := range map[string]Query{
		"unknown kind":     {Filter: Filter{Kind: "nope"}},
		"forged token":     {PageToken: "a1.AAAA"},
		"foreign token":    {PageToken: "v1:abc"},
		"until before":     {Since: now, Until: now.Add(-time.Second)},
		"negative page":    {PageSize: -1},
		"empty time range": {Since: now, Until: now},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := tr.Query(context.Background(), q); !errors.Is(err, ErrInvalidQuery) {
				t.Errorf("err = %v, want ErrInvalidQuery", err)
			}
		})
	}
}

func TestPruneKeepsAVerifiableChain(t *testing.T) {
	c := newClock()
	log, key := newMemLog(), testKey(t)
	tr := openTrail(t, Config{Log: log, Key: key, Now: c.Now})
	all := seed(t, tr, c)
	n, err := tr.Prune(context.Background(), all[12].Time)
	if err != nil || n != 12 {
		t.Fatalf("Prune = %d, %v; want 12 events pruned", n, err)
	}
	res := mustVerify(t, tr)
	if res.First != 13 || res.Pruned != 12 || res.Last != 31 || res.Events != 19 {
		t.Errorf("Verify after prune = %+v, want 13..31 (18 kept + 1 retention event)", res)
	}
	page, err := tr.Query(context.Background(), Query{Filter: Filter{Kind: KindAuditRetention}})
	if err != nil || len(page.Events) != 1 || page.Events[0].Detail["pruned"] != "12" {
		t.Fatalf("retention event = %+v, %v", page.Events, err)
	}
	// Deleting the first kept event is caught even though it is now the start.
	log.remove(13)
	if res, _ := tr.Verify(context.Background()); res.Break == nil || res.Break.Seq != 13 {
		t.Errorf("Break = %v, want event 13", res.Break)
	}
	tr.Close()
	// A forged anchor, claiming more was pruned, fails its MAC.
	log.mu.Lock()
	log.meta[metaAnchor] = newChainKey(make([]byte, MACKeyLen)).encodePoint(metaAnchor, point{Seq: 20})
	log.mu.Unlock()
	tr2 := openTrail(t, Config{Log: log, Key: key, Now: c.Now})
	if res, _ := tr2.Verify(context.Background()); res.Break == nil {
		t.Error("a forged anchor verified")
	}
}

func TestPruneNeverRemovesTheHead(t *testing.T) {
	c := newClock()
	tr := openTrail(t, Config{Log: newMemLog(), Key: testKey(t), Now: c.Now})
	seed(t, tr, c)
	n, err := tr.Prune(context.Background(), c.Now().Add(time.Hour))
	if err != nil || n != 29 {
		t.Fatalf("Prune = %d, %v; want 29", n, err)
	}
	if res := mustVerify(t, tr); res.First != 30 || res.Last != 31 {
		t.Errorf("Verify = %+v, want 30..31", res)
	}
}

func TestSubscribe(t *testing.T) {
	tr := openTrail(t, Config{Log: newMemLog(), Key: testKey(t)})
	all := tr.Subscribe(Filter{}, 10)
	onlyK1 := tr.Subscribe(Filter{KeyID: "k1"}, 10)
	slow := tr.Subscribe(Filter{}, 2)
	for i := range 5 {
		record(t, tr, exchange(fmt.Sprintf("k%d", i%2), "a", ResultOK, ""))
	}
	var got []uint64
	for range 5 {
		got = append(got, (<-all.C).Seq)
	}
	if fmt.Sprint(got) != "[1 2 3 4 5]" {
		t.Errorf("all got %v", got)
	}
	if a, b := <-onlyK1.C, <-onlyK1.C; a.Seq != 2 || b.Seq != 4 {
		t.Errorf("filtered got %d, %d; want 2, 4", a.Seq, b.Seq)
	}
	n := 0
	for range slow.C {
		n++
	}
	if n != 2 || !slow.Dropped() {
		t.Errorf("slow subscriber read %d then dropped=%v; want 2 and true", n, slow.Dropped())
	}
	all.Cancel()
	if _, ok := <-all.C; ok {
		t.Error("channel open after Cancel")
	}
	if all.Dropped() {
		t.Error("a cancelled subscription reports dropped")
	}
	tr.Close()
	if _, ok := <-onlyK1.C; ok {
		t.Error("channel open after Close")
	}
}

func TestHooksSeeEventsInOrder(t *testing.T) {
	tr := openTrail(t, Config{Log: newMemLog(), Key: testKey(t)})
	var got []uint64
	tr.AddHook(func(e Event) { got = append(got, e.Seq) })
	for range 4 {
		record(t, tr, exchange("k", "a", ResultOK, ""))
	}
	tr.Close()
	if fmt.Sprint(got) != "[1 2 3 4]" {
		t.Errorf("hook saw %v", got)
	}
}
