package alert

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/audit"
)

func TestIgnoresOtherKinds(t *testing.T) {
	for _, k := range audit.Kinds {
		if k == audit.KindExchange {
			continue
		}
		t.Run(string(k), func(t *testing.T) {
			d := mustDetector(t, Config{})
			events := []audit.Event{
				exchange(0, kind(k), flags(audit.FlagLeaked)),
				exchange(time.Second, kind(k), actor(idB), peer("192.0.2.1:1")),
			}
			events = append(events, every(30, 2*time.Second, time.Second, kind(k), actor(idX), invalid(audit.ReasonUnknownKey))...)
			for _, e := range events {
				if got := d.Observe(e); got != nil {
					t.Fatalf("Observe(%s) = %v, want nil", k, kinds(got))
				}
				d.Warm(e)
			}
			if n := d.Tracked(); n != 0 {
				t.Fatalf("Tracked() = %d, want 0", n)
			}
		})
	}
}

func TestOnlyProvenKeysAreTracked(t *testing.T) {
	cases := []struct {
		name string
		e    audit.Event
		want int
	}{
		{"granted", exchange(0), 1},
		{"unknown key tracks only the caller", exchange(0, denied(audit.ReasonUnknownKey)), 1},
		{"malformed key tracks only the caller", exchange(0, denied(audit.ReasonMalformedKey)), 1},
		{"bad secret names a real key", exchange(0, denied(audit.ReasonBadSecret)), 2},
		{"invalid request", exchange(0, denied(audit.ReasonInvalidRequest)), 0},
		{"rate limited", exchange(0, denied(audit.ReasonRateLimited)), 0},
		{"internal error", exchange(0, func(e *audit.Event) { e.Result, e.Reason = audit.ResultError, audit.ReasonInternal }), 0},
		{"scope denied", exchange(0, denied(audit.ReasonScopeDenied)), 1},
		{"flagged", exchange(0, denied(audit.ReasonInvalidRequest), flags(audit.FlagLeaked)), 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := mustDetector(t, Config{})
			d.Observe(tc.e)
			if got := d.Tracked(); got != tc.want {
				t.Fatalf("Tracked() = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestWarm(t *testing.T) {
	cases := []struct {
		name  string
		warm  []audit.Event
		steps []step
	}{
		{
			name: "warmed identity and network are known",
			warm: []audit.Event{exchange(0)},
			steps: then(quiet(exchange(time.Hour)),
				step{exchange(time.Hour+time.Second, actor(idB)), []Alert{{Kind: NewIdentity, KeyID: "k1", Identity: idB}}}),
		},
		{
			name: "warming never alerts nor starts a cooldown",
			warm: []audit.Event{exchange(0), exchange(time.Second, actor(idB)), exchange(2*time.Second, flags(audit.FlagLeaked))},
			steps: []step{
				{exchange(time.Minute, actor(idC)), []Alert{{Kind: NewIdentity, KeyID: "k1", Identity: idC}}},
				{exchange(2*time.Minute, flags(audit.FlagLeaked)), []Alert{{Kind: FlaggedKeyUse, KeyID: "k1", Identity: idA}}},
			},
		},
		{
			name: "warming keeps the rate baseline",
			warm: perMinute(10, 0, 10),
			steps: concat(quiet(every(100, 10*time.Minute, 100*time.Millisecond)...),
				[]step{{exchange(10*time.Minute + 10*time.Second), []Alert{{Kind: RateSpike, KeyID: "k1", Identity: idA,
					Detail: map[string]string{"count": "101", "baseline_per_min": "10.00"}}}}}),
		},
		{
			name: "warming fills the invalid-key window",
			warm: every(19, 0, time.Second, actor(idX), invalid(audit.ReasonUnknownKey)),
			steps: []step{{exchange(19*time.Second, actor(idX), invalid(audit.ReasonUnknownKey)),
				[]Alert{{Kind: InvalidKeyBurst, Identity: idX}}}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := mustDetector(t, Config{})
			for _, e := range tc.warm {
				d.Warm(e)
			}
			runSteps(t, d, tc.steps)
		})
	}
}

func TestTrackedIsBounded(t *testing.T) {
	const maxTracked = 1000
	d := mustDetector(t, Config{MaxTracked: maxTracked})
	d.Observe(exchange(0))
	for i := range 1_000_000 {
		e := exchange(time.Duration(i)*time.Millisecond, actor("spiffe://example.org/flood/"+strconv.Itoa(i)),
			invalid(audit.ReasonUnknownKey))
		d.Observe(e)
		if i%100_000 == 0 {
			if n := d.Tracked(); n > maxTracked {
				t.Fatalf("after %d identities Tracked() = %d > %d", i+1, n, maxTracked)
			}
		}
	}
	if n := d.Tracked(); n != maxTracked {
		t.Fatalf("Tracked() = %d, want %d", n, maxTracked)
	}
	// The flood must not have cost k1 what it learned.
	got := d.Observe(exchange(time.Hour, actor(idB)))
	if len(got) != 1 || got[0].Kind != NewIdentity {
		t.Fatalf("after the flood: %v, want [new_identity]", kinds(got))
	}
}

func TestLeastRecentKeyForgotten(t *testing.T) {
	d := mustDetector(t, Config{MaxTracked: 4})
	for i := range 5 {
		d.Observe(exchange(time.Duration(i)*time.Second, key(fmt.Sprintf("k%d", i))))
	}
	if n := d.Tracked(); n != 4 {
		t.Fatalf("Tracked() = %d, want 4", n)
	}
	cases := []struct {
		key  string
		want int
	}{
		{"k0", 0}, // forgotten, so idB is its first identity
		{"k4", 1},
	}
	for _, tc := range cases {
		t.Run(tc.key, func(t *testing.T) {
			got := d.Observe(exchange(time.Minute, key(tc.key), actor(idB)))
			if len(got) != tc.want {
				t.Fatalf("got %v, want %d alerts", kinds(got), tc.want)
			}
		})
	}
}

func TestObserveConcurrent(t *testing.T) {
	d := mustDetector(t, Config{})
	const workers = 8
	var wg sync.WaitGroup
	counts := make([]int, workers)
	for w := range workers {
		wg.Go(func() {
			k := key(fmt.Sprintf("k%d", w))
			for i := range 200 {
				id := idA
				if i >= 100 {
					id = idB
				}
				counts[w] += len(d.Observe(exchange(time.Duration(i)*time.Second, k, actor(id))))
			}
		})
	}
	wg.Wait()
	for w, n := range counts {
		if n != 1 {
			t.Errorf("worker %d saw %d alerts, want 1", w, n)
		}
	}
}

func BenchmarkObserve(b *testing.B) {
	d := mustDetector(b, Config{})
	e := exchange(0)
	d.Observe(e)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		// One exchange a second: a steady key that never alerts.
		e.Time = t0.Add(time.Duration(i) * time.Second)
		if got := d.Observe(e); got != nil {
			b.Fatalf("unexpected alerts %v", kinds(got))
		}
	}
}
