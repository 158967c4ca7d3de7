package server

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/audit"
	"github.com/latchkeyhq/latchkey/audit/alert"
	"github.com/latchkeyhq/latchkey/policy"
	badgerstore "github.com/latchkeyhq/latchkey/store/badger"
)

// At start the detector learns from the newest exchanges, not the oldest:
// with more history than it reads, the keys used last are the ones it
// knows.
func TestWarmReadsTheNewestHistory(t *testing.T) {
	ctx := context.Background()
	start := time.Now().Add(-time.Hour)
	clock := start
	tr := memTrail(t, func() time.Time { return clock })
	const used, read = 60, 30
	for i := range used {
		// A key event between exchanges: the limit counts every event,
		// only exchanges teach the detector.
		if _, err := tr.Record(ctx, audit.Event{Kind: audit.KindKeyCreate, Actor: "admin", KeyID: fmt.Sprintf("k%02d", i), Result: audit.ResultOK}); err != nil {
			t.Fatal(err)
		}
		e := audit.Event{Kind: audit.KindExchange, Actor: "spiffe://t/a", KeyID: fmt.Sprintf("k%02d", i), Result: audit.ResultOK}
		if _, err := tr.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
		clock = clock.Add(time.Second)
	}
	det, err := alert.NewDetector(detectorConfig(policy.DefaultAlertRules()))
	if err != nil {
		t.Fatal(err)
	}
	a := &alerter{detector: det, trail: tr}
	if err := a.warm(ctx, start.Add(-time.Minute), 2*read); err != nil {
		t.Fatal(err)
	}
	if got := det.Tracked(); got != read {
		t.Errorf("the detector learned %d keys, want the %d used last", got, read)
	}
	// A key it learned alerts on a new identity; one it never saw starts
	// its history quietly.
	fresh := func(id string) audit.Event {
		return audit.Event{Kind: audit.KindExchange, Time: clock, Actor: "spiffe://t/other", KeyID: id, Result: audit.ResultOK}
	}
	if got := det.Observe(fresh(fmt.Sprintf("k%02d", used-1))); len(got) != 1 || got[0].Kind != alert.NewIdentity {
		t.Errorf("the newest key from a new identity: %+v, want a new-identity alert", got)
	}
	if got := det.Observe(fresh("k00")); len(got) != 0 {
		t.Errorf("the oldest key, outside what was read: %+v, want no alert", got)
	}

	// Since still applies within the newest events.
	det2, _ := alert.NewDetector(detectorConfig(policy.DefaultAlertRules()))
	a2 := &alerter{detector: det2, trail: tr}
	if err := a2.warm(ctx, start.Add(time.Duration(used-10)*time.Second), 2*read); err != nil {
		t.Fatal(err)
	}
	if got := det2.Tracked(); got != 10 {
		t.Errorf("with since 10 s before the end: %d keys, want 10", got)
	}
}

// An alert recorded before a restart keeps its cooldown: the warmed
// detector does not raise it again for the same key at once.
func TestWarmRestartsAlertCooldowns(t *testing.T) {
	ctx := context.Background()
	clock := time.Now().Add(-time.Hour)
	tr := memTrail(t, func() time.Time { return clock })
	record := func(e audit.Event) {
		t.Helper()
		if _, err := tr.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
		clock = clock.Add(time.Second)
	}
	record(audit.Event{Kind: audit.KindExchange, Actor: "spiffe://t/a", KeyID: "k1", Result: audit.ResultOK})
	record(audit.Event{Kind: audit.KindAlert, Actor: audit.ActorAlerts, KeyID: "k1", Alert: string(alert.NewIdentity),
		Result: audit.ResultOK, Detail: map[string]string{"identity": "spiffe://t/b"}})
	warmed := func() *alert.Detector {
		det, err := alert.NewDetector(detectorConfig(policy.DefaultAlertRules()))
		if err != nil {
			t.Fatal(err)
		}
		a := &alerter{detector: det, trail: tr}
		if err := a.warm(ctx, clock.Add(-24*time.Hour), warmEvents); err != nil {
			t.Fatal(err)
		}
		return det
	}
	cooldown := policy.DefaultAlertRules().Cooldown
	use := func(det *alert.Detector, after time.Duration) []alert.Alert {
		return det.Observe(audit.Event{Kind: audit.KindExchange, Time: clock.Add(after), Actor: "spiffe://t/c", KeyID: "k1", Result: audit.ResultOK})
	}
	if got := use(warmed(), time.Second); len(got) != 0 {
		t.Errorf("a new identity within the cooldown of the recorded alert: %+v, want none", got)
	}
	if got := use(warmed(), cooldown+time.Second); len(got) != 1 || got[0].Kind != alert.NewIdentity {
		t.Errorf("a new identity after the cooldown: %+v, want one alert", got)
	}
}

// memTrail opens an audit trail on an in-memory store, stamped by now.
func memTrail(t *testing.T, now func() time.Time) *audit.Trail {
	t.Helper()
	key := make([]byte, badgerstore.EncryptionKeySize)
	_, _ = rand.Read(key)
	st, err := badgerstore.Open(badgerstore.Options{InMemory: true, EncryptionKey: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	chain := make([]byte, audit.MACKeyLen)
	_, _ = rand.Read(chain)
	tr, err := audit.Open(context.Background(), audit.Config{Log: st, Key: chain, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}
